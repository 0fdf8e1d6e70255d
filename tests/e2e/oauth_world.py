"""A local stack and the real authorization server (oidc-provider on 127.0.0.1) wired to each other: the
provider's clients register the stack's one callback route, so the stack's port is chosen before either
starts; and an App whose ``crm`` requirement is an account at that provider, built over HTTP as a builder
would (an ``oauth2_app`` connection, the workflow deployed, an access key)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests.conftest import SECRET_MARKER
from tests.e2e.app_world import ManagementApi
from tests.e2e.conftest import LocalStackProcess
from tests.support.http import Reply, request
from tests.support.oauth_provider import OAuthProvider, start_oauth_provider
from tests.support.workflows import echo_workflow

CLIENT = "client_secret_post"
"""The provider's client the App uses (its token endpoint auth method)."""


@pytest.fixture(scope="module")
def stack_and_provider(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LocalStackProcess, OAuthProvider]]:
    """The module's local stack and its provider (a module imports this fixture, naming it in ``__all__``)."""
    stack = LocalStackProcess(tmp_path_factory.mktemp("oauth-stack"))
    with start_oauth_provider(redirect_uris=(f"{stack.base_url}/v1/oauth2/callback",)) as provider:
        stack.start()
        try:
            yield stack, provider
        finally:
            if stack.process is not None:
                assert stack.interrupt() == 0, stack.stderr()
            # The secret guard for the stack's own log lines (they go to files, out of pytest's capture): no
            # client secret, code or token the provider issued (all carry the marker) reached them
            assert SECRET_MARKER not in stack.stdout() + stack.stderr(), (
                "a secret value reached the stack's log"
            )


@dataclass
class OAuthApp:
    stack: LocalStackProcess
    app_id: str
    key: str = field(repr=False)

    def call(self, method: str, path: str, *, token: str | None = None, json_body: Any = None) -> Reply:
        """The App's Apps API, with its access key unless ``token`` is given."""
        url = f"{self.stack.base_url}/apps/{self.app_id}{path}"
        return request(method, url, token=token or self.key, json_body=json_body)

    def connect_token(self, user_id: str) -> dict[str, Any]:
        reply = self.call("POST", "/v1/connect/tokens", json_body={"user_id": user_id})
        assert reply.status == 201, reply.text
        issued: dict[str, Any] = reply.body["data"]
        return issued

    def authorization_url(self, connect_token: str) -> str:
        """Where the connect API sends the end user to authorize the ``crm`` requirement."""
        started = self.call(
            "POST", "/v1/connect/oauth2/authorize", token=connect_token, json_body={"requirement_id": "crm"}
        )
        assert started.status == 200, started.text
        return str(started.body["data"]["authorization_url"])

    def requirement(self, user_id: str) -> dict[str, Any]:
        reply = self.call("GET", f"/v1/requirements/status?user_id={user_id}")
        assert reply.status == 200, reply.text
        entry: dict[str, Any] = reply.body["data"]["requirements"][0]
        return entry


def deploy_oauth_app(stack: LocalStackProcess, provider: OAuthProvider, name: str) -> OAuthApp:
    api = ManagementApi(stack)
    project_id = api.builder.project(name)
    config = provider.app_config(CLIENT)
    body = {"project_id": project_id, "name": "provider", "type": "oauth2_app", "config": config}
    created = api("POST", "/v1/connections", body, expect=201)
    definition = echo_workflow(requirement=True)
    definition["requirements"][0].update(
        connection_type="oauth2",
        title="Connect your CRM account",
        oauth2={"app_connection_id": created["id"], "url": "https://crm.example.test"},
    )
    app = api.builder.deployed_app(project_id, name, definition)
    return OAuthApp(stack, app.id, api.access_key(stack.org_id).token)
