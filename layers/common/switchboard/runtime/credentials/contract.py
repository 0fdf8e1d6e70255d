"""The payloads between the credentials function and its only caller, the executor role (the executor and the
dispatcher): three kinds of request, told apart by ``kind`` (a request without one is a run request, as before
the field existed).

run:      {"kind"?: "run", "run_id", "app_id", "user_id"?, "connection_ids": [...], "requirement_ids": [...]}
answer:   {"credentials": {"connection:<id>" | "requirement:<id>": {"type", "config", "secret_fields"}},
           "resolutions": [{"reference", "kind", "id", "secret_version", "status", "cached", "last_used_at"}]}
signing:  {"kind": "signing_secret", "app_id"}  (the App's webhook signing secret, to sign a delivery)
answer:   {"app_id", "signing_secret": "whsec_…", "secret_version", "cached"}
exchange: {"kind": "oauth2_exchange", "state_id"}  (an end user's OAuth 2.0 code, sealed in its state item)
answer:   {"state_id", "outcome": "active" | <error code>, "link_id"?, "upstream"?}  (nothing secret)
revoke:   {"kind": "oauth2_revoke", "link_id"}  (a revoked OAuth link's tokens, sealed in its revocation item)
answer:   {"link_id", "outcome": "revoked" | "provider_error" | "unreachable" | "destination_not_allowed"
           | "not_configured" | "not_pending"}
refresh:  {"kind": "oauth2_refresh", "run_id", "app_id", "user_id"?, "requirement_id" | "connection_id",
           "token_version"}  (a node's request through the user's OAuth link, or through a project oauth2
          connection the run's workflow binds, was answered 401 with the token of that version)
answer:   the run answer, for that one reference: its access token refreshed past that version
unauthorized: {"kind": "oauth2_unauthorized", "run_id", "app_id", "connection_id", "token_version", "node_id",
           "status_code"}  (a node was refused with the project connection's token its run had just refreshed)
answer:   {"connection_id", "marked"}  (false: the connection's tokens changed meanwhile, or were marked)
refusal:  {"error": {"code", "message", "details"}}
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    TypeAdapter,
    model_validator,
)

from switchboard.engine.definition import MAX_NODES, MAX_REQUIREMENTS
from switchboard.engine.nodes import CONNECTION_ID_PATTERN, Identifier

ErrorCode = Literal["requirement_not_satisfied", "invalid_request", "not_found", "forbidden"]
ConnectionId = Annotated[str, StringConstraints(pattern=CONNECTION_ID_PATTERN)]
AppId = Annotated[str, StringConstraints(pattern=r"^app-[a-z0-9]{1,64}$")]


class CredentialsRequest(BaseModel):
    """What the executor sends. User ids are the App caller's own identifiers, hence loosely bounded."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    kind: Literal["run"] = "run"
    run_id: str = Field(pattern=r"^run-[a-z0-9]{1,64}$")
    app_id: AppId
    user_id: str | None = Field(default=None, min_length=1, max_length=256)
    connection_ids: list[ConnectionId] = Field(max_length=MAX_NODES)
    requirement_ids: list[Identifier] = Field(max_length=MAX_REQUIREMENTS)


class SigningSecretRequest(BaseModel):
    """What the executor sends to sign a webhook delivery of the App."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    kind: Literal["signing_secret"]
    app_id: AppId


class OAuth2ExchangeRequest(BaseModel):
    """What the dispatcher sends for a callback the Apps function queued: exchange the state's code."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    kind: Literal["oauth2_exchange"]
    state_id: str = Field(pattern=r"^ost-[a-z2-7]{20}$")


class OAuth2RevokeRequest(BaseModel):
    """What the dispatcher sends for a revoked OAuth link: revoke its tokens at the provider."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    kind: Literal["oauth2_revoke"]
    link_id: str = Field(pattern=r"^lnk-[a-z2-7]{20}$")


class OAuth2RefreshRequest(BaseModel):
    """What the executor sends when an upstream answered 401 to the access token of ``token_version``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    kind: Literal["oauth2_refresh"]
    run_id: str = Field(pattern=r"^run-[a-z0-9]{1,64}$")
    app_id: AppId
    user_id: str | None = Field(default=None, min_length=1, max_length=256)
    requirement_id: Identifier | None = Field(default=None, description="The user's link of this requirement")
    connection_id: ConnectionId | None = Field(default=None, description="Or this project oauth2 connection")
    token_version: int = Field(ge=0)

    @model_validator(mode="after")
    def _one_reference(self) -> OAuth2RefreshRequest:
        if (self.requirement_id is None) == (self.connection_id is None):
            raise ValueError("name exactly one of requirement_id and connection_id")
        if self.requirement_id is not None and self.user_id is None:
            raise ValueError("a link's refresh names the run's user_id")
        return self


