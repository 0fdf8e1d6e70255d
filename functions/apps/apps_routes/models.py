"""Request models of the Apps API and the request bodies its OpenAPI document describes.

Bodies are parsed by the routes themselves (a direct invoke may be multipart), under the management API's
rule: an unknown field or a value that does not fit is 422 with per-field details (``extra_forbidden`` for an
unknown field); a ``session_id`` that is not a UUID is 400 ``invalid_session_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel

from switchboard.api.envelopes import ErrorEnvelope, RequestModel, Timestamp, documented
from switchboard.api.views.runs import AcceptedOut, RunOut
from switchboard.runtime.links import MAX_TTL_SECONDS, MIN_TTL_SECONDS
from switchboard.runtime.runs import (
    MAX_FILES,
    MAX_UPLOAD_BYTES,
    OPENAPI_EVENT_STREAM,
    RUN_TOKEN_HEADER,
    FileReference,
)
from switchboard.runtime.triggers import MAX_WEBHOOK_BODY_BYTES
from switchboard.runtime.webhooks import MAX_CALLBACKS, Callback


class CreateRunIn(RequestModel):
    input: dict[str, Any] = Field(description="Values for the input node's fields")
    user_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="The end user the run acts for: their links satisfy the App's requirements",
    )
    session_id: str | None = Field(
        default=None,
        max_length=64,
        description="A UUID: runs with the same session_id form a conversation owned by its first user",
        json_schema_extra={"format": "uuid"},
    )
    background: bool = Field(default=False, description="Answer 202 at once; poll, stream or cancel it")
    stream: bool = Field(default=False, description="Answer with text/event-stream of the run's events")


class InvokeIn(RequestModel):
    input: dict[str, Any] = Field(description="Values for the input node's fields")
    user_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="The end user the run acts for: their links satisfy the App's requirements",
    )
    stream: bool = Field(default=False, description="Answer with text/event-stream of the run's events")
    last_node_output: bool = Field(
        default=False, description="output is the output node's value instead of the per-node map"
    )
    error_on_node_failure: bool = Field(
        default=False, description="Any failed node turns the answer into 502 node_failed"
    )
    files: list[FileReference] = Field(
        default_factory=list,
        max_length=MAX_FILES,
        description="Files this App already stored, for the input node's `files` field",
    )
    execution_mode: Literal["sync", "async"] = Field(
        default="sync", description="async: answer 202 at once and run in the background"
    )
    callbacks: list[Callback] | None = Field(
        default=None,
        max_length=MAX_CALLBACKS,
        description="async only: https URLs told the result when the run ends (signed, retried)",
    )


RUN_TOKEN_FIELD = Field(
    default=None,
    description="Only for a run created without an access key (a public App), and only in this first answer: "
    "the run's token, also sent as the X-Run-Token response header. Send it as the X-Run-Token header to "
    "read, stream, answer or cancel the run; it is never shown again",
)


RUN_TOKEN_RESPONSE_HEADER = {
    "description": "Only when the run was created without an access key (a public App), and only in this "
    "first answer: the run's token (a JSON answer also has it as data.run_token; a streamed one only here)",
    "required": False,
    "schema": {"type": "string", "pattern": "^sb_rt_[A-Za-z0-9_-]{43}$"},
}


class CreatedRunOut(RunOut):
    run_token: str | None = RUN_TOKEN_FIELD


class AcceptedRunOut(AcceptedOut):
    run_token: str | None = RUN_TOKEN_FIELD


def _multipart_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "description": (
            f"At most {MAX_UPLOAD_BYTES} bytes. A part `input` holds the input as JSON (or each text part "
            "not named like an option is an input field); option parts are named like the JSON fields; "
            "each file part goes to the input field of its name (file or array), else to `files`."
        ),
        "properties": {
            "input": {"type": "string", "description": "The input as JSON"},
            "user_id": {"type": "string", "description": "The end user the run acts for"},
            "execution_mode": {"type": "string", "enum": ["sync", "async"]},
            "last_node_output": {"type": "boolean"},
            "error_on_node_failure": {"type": "boolean"},
            "callbacks": {"type": "string", "description": "The callbacks as JSON"},
        },
        "additionalProperties": {"type": "string", "format": "binary"},
    }


def create_responses(sync_model: Any, accepted_model: Any, *, node_failure: bool = False) -> dict[str, Any]:
    """Route arguments documenting a run-creating route: 200 (JSON or a stream), 202, and the errors."""
    documented_route = documented(200, sync_model, writes=True)
    responses = documented_route["responses"]
    responses[200]["description"] = (
        "The finished run (a synchronous request whose run ended within the App's sync_wait_seconds); "
        "with stream: " + OPENAPI_EVENT_STREAM["description"]
    )
    responses[200]["content"] |= OPENAPI_EVENT_STREAM["content"]
    responses[202] = {
        "description": "Accepted: a background run, queued; or a synchronous run still going after the App's "
        "sync_wait_seconds (the run as it is, its status not terminal). Location points at it: poll, stream, "
        "answer or cancel it there",
        "content": {"application/json": {"model": accepted_model}},
    }
    for status in (200, 202):
        responses[status]["headers"] = {RUN_TOKEN_HEADER: RUN_TOKEN_RESPONSE_HEADER}
    if node_failure:
        responses[502] = {
            "description": "error_on_node_failure and a node failed (details name the failed nodes)",
            "content": {"application/json": {"model": ErrorEnvelope}},
        }
    return documented_route


class RunInputIn(RequestModel):
    type: Literal["approval", "feedback"] = Field(description="The open request's type")
    data: dict[str, Any] = Field(
        description="request_id (the open request's id), then approval: approved (boolean) and params "
        "(edited values of editable_params, optional); feedback: feedback (text)",
        json_schema_extra={"example": {"request_id": "review", "approved": True, "params": {"amount": 90}}},
    )


class ConnectTokenIn(RequestModel):
    user_id: str = Field(min_length=1, max_length=256, description="The end user the token acts for")
    return_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Where the hosted page sends the user back after linking; must be on the App's "
        "connect_return_urls",
    )
    ttl_seconds: int | None = Field(
        default=None,
        ge=MIN_TTL_SECONDS,
        le=MAX_TTL_SECONDS,
        description="The token's lifetime (default one hour)",
    )
    allow_identity_change: bool = Field(
        default=False,
        description="Let the token's holder reconnect an OAuth link as another account at the provider "
        "(otherwise refused identity_mismatch)",
    )


class OAuth2AuthorizeIn(RequestModel):
    requirement_id: str = Field(min_length=1, max_length=64, description="An oauth2 requirement of the App")
    return_url: str | None = Field(
        default=None,
        max_length=2048,
        description="Where the callback page sends the user after linking (default: the token's); must be "
        "on the App's connect_return_urls",
    )
    allow_identity_change: bool = Field(
        default=False,
        description="Accept another upstream account than the linked one: only with a connect token minted "
        "with allow_identity_change (403 identity_change_not_allowed otherwise)",
    )


class LinkCredentialsIn(RequestModel):
    type: str = Field(
        min_length=1, max_length=64, description="The connection type: the requirement's connection_type"
    )
    config: dict[str, Any] = Field(
        description="The connection's configuration, secret fields included (stored write-only)"
    )
    expires_at: Timestamp | None = Field(
        default=None,
        description="When the link stops being usable (ISO 8601 with a time zone, future); the "
        "requirement's max_age_seconds caps it",
    )


class TriggerEventIn(RootModel[Any]):
    """An event for a webhook trigger: any body of at most ``MAX_WEBHOOK_BODY_BYTES`` (recorded as JSON when
    it is JSON, else as text), signed byte for byte."""

    model_config = ConfigDict(
        json_schema_extra={
            "description": f"Any body of at most {MAX_WEBHOOK_BODY_BYTES} bytes, signed byte for byte; "
            "JSON is recorded as JSON, anything else as text",
            "example": {"type": "invoice.paid", "data": {"invoice_id": "inv_1042", "amount": 4200}},
        }
    )


class ConnectFormIn(BaseModel):
    """One form of the hosted connect page, as a browser submits it."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "description": "The page's three fields, then the config fields of the requirement's connection "
            "type, by name (Name: value lines for a map, JSON text for a JSON field)",
            "additionalProperties": {"type": "string"},
        },
    )

    token: str = Field(description="The connect token (the page's hidden field)")
    csrf: str = Field(description="The form's CSRF value (the page's hidden field)")
    requirement_id: str = Field(description="The requirement this form links")


@dataclass(frozen=True)
class RequestBody:
    model: type[BaseModel]
    multipart: dict[str, Any] | None = None
    media_type: str = "application/json"


REQUEST_BODIES: dict[tuple[str, str], RequestBody] = {
    ("post", "/"): RequestBody(model=InvokeIn, multipart=_multipart_schema()),
    ("post", "/v1/runs"): RequestBody(model=CreateRunIn),
    ("post", "/v1/runs/{run_id}/input"): RequestBody(model=RunInputIn),
    ("post", "/v1/triggers/{trigger_id}/events"): RequestBody(model=TriggerEventIn),
    ("post", "/connect"): RequestBody(model=ConnectFormIn, media_type="application/x-www-form-urlencoded"),
    ("post", "/v1/connect/tokens"): RequestBody(model=ConnectTokenIn),
    ("post", "/v1/connect/requirements/{requirement_id}/credentials"): RequestBody(model=LinkCredentialsIn),
    ("post", "/v1/connect/oauth2/authorize"): RequestBody(model=OAuth2AuthorizeIn),
}
"""The body of each route that reads one itself, for the OpenAPI document."""
