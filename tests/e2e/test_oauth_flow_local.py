"""The end user's OAuth 2.0 flow on the local stack, over HTTP: the Apps API's authorization URL, the real
authorization server's login and consent (oidc-provider on 127.0.0.1), the stack's one callback route, and the
code exchange behind the boundary (the run queue to the dispatcher's worker, which invokes the credentials
function's)."""

from __future__ import annotations

import time
import urllib.parse

import httpx

from tests.e2e.app_world import ManagementApi
from tests.e2e.conftest import LocalStackProcess
from tests.e2e.oauth_world import CLIENT, deploy_oauth_app, stack_and_provider
from tests.support.http import request
from tests.support.oauth_provider import OAuthProvider, sign_in

__all__ = ["stack_and_provider"]  # the fixture, from its shared home


def test_an_end_user_links_an_oauth_account_on_the_local_stack(
    stack_and_provider: tuple[LocalStackProcess, OAuthProvider],
) -> None:
    # Given an App on the local stack whose crm requirement is an account at the provider
    stack, provider = stack_and_provider
    app = deploy_oauth_app(stack, provider, "oauth-local")
    token = app.connect_token("user-42")["token"]
    # When the end user starts the authorization, signs in as alice, and the provider returns them
    authorization_url = app.authorization_url(token)
    callback = f"{stack.base_url}/v1/oauth2/callback"
    with httpx.Client(timeout=15) as browser:
        returned = sign_in(browser, authorization_url, "alice", callback)
        page = browser.get(returned)
    # Then the stack's callback shows the account linked, and the requirement is active as alice
    assert urllib.parse.urlsplit(returned).path == "/v1/oauth2/callback"
    assert page.status_code == 200, page.text[-500:]
    assert "Linked as alice@example.test" in page.text
    entry = app.requirement("user-42")
    assert (entry["status"], entry["upstream"]["sub"]) == ("active", "alice")
    # And the client authenticated with its configured method, and no secret reached the stack's output
    assert provider.stats()["auth_methods"].get(f"sb-post {CLIENT}", 0) >= 1
    assert provider.clients[CLIENT].client_secret not in stack.stdout() + stack.stderr()
    # And the callback without a state is an error page
    assert request("GET", callback, token=None).status == 400


def test_an_end_user_unlinking_revokes_the_tokens_at_the_provider_on_the_local_stack(
    stack_and_provider: tuple[LocalStackProcess, OAuthProvider],
) -> None:
    # Given an end user linked as bob on the local stack
    stack, provider = stack_and_provider
    app = deploy_oauth_app(stack, provider, "oauth-revoke")
    token = app.connect_token("user-7")["token"]
    authorization_url = app.authorization_url(token)
    with httpx.Client(timeout=15) as browser:
        returned = sign_in(browser, authorization_url, "bob", f"{stack.base_url}/v1/oauth2/callback")
        assert browser.get(returned).status_code == 200
    before = provider.stats()
    # When the user unlinks through the connect API
    unlinked = app.call("DELETE", "/v1/connect/requirements/crm", token=token)
    # Then the link is revoked at once, and the stack's dispatcher has the credentials function revoke the
    # refresh and access tokens at the provider, authenticated with the app's method (client_secret_post)
    assert unlinked.status == 204, unlinked.text
    assert app.requirement("user-7")["status"] == "revoked"
    api = ManagementApi(stack)
    (link,) = api("GET", f"/v1/apps/{app.app_id}/links?user_id=user-7", expect=200)
    deadline = time.monotonic() + 15
    history = api("GET", f"/v1/apps/{app.app_id}/links/{link['id']}/transitions", expect=200)
    while history[-1]["to_status"] == "revoked" and history[-1]["from_status"] == "active":
        assert time.monotonic() < deadline, history
        time.sleep(0.2)
        history = api("GET", f"/v1/apps/{app.app_id}/links/{link['id']}/transitions", expect=200)
    after = provider.stats()
    assert after["revocation"] == before["revocation"] + 2
    method = f"sb-post {CLIENT}"
    assert after["auth_methods"][method] == before["auth_methods"].get(method, 0) + 2
    # And the link's history, as builders read it, records the outcome
    assert history[-1]["reason"] == "tokens revoked at the provider: revoked"
    assert provider.clients[CLIENT].client_secret not in stack.stdout() + stack.stderr()