class OAuth2UnauthorizedRequest(BaseModel):
    """What the executor sends when a node's request was refused with the access token of ``token_version``
    of a project ``oauth2`` connection, the token the run had just refreshed: mark the connection
    ``unauthorized``."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    kind: Literal["oauth2_unauthorized"]
    run_id: str = Field(pattern=r"^run-[a-z0-9]{1,64}$")
    app_id: AppId
    connection_id: ConnectionId
    token_version: int = Field(ge=0)
    node_id: Identifier
    status_code: int = Field(ge=400, le=499)


def _request_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        kind = value.get("kind", "run")
        return kind if isinstance(kind, str) else None
    return getattr(value, "kind", None)


AnyRequest = Annotated[
    Annotated[CredentialsRequest, Tag("run")]
    | Annotated[SigningSecretRequest, Tag("signing_secret")]
    | Annotated[OAuth2ExchangeRequest, Tag("oauth2_exchange")]
    | Annotated[OAuth2RevokeRequest, Tag("oauth2_revoke")]
    | Annotated[OAuth2RefreshRequest, Tag("oauth2_refresh")]
    | Annotated[OAuth2UnauthorizedRequest, Tag("oauth2_unauthorized")],
    Discriminator(_request_kind),
]
AnyRequestModel = (
    CredentialsRequest
    | SigningSecretRequest
    | OAuth2ExchangeRequest
    | OAuth2RevokeRequest
    | OAuth2RefreshRequest
    | OAuth2UnauthorizedRequest
)
REQUEST_ADAPTER: TypeAdapter[AnyRequestModel] = TypeAdapter(AnyRequest)
"""Validates either kind of request; a validation error's ``loc`` starts with the kind's tag."""


_TOLERANT = ConfigDict(extra="ignore")
"""Answers are read tolerantly (requests strictly): during a deployment a newer credentials function may
answer with fields an older executor does not know yet, and the run must not fail for that."""


class SigningSecretDocument(BaseModel):
    model_config = _TOLERANT

    app_id: str
    signing_secret: str = Field(repr=False)
    secret_version: str | None
    cached: bool


class OAuth2ExchangeDocument(BaseModel):
    """The exchange's outcome: only non-secret facts cross back."""

    model_config = _TOLERANT

    state_id: str
    outcome: str = Field(description="active, or an error code")
    link_id: str | None = None
    upstream: dict[str, Any] | None = None


class OAuth2RevokeDocument(BaseModel):
    """The revocation's outcome at the provider (nothing secret)."""

    model_config = _TOLERANT

    link_id: str
    outcome: str = Field(
        description="revoked, provider_error, unreachable, destination_not_allowed, not_configured or "
        "not_pending"
    )


class OAuth2UnauthorizedDocument(BaseModel):
    """Whether the connection was marked ``unauthorized``."""

    model_config = _TOLERANT

    connection_id: str
    marked: bool = Field(
        description="False: the connection's tokens changed meanwhile, or were marked already"
    )


class CredentialError(BaseModel):
    """Why a credential cannot be used (an OAuth link without a usable access token): the node fails so."""

    model_config = _TOLERANT

    code: str
    message: str


class CredentialDocument(BaseModel):
    model_config = _TOLERANT

    type: str
    config: dict[str, Any]
    secret_fields: list[str] = Field(description="Fields of config that came from the secret")
    error: CredentialError | None = Field(default=None, exclude_if=lambda error: error is None)


class Resolution(BaseModel):
    """How one reference was resolved (goes into the run's trace, but ``last_used_at``; holds no secret)."""

    model_config = _TOLERANT

    reference: str
    kind: Literal["connection", "link"]
    id: str
    secret_version: str | None
    status: Literal["active", "expired"] = Field(
        default="active", description="expired: this resolution found the OAuth link's grant gone"
    )
    cached: bool
    refreshed: bool = Field(
        default=False,
        description="An OAuth access token was refreshed for it",
        exclude_if=lambda refreshed: not refreshed,
    )
    last_used_at: datetime | None = Field(
        default=None,
        description="A link's last recorded use, as read (None: never, or a connection), so the executor "
        "writes it only when it is due",
    )


class CredentialsDocument(BaseModel):
    model_config = _TOLERANT

    credentials: dict[str, CredentialDocument]
    resolutions: list[Resolution]


class ErrorBody(BaseModel):
    model_config = _TOLERANT

    code: ErrorCode
    message: str
    details: Any = None


class ErrorDocument(BaseModel):
    model_config = _TOLERANT

    error: ErrorBody
