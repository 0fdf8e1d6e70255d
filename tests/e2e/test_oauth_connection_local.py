"""A builder authorizes a project ``oauth2`` connection on the local stack, over HTTP: the management API's
authorization URL, the real authorization server's login and consent (oidc-provider on 127.0.0.1), the stack's
one callback route, the exchange behind the boundary, and a run whose http node sends the connection's bearer
token to a loopback upstream."""

from __future__ import annotations

import httpx

from tests.e2e.app_world import ManagementApi
from tests.e2e.conftest import LocalStackProcess
from tests.e2e.oauth_world import deploy_oauth_app, stack_and_provider
from tests.support.fakes import HttpTarget
from tests.support.fakes import Reply as Answer
from tests.support.http import request
from tests.support.oauth_provider import OAuthProvider, sign_in
from tests.support.workflows import echo_workflow

__all__ = ["stack_and_provider"]  # the fixture, from its shared home


def test_a_builder_authorizes_a_project_connection_on_the_local_stack(
    stack_and_provider: tuple[LocalStackProcess, OAuthProvider],
) -> None:
    # Given a project with the provider's OAuth app, an oauth2 connection through it to a loopback upstream,
    # and an App whose workflow calls the upstream through that connection
    stack, provider = stack_and_provider
    api = ManagementApi(stack)
    project_id = api("GET", f"/v1/apps/{deploy_oauth_app(stack, provider, 'shared').app_id}", expect=200)[
        "project_id"
    ]
    listed = api("GET", f"/v1/connections?project_id={project_id}", expect=200)
    (oauth_app,) = [c["id"] for c in listed if c["type"] == "oauth2_app"]
    with HttpTarget() as upstream:
        upstream.respond("/echo", Answer(body={"ok": True}))
        config = {"app_connection_id": oauth_app, "url": upstream.url}
        body = {"project_id": project_id, "name": "shared", "type": "oauth2", "config": config}
        connection_id = api("POST", "/v1/connections", body, expect=201)["id"]
        app = api.builder.deployed_app(project_id, "Shared account", echo_workflow(connection_id))
        key = api.access_key(stack.org_id).token
        # When the builder asks for the authorization URL, signs in as alice, and the provider returns them
        started = api("POST", f"/v1/connections/{connection_id}/oauth2/authorize", expect=200)
        callback = f"{stack.base_url}/v1/oauth2/callback"
        with httpx.Client(timeout=15) as browser:
            page = browser.get(sign_in(browser, started["authorization_url"], "alice", callback))
        # And a run of the App calls the upstream
        run = request(
            "POST", f"{stack.base_url}/apps/{app.id}/", token=key, json_body={"input": {"question": "hi"}}
        )
        (sent,) = upstream.requests_to("/echo")
    # Then the stack's callback shows the account connected, and the connection is authorized as alice
    assert page.status_code == 200, page.text[-500:]
    assert "Linked as alice@example.test" in page.text
    shown = api("GET", f"/v1/connections/{connection_id}", expect=200)
    assert (shown["authorized"], shown["upstream"]["sub"]) == (True, "alice")
    # And the run completed, its node having sent a bearer token, which no output of the stack shows
    assert (run.status, run.body["data"]["status"]) == (200, "completed"), run.text
    scheme, _, token = sent.headers["authorization"].partition(" ")
    assert scheme == "Bearer"
    assert len(token) > 20
    assert token not in stack.stdout() + stack.stderr() + run.text
