"""A deployed App whose workflow declares a requirement, on the local stack, built over HTTP like a builder
would, and the calls its builder's backend makes for its end users: requirement status, connect tokens,
runs.

The workflow: ``start`` (``question``) → ``personal``, an http node bound to the ``crm`` requirement (each
end user's own ``http_api_key`` connection), POSTing to ``/personal`` → with a shared connection, also
``shared``, an http node bound to that concrete connection, POSTing to ``/shared`` → ``finish``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tests.e2e.app_world import ManagementApi
from tests.e2e.conftest import LocalStackProcess
from tests.support.http import Reply, request
from tests.support.workflows import requirement_workflow


@dataclass
class RequirementApp:
    stack: LocalStackProcess
    app_id: str
    name: str
    key: str = field(repr=False)
    replies: list[Reply] = field(default_factory=list, repr=False)
    """Every answer of the Apps API so far, for a test to check that none holds a secret value."""

    def url(self, path: str) -> str:
        return f"{self.stack.base_url}/apps/{self.app_id}{path}"

    def call(self, method: str, path: str, *, token: str | None = None, json_body: Any = None) -> Reply:
        """The Apps API, with the App's access key unless ``token`` is given."""
        reply = request(method, self.url(path), token=token or self.key, json_body=json_body)
        self.replies.append(reply)
        return reply

    def status(self, user_id: str) -> dict[str, Any]:
        reply = self.call("GET", f"/v1/requirements/status?user_id={user_id}")
        assert reply.status == 200, reply.text
        found: dict[str, Any] = reply.body["data"]
        return found

    def connect_token(self, user_id: str) -> dict[str, Any]:
        """``{token, url, expires_at}`` for the user, as the builder's backend asks for it."""
        reply = self.call("POST", "/v1/connect/tokens", json_body={"user_id": user_id})
        assert reply.status == 201, reply.text
        issued: dict[str, Any] = reply.body["data"]
        return issued

    def run(self, user_id: str, question: str) -> Reply:
        return self.call("POST", "/v1/runs", json_body={"input": {"question": question}, "user_id": user_id})


def build_requirement_app(
    stack: LocalStackProcess, *, name: str, shared: tuple[str, str] | None = None
) -> RequirementApp:
    """A project with the workflow deployed as an App and an org-wide access key; ``shared`` is the
    ``(url, api_key)`` of a concrete ``http_api_key`` connection for the ``shared`` node."""
    api = ManagementApi(stack)
    project_id = api.builder.project(name)
    connection_id = None
    if shared is not None:
        url, api_key = shared
        connection_id = api.builder.connection(project_id, "shared", url, api_key)
    app = api.builder.deployed_app(project_id, name, requirement_workflow(connection_id))
    key = api.access_key(stack.org_id)
    return RequirementApp(stack=stack, app_id=app.id, name=name, key=key.token)
