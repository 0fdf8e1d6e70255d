"""The end user's OAuth 2.0 flow on the local stack, over HTTP: the Apps API's authorization URL, the real
authorization server's login and consent (oidc-provider on 127.0.0.1), the stack's one callback route, and the
code exchange behind the boundary (the run queue to the dispatcher's worker, which invokes the credentials
function's). The provider registers the stack's callback, so its port is chosen before either starts."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.app_world import ManagementApi
from tests.e2e.conftest import LocalStackProcess
from tests.support.http import request
from tests.support.oauth_provider import OAuthProvider, sign_in, start_oauth_provider
from tests.support.workflows import echo_workflow


@pytest.fixture(scope="module")
def stack_and_provider(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalStackProcess, OAuthProvider]]:
    stack = LocalStackProcess(tmp_path_factory.mktemp("oauth-stack"))
    with start_oauth_provider(redirect_uris=(f"{stack.base_url}/v1/oauth2/callback",)) as provider:
        stack.start()
        try:
            yield stack, provider
        finally:
            if stack.process is not None:
                assert stack.interrupt() == 0, stack.stderr()


def _oauth_app(api: ManagementApi, project_id: str, provider: OAuthProvider) -> str:
    client = provider.clients["client_secret_post"]
    discovery = provider.discovery()
    config = {
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "authorize_url": discovery["authorization_endpoint"],
        "token_url": discovery["token_endpoint"],
        "userinfo_url": discovery["userinfo_endpoint"],
        "scopes": ["openid", "email", "profile", "offline_access"],
        "authorize_params": {"prompt": "consent"},
        "token_endpoint_auth_method": "client_secret_post",
    }
    body = {"project_id": project_id, "name": "provider", "type": "oauth2_app", "config": config}
    created: dict[str, Any] = api("POST", "/v1/connections", body, expect=201)
    return str(created["id"])


def test_an_end_user_links_an_oauth_account_on_the_local_stack(
    stack_and_provider: tuple[LocalStackProcess, OAuthProvider],
) -> None:
    # Given an App on the local stack whose crm requirement is an account at the provider
    stack, provider = stack_and_provider
    api = ManagementApi(stack)
    project_id = api.builder.project("oauth-local")
    definition = echo_workflow(requirement=True)
    definition["requirements"][0].update(
        connection_type="oauth2",
        oauth2={
            "app_connection_id": _oauth_app(api, project_id, provider),
            "url": "https://crm.example.test",
        },
    )
    app = api.builder.deployed_app(project_id, "oauth-local", definition)
    key = api.access_key(stack.org_id).token
    base = f"{stack.base_url}/apps/{app.id}"
    issued = request("POST", f"{base}/v1/connect/tokens", token=key, json_body={"user_id": "user-42"})
    assert issued.status == 201, issued.text
    # When the end user starts the authorization, signs in as alice, and the provider returns them
    started = request(
        "POST",
        f"{base}/v1/connect/oauth2/authorize",
        token=issued.body["data"]["token"],
        json_body={"requirement_id": "crm"},
    )
    assert started.status == 200, started.text
    callback = f"{stack.base_url}/v1/oauth2/callback"
    with httpx.Client(timeout=15) as browser:
        returned = sign_in(browser, started.body["data"]["authorization_url"], "alice", callback)
        page = browser.get(returned)
    # Then the stack's callback shows the account linked, and the requirement is active as alice
    assert urllib.parse.urlsplit(returned).path == "/v1/oauth2/callback"
    assert page.status_code == 200, page.text[-500:]
    assert "Linked as alice@example.test" in page.text
    status = request("GET", f"{base}/v1/requirements/status?user_id=user-42", token=key)
    assert status.status == 200, status.text
    entry = status.body["data"]["requirements"][0]
    assert (entry["status"], entry["upstream"]["sub"]) == ("active", "alice")
    # And the client authenticated with its configured method, and no secret reached the stack's output
    assert provider.stats()["auth_methods"].get("sb-post client_secret_post", 0) >= 1
    assert provider.clients["client_secret_post"].client_secret not in stack.stdout() + stack.stderr()
