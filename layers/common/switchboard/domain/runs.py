"""The runtime plane's records: runs, their events, end-user links and their transitions, connect tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import Field, model_validator

from switchboard.domain.base import Record


class RunStatus(StrEnum):
    created = "created"
    started = "started"
    awaiting_input = "awaiting_input"
    completed = "completed"
    failed = "failed"
    canceled = "canceled"


TERMINAL = frozenset({RunStatus.completed, RunStatus.failed, RunStatus.canceled})
ACTIVE = frozenset({RunStatus.created, RunStatus.started, RunStatus.awaiting_input})
RUNNING = frozenset({RunStatus.started, RunStatus.awaiting_input})
"""A run its executor has claimed and not ended."""


class RunSource(StrEnum):
    """How a run came to be: a direct invoke of the App, ``POST /v1/runs``, a schedule or a webhook."""

    direct = "direct"
    runs_api = "runs_api"
    schedule = "schedule"
    webhook = "webhook"


class Run(Record):
    """A run is a record first (``created``), then executed; the executor is the only writer of its result."""

    id: str
    app_id: str
    org_id: str
    project_id: str
    workflow_id: str
    version: int
    requirement_ids: list[str] = Field(default_factory=list, description="Declared by the run's version")
    status: RunStatus = RunStatus.created
    mode: Literal["sync", "background"] = "sync"
    source: RunSource = RunSource.direct
    input: dict[str, Any] = Field(default_factory=dict)
    user_id: str | None = None
    session_id: str | None = None
    output: Any = None
    nodes: dict[str, Any] | None = Field(default=None, description="Per-node {status, output, error}")
    error: dict[str, Any] | None = None
    usage: dict[str, int] = Field(default_factory=dict)
    created_at: datetime
    created_by: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    cancel_requested_at: datetime | None = None
    callbacks: list[dict[str, Any]] | None = Field(
        default=None, description="Async runs only: where the result is delivered when the run ends"
    )
    timeout_seconds: int = Field(
        default=3600, description="The App's run_timeout_seconds when the run was created: its whole budget"
    )
    deadline_at: datetime | None = Field(default=None, description="When it started, plus timeout_seconds")
    execution_arn: str | None = Field(default=None, description="The durable execution running it")
    input_requests: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Human input requests by id (the human_input node's id)"
    )
    run_token_hash: str | None = Field(
        default=None,
        description="An anonymous run of a public App: the SHA-256 of its run token (shown once, never kept)",
    )
    expires_at: int = Field(description="Epoch seconds; DynamoDB TTL")


class RunEvent(Record):
    id: str
    run_id: str
    type: str
    sequence: int
    timestamp: datetime
    data: dict[str, Any] = Field(default_factory=dict)


SYSTEM_ACTOR = "switchboard"
"""Who made a change nobody asked for (a link found expired, an upstream's 401)."""


class LinkStatus(StrEnum):
    active = "active"
    expired = "expired"
    unauthorized = "unauthorized"
    revoked = "revoked"


class Link(Record):
    """An end user's connection for one requirement of one App. Its secret fields are sealed in its item
    (``switchboard.store.link_secrets``); a link made before that, until linked again, in Secrets Manager."""

    id: str
    app_id: str
    org_id: str
    project_id: str
    user_id: str
    requirement_id: str
    connection_type: str
    status: LinkStatus
    status_reason: str | None = None
    status_changed_at: datetime
    config: dict[str, Any] = Field(default_factory=dict, description="Non-secret fields only")
    secret_fields: list[str] = Field(default_factory=list)
    sealed_secret: str | None = Field(
        default=None, description="The secret fields sealed under the link secrets key (store.link_secrets)"
    )
    secret_name: str | None = Field(
        default=None, description="Only a link made before sealed secrets: its Secrets Manager secret"
    )
    secret_version: str | None = None
    linked_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    upstream: UpstreamIdentity | None = Field(
        default=None, description="An OAuth link's account at the provider (non-secret)"
    )
    revision: int = 1
    token_version: int = Field(
        default=0, description="An OAuth link's tokens: bumped by each refresh stored (store.link_tokens)"
    )
    refresh_lease: str | None = Field(default=None, description="Who is refreshing the tokens, if anyone")
    refreshing_until: datetime | None = Field(default=None, description="When that refresher's lease ends")


class UpstreamIdentity(Record):
    """Who the end user is at the OAuth provider (non-secret), as it answered when the link was made."""

    sub: str = Field(min_length=1, max_length=512)
    email: str | None = Field(default=None, max_length=512)
    login: str | None = Field(default=None, max_length=512)
    name: str | None = Field(default=None, max_length=512)


class OAuth2StateStatus(StrEnum):
    pending = "pending"
    """Made by the start of the flow; the provider has not returned yet."""
    exchanging = "exchanging"
    """The callback came back (used: it cannot come back again); the exchange is on its way."""
    done = "done"
    """The exchange answered: ``outcome`` says how."""


class OAuth2Target(StrEnum):
    """What an authorization is for."""

    link = "link"
    """An end user's link for an App's requirement (the connect flow, with a connect token)."""
    connection = "connection"
    """A project ``oauth2`` connection: a builder authorizes a shared account (the management API)."""


class OAuth2State(Record):
    """One authorization's single-use state (links table, ``ttl``): what the callback binds the provider's
    answer to. The PKCE verifier and the code are sealed (``store.oauth_states``), never stored in clear.

    A link's state names the App, user, requirement and connect token (its ``state`` parameter is signed
    with the token's key); a connection's names the connection and the builder (its ``state`` parameter
    carries a random part whose SHA-256 only is kept: there is no connect token to sign with)."""

    id: str
    target: OAuth2Target = OAuth2Target.link
    app_id: str | None = None
    user_id: str | None = None
    requirement_id: str | None = None
    connect_token_id: str | None = None
    connect_token_hash: str | None = None
    connection_id: str | None = Field(default=None, description="A connection's: the oauth2 connection")
    started_by: str | None = Field(default=None, description="A connection's: the builder who started it")
    state_secret_hash: str | None = Field(
        default=None, repr=False, description="A connection's: SHA-256 of the state parameter's random part"
    )
    app_connection_id: str
    link_config: dict[str, Any] = Field(
        default_factory=dict, description="A link's: the requirement's oauth2 config, the link's config"
    )
    redirect_uri: str
    return_url: str | None = None
    allow_identity_change: bool = False
    status: OAuth2StateStatus = OAuth2StateStatus.pending
    sealed_verifier: str = Field(repr=False)
    sealed_code: str | None = Field(default=None, repr=False)
    nonce: str | None = Field(
        default=None, description="The OpenID nonce the ID token must carry (sent when openid is asked for)"
    )
    token_requested_at: datetime | None = Field(
        default=None, description="When the exchange called the token endpoint: the code is sent once"
    )
    outcome: str | None = Field(default=None, description="active, or an error code (non-secret)")
    upstream: UpstreamIdentity | None = None
    created_at: datetime
    expires_at: datetime
    ttl: int = Field(description="Epoch seconds; DynamoDB TTL")

    @model_validator(mode="after")
    def _names_its_target(self) -> OAuth2State:
        named = (
            (self.app_id, self.user_id, self.requirement_id, self.connect_token_id)
            if self.target is OAuth2Target.link
            else (self.connection_id, self.started_by, self.state_secret_hash)
        )
        if not all(named):
            raise ValueError(f"an authorization of a {self.target.value} names it")
        return self


class OAuth2Revocation(Record):
    """An OAuth link's revocation at its provider, waiting for the credentials function (links table,
    ``ttl``): written with the link's change to ``revoked``, it holds the tokens still sealed for that link's
    record (``store.link_secrets``), which only the credentials function opens, and then its outcome."""

    id: str = Field(description="The revoked link's id")
    app_id: str
    user_id: str
    requirement_id: str
    app_connection_id: str
    sealed_secret: str | None = Field(default=None, repr=False)
    outcome: str | None = Field(
        default=None,
        description="revoked, provider_error, unreachable, destination_not_allowed, not_configured",
    )
    created_at: datetime
    ttl: int = Field(description="Epoch seconds; DynamoDB TTL")


class LinkTransition(Record):
    """One change of a link's status, recorded in the same write as the change (creation: no from_status)."""

    link_id: str
    app_id: str
    user_id: str
    requirement_id: str
    from_status: LinkStatus | None = None
    to_status: LinkStatus
    reason: str | None = None
    at: datetime
    by: str = Field(description="Who made the change: a connect token, a builder, or switchboard")


class ConnectToken(Record):
    """A connect token's record: only the hash of the token is stored."""

    id: str
    token_hash: str
    app_id: str
    user_id: str
    return_url: str | None = None
    csrf_secret: str = Field(repr=False, description="Keys the hosted page's CSRF tokens")
    allow_identity_change: bool = Field(
        default=False, description="Its holder may reconnect a link as another upstream account"
    )
    created_at: datetime
    created_by: str = Field(description="The access key that asked for it")
    expires_at: datetime
    ttl: int = Field(description="Epoch seconds; DynamoDB TTL (a day after expires_at)")
