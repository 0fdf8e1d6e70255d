"""The payloads between the executor and the credentials function.

request:  {"run_id", "app_id", "user_id"?, "connection_ids": [...], "requirement_ids": [...]}
answer:   {"credentials": {"connection:<id>" | "requirement:<id>": {"type", "config", "secret_fields"}},
           "resolutions": [{"reference", "kind", "id", "secret_version", "status", "cached"}]}
refusal:  {"error": {"code", "message", "details"}}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from switchboard.engine.definition import MAX_NODES, MAX_REQUIREMENTS
from switchboard.engine.nodes import CONNECTION_ID_PATTERN, Identifier

ErrorCode = Literal["requirement_not_satisfied", "invalid_request", "not_found", "forbidden"]
ConnectionId = Annotated[str, StringConstraints(pattern=CONNECTION_ID_PATTERN)]


class CredentialsRequest(BaseModel):
    """What the executor sends. User ids are the App caller's own identifiers, hence loosely bounded."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    run_id: str = Field(pattern=r"^run-[a-z0-9]{1,64}$")
    app_id: str = Field(pattern=r"^app-[a-z0-9]{1,64}$")
    user_id: str | None = Field(default=None, min_length=1, max_length=256)
    connection_ids: list[ConnectionId] = Field(max_length=MAX_NODES)
    requirement_ids: list[Identifier] = Field(max_length=MAX_REQUIREMENTS)


class CredentialDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str
    config: dict[str, Any]
    secret_fields: list[str] = Field(description="Fields of config that came from the secret")


class Resolution(BaseModel):
    """How one reference was resolved (goes into the run's trace; holds no secret)."""

    model_config = ConfigDict(extra="forbid")

    reference: str
    kind: Literal["connection", "link"]
    id: str
    secret_version: str | None
    status: Literal["active"] = "active"
    cached: bool


class CredentialsDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credentials: dict[str, CredentialDocument]
    resolutions: list[Resolution]


class ErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: ErrorCode
    message: str
    details: Any = None


class ErrorDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    error: ErrorBody
