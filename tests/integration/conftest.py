from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from switchboard.runtime.identity.bootstrap import BootstrapResult, bootstrap_admin
from tests.support.stack import moto_stack
from tests.support.workflows import echo_workflow as definition
from tests.support.world import Builder, HandlerCall, Reply, handler_transport

__all__ = ["SECRET_KEY", "Call", "Reply", "World", "definition", "error_of", "mint_pat"]
"""``Reply`` and ``definition`` (the echo workflow) live in ``tests.support``; tests import them here too."""

Call = HandlerCall


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
    return handler_transport()


@pytest.fixture
def admin(stack: None) -> BootstrapResult:
    return bootstrap_admin("owner@example.com", "Acme")


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

    @property
    def builder(self) -> Builder:
        """The builder of this world's resources: the org admin's PAT through the management handler."""
        return Builder(self.call, self.admin.token, self.org_id)

    def token_for(self, email: str, org_role: str = "member", project_role: str | None = None) -> str:
        """A new user invited to the org (and added to the project): the first PAT their accepting gave."""
        _, token = self.builder.join(email, org_role)
        if project_role:
            joined = {"email": email, "role": project_role}
            self.builder.data("POST", f"/v1/projects/{self.project_id}/members", joined)
        return token


def mint_pat(user_id: str) -> str:
    from switchboard.auth.principal import Principal
    from switchboard.domain.models import TokenKind
    from switchboard.runtime.identity.profile import create_pat

    return create_pat(Principal(kind=TokenKind.pat, token_id="test", user_id=user_id), "test", None).token


SECRET_KEY = "sk-live-SECRET-value-0123456789"


@pytest.fixture
def world(management: Call, admin: BootstrapResult) -> World:
    builder = Builder(management, admin.token, admin.org_id)
    project_id = builder.project("Support")
    connection_id = builder.connection(project_id, "crm", "https://crm.example.test", SECRET_KEY)
    workflow_id = builder.workflow(project_id, "triage", definition(connection_id))
    app = builder.app(project_id, "Triage", workflow_id)
    return World(management, admin, admin.org_id, project_id, connection_id, workflow_id, app.id)
