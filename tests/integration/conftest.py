from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from switchboard.runtime.bootstrap import BootstrapResult, bootstrap_admin
from tests.support.stack import LambdaContextStub, http_event, load_function, moto_stack


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    raw: str


Call = Callable[..., Reply]


def error_of(reply: Reply, status: int, code: str) -> dict[str, Any]:
    """The error of ``reply``, asserted to be ``status`` with ``code`` in the envelope and nothing else."""
    assert (reply.status, reply.body["error"]["code"]) == (status, code), reply.body
    assert set(reply.body) == {"error"}
    return reply.body["error"]  # type: ignore[no-any-return]


@pytest.fixture
def stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with moto_stack(monkeypatch):
        yield


@pytest.fixture
def management(stack: None) -> Call:
    handler = load_function("management").lambda_handler

    def call(method: str, path: str, **kwargs: Any) -> Reply:
        result = handler(http_event(method, path, **kwargs), LambdaContextStub())
        raw = result.get("body") or ""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        return Reply(
            result["statusCode"], {k.lower(): v for k, v in (result.get("headers") or {}).items()}, body, raw
        )

    return call


@pytest.fixture
def admin(stack: None) -> BootstrapResult:
    return bootstrap_admin("owner@example.com", "Acme")


def definition(connection_id: str | None = None, requirement: bool = False) -> dict[str, Any]:
    """A small valid workflow: input → transform → (http) → output."""
    nodes: list[dict[str, Any]] = [
        {
            "id": "start",
            "type": "input",
            "fields": [{"name": "question", "type": "string", "required": True}],
        },
        {
            "id": "shout",
            "type": "transform",
            "depends": ["start"],
            "inputs": {"question": "$.input.question"},
            "config": {"template": "{{ question }}!"},
        },
    ]
    last = "shout"
    requirements: list[dict[str, Any]] = []
    if connection_id or requirement:
        connection = {"connection_id": connection_id} if connection_id else {"requirement": "crm"}
        nodes.append(
            {
                "id": "call",
                "type": "http",
                "depends": ["shout"],
                "connection": connection,
                "config": {"method": "POST", "path": "/echo", "body": {"text": "$.shout.output"}},
            }
        )
        last = "call"
    if requirement:
        requirements.append(
            {
                "id": "crm",
                "name": "CRM",
                "type": "connection",
                "connection_type": "http_api_key",
                "title": "Connect your CRM",
                "description": "Your own CRM API key",
            }
        )
    nodes.append(
        {"id": "finish", "type": "output", "depends": [last], "mappings": {"answer": f"$.{last}.output"}}
    )
    return {"requirements": requirements, "nodes": nodes}


@dataclass
class World:
    """An org with a project, a connection, a workflow and an App, built through the API."""

    call: Call
    admin: BootstrapResult
    org_id: str
    project_id: str
    connection_id: str
    workflow_id: str
    app_id: str

    def token_for(self, email: str, org_role: str = "member", project_role: str | None = None) -> str:
        """Add a user to the org (and project) and mint them a PAT (users get PATs out of band)."""
        added = self.call(
            "POST",
            f"/v1/orgs/{self.org_id}/members",
            token=self.admin.token,
            body={"email": email, "role": org_role},
        )
        assert added.status == 201, added.body
        if project_role:
            joined = self.call(
                "POST",
                f"/v1/projects/{self.project_id}/members",
                token=self.admin.token,
                body={"email": email, "role": project_role},
            )
            assert joined.status == 201, joined.body
        return mint_pat(added.body["data"]["user_id"])


def mint_pat(user_id: str) -> str:
    from switchboard.auth.principal import Principal
    from switchboard.domain.models import TokenKind
    from switchboard.runtime.identity import create_pat

    return create_pat(Principal(kind=TokenKind.pat, token_id="test", user_id=user_id), "test", None).token


SECRET_KEY = "sk-live-SECRET-value-0123456789"


@pytest.fixture
def world(management: Call, admin: BootstrapResult) -> World:
    token = admin.token
    project = management(
        "POST", "/v1/projects", token=token, body={"org_id": admin.org_id, "name": "Support"}
    )
    assert project.status == 201, project.body
    project_id = project.body["data"]["id"]
    connection = management(
        "POST",
        "/v1/connections",
        token=token,
        body={
            "project_id": project_id,
            "name": "crm",
            "type": "http_api_key",
            "config": {"url": "https://crm.example.test", "api_key": SECRET_KEY},
        },
    )
    assert connection.status == 201, connection.body
    connection_id = connection.body["data"]["id"]
    workflow = management(
        "POST",
        "/v1/workflows",
        token=token,
        body={"project_id": project_id, "name": "triage", "definition": definition(connection_id)},
    )
    assert workflow.status == 201, workflow.body
    workflow_id = workflow.body["data"]["id"]
    app = management(
        "POST",
        "/v1/apps",
        token=token,
        body={"project_id": project_id, "name": "Triage", "workflow_id": workflow_id},
    )
    assert app.status == 201, app.body
    return World(
        management, admin, admin.org_id, project_id, connection_id, workflow_id, app.body["data"]["id"]
    )
