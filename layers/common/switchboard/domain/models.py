"""Domain models of the management plane. Stored items add keys to ``model_dump(mode="json")``."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field

from switchboard.domain.base import Model, Record
from switchboard.domain.runs import UpstreamIdentity


class OrgRole(StrEnum):
    owner = "owner"
    admin = "admin"
    member = "member"


class ProjectRole(StrEnum):
    admin = "admin"
    editor = "editor"
    viewer = "viewer"


ORG_RANK = {OrgRole.member: 1, OrgRole.admin: 2, OrgRole.owner: 3}
PROJECT_RANK = {ProjectRole.viewer: 1, ProjectRole.editor: 2, ProjectRole.admin: 3}


class TokenKind(StrEnum):
    pat = "pat"
    access_key = "access_key"
    connect = "connect"
    invitation = "invitation"


class AppAccess(StrEnum):
    private = "private"
    public = "public"


class Entity(Record):
    """Fields every stored record carries: who changed it and when (the audit trail)."""

    created_at: datetime
    created_by: str
    updated_at: datetime
    updated_by: str


class User(Record):
    id: str
    email: str
    created_at: datetime


class Organization(Entity):
    id: str
    name: str
    version: int = 1


class OrgMembership(Entity):
    org_id: str
    user_id: str
    email: str
    role: OrgRole


class InvitationStatus(StrEnum):
    """Stored as pending, accepted or revoked; a pending invitation past its ``expires_at`` reads expired."""

    pending = "pending"
    accepted = "accepted"
    revoked = "revoked"
    expired = "expired"


class Invitation(Entity):
    """An invitation to join an organization: only its token's hash is kept."""

    id: str
    org_id: str
    email: str
    role: OrgRole
    token_hash: str
    preview: str
    status: InvitationStatus = InvitationStatus.pending
    expires_at: datetime
    accepted_at: datetime | None = None
    accepted_by: str | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    def status_at(self, now: datetime) -> InvitationStatus:
        if self.status is InvitationStatus.pending and self.expires_at <= now:
            return InvitationStatus.expired
        return self.status


class Project(Entity):
    id: str
    org_id: str
    name: str
    description: str = ""
    app_count: int = 0
    version: int = 1


class ProjectMembership(Entity):
    project_id: str
    org_id: str
    user_id: str
    email: str
    role: ProjectRole


class ApiToken(Record):
    """A personal access token or an access key. Only the hash of the secret is stored."""

    id: str
    kind: TokenKind
    name: str
    token_hash: str
    preview: str
    user_id: str | None = None
    org_id: str | None = None
    project_id: str | None = None
    created_at: datetime
    created_by: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    last_used_at: datetime | None = None


class ConnectionAuthorization(Record):
    """Who a project ``oauth2`` connection acts as at the provider, and the last decision about it. The tokens
    are in the connection's secret; ``token_version`` counts the tokens written there."""

    upstream: UpstreamIdentity | None = None
    authorized_at: datetime | None = Field(default=None, description="None: no tokens (never, or forgotten)")
    authorized_by: str | None = None
    token_version: int = 0
    last_event: str = Field(description="The last authorization's outcome, said in words")
    last_event_at: datetime


class Connection(Entity):
    id: str
    org_id: str
    project_id: str
    name: str
    type: str
    config: dict[str, Any] = Field(default_factory=dict, description="Non-secret fields only")
    secret_fields: list[str] = Field(default_factory=list)
    secret_name: str | None = None
    secret_version: str | None = None
    version: int = 1
    authorization: ConnectionAuthorization | None = Field(
        default=None, description="An oauth2 connection's: the account a builder authorized (non-secret)"
    )


class Workflow(Entity):
    id: str
    org_id: str
    project_id: str
    name: str
    description: str = ""
    latest_version: int = 0
    app_count: int = 0


class WorkflowVersion(Record):
    workflow_id: str
    number: int
    description: str = ""
    definition: dict[str, Any]
    connection_ids: list[str] = Field(default_factory=list)
    requirement_ids: list[str] = Field(default_factory=list)
    created_at: datetime
    created_by: str


class DeploymentRef(Record):
    id: str
    sequence: int
    version: int
    deployed_at: datetime
    deployed_by: str


DEFAULT_RUN_TIMEOUT_SECONDS = 3600
MAX_RUN_TIMEOUT_SECONDS = 86_400
DEFAULT_SYNC_WAIT_SECONDS = 25
MAX_SYNC_WAIT_SECONDS = 28
"""API Gateway gives up on an integration after 30 s: a synchronous answer must be on its way before."""


class RunLimits(Model):
    """How long an App's runs may take, and how long a synchronous request waits for one (None: unchanged)."""

    run_timeout_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_RUN_TIMEOUT_SECONDS,
        description=f"The whole time a run may take, across executor invocations and waits for input "
        f"(default {DEFAULT_RUN_TIMEOUT_SECONDS}); past it the run fails deadline_exceeded",
    )
    sync_wait_seconds: int | None = Field(
        default=None,
        ge=1,
        le=MAX_SYNC_WAIT_SECONDS,
        description=f"How long a synchronous request waits for its run (default {DEFAULT_SYNC_WAIT_SECONDS}, "
        f"at most {MAX_SYNC_WAIT_SECONDS}: under API Gateway's 30 s) before answering 202 with it",
    )


class App(Entity):
    id: str
    org_id: str
    project_id: str
    workflow_id: str
    name: str
    access: AppAccess
    deployment: DeploymentRef | None = None
    deployment_count: int = 0
    event_url: str | None = Field(default=None, description="Receives the App's link.* events, signed")
    connect_return_urls: list[str] = Field(
        default_factory=list, description="Where the hosted connect page may send the end user back"
    )
    run_timeout_seconds: int = Field(
        default=DEFAULT_RUN_TIMEOUT_SECONDS,
        ge=1,
        le=MAX_RUN_TIMEOUT_SECONDS,
        description="The whole time a run may take, across executor invocations and waits for input",
    )
    sync_wait_seconds: int = Field(
        default=DEFAULT_SYNC_WAIT_SECONDS,
        ge=1,
        le=MAX_SYNC_WAIT_SECONDS,
        description="How long a synchronous request waits for its run before answering 202 with it",
    )
    version: int = 1


class Deployment(Record):
    id: str
    app_id: str
    sequence: int
    workflow_id: str
    version: int
    kind: Literal["deploy", "rollback"]
    status: Literal["succeeded"] = "succeeded"
    deployed_at: datetime
    deployed_by: str
