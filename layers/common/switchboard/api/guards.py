"""Checks that run before routing and validation: body size and content type, then the bearer token.

They run first so that an unauthenticated request is answered 401 whatever its body, and an oversized one
413 before anything parses it. The principal is handed to routes through the resolver context.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard.auth.authenticate import authenticate
from switchboard.auth.principal import Principal
from switchboard.domain.errors import BadRequest, PayloadTooLarge, SwitchboardError, UnsupportedMediaType
from switchboard.domain.models import TokenKind
from switchboard.settings import get_settings

_BODY_METHODS = {"POST", "PUT", "PATCH"}
Event = Mapping[str, Any]


def body_size(event: Event) -> int:
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return len(body.encode())
    try:
        return len(base64.b64decode(body))
    except (binascii.Error, ValueError):
        return len(body)


def check_body(event: Event, accepted: str = "application/json") -> None:
    """413 for a body over the limit; 415 unless a body is JSON (``accepted`` names what the API takes)."""
    limit = get_settings().max_body_bytes
    if body_size(event) > limit:
        raise PayloadTooLarge(f"the body exceeds {limit} bytes")
    method = str(event.get("requestContext", {}).get("http", {}).get("method", "")).upper()
    if method in _BODY_METHODS and (event.get("body") or "").strip():
        headers = event.get("headers") or {}
        content_type = str(headers.get("content-type", "")).split(";")[0].strip().lower()
        if content_type != "application/json":
            raise UnsupportedMediaType(f"send the body as {accepted}")
        if event.get("isBase64Encoded"):
            _require_utf8(str(event.get("body")))


def _require_utf8(encoded: str) -> None:
    """A JSON body that arrived base64-encoded (API Gateway does so for bytes that are not UTF-8 text)."""
    try:
        base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise BadRequest("the request body is not valid UTF-8 JSON", code="malformed_json") from None


def error_result(error: SwitchboardError) -> dict[str, Any]:
    """An API Gateway result carrying the error envelope (used before the resolver runs)."""
    return {
        "statusCode": error.status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"},
        "body": json.dumps(
            {"error": {"code": error.error_code, "message": error.message, "details": error.details}}
        ),
        "isBase64Encoded": False,
    }


class GuardedResolver(APIGatewayHttpResolver):
    """An HTTP API resolver with validation on, that checks body and token before routing."""

    def __init__(
        self,
        *,
        token_kind: TokenKind,
        public_paths: frozenset[str] = frozenset(),
        token_optional: bool = False,
        accepted_bodies: str = "application/json",
        **kwargs: Any,
    ) -> None:
        super().__init__(enable_validation=True, **kwargs)
        self._token_kind = token_kind
        self._public_paths = public_paths
        self._token_optional = token_optional
        self._accepted_bodies = accepted_bodies

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        try:
            check_body(event, self._accepted_bodies)
            authorization = (event.get("headers") or {}).get("authorization")
            if authorization or not (self._token_optional or event.get("rawPath") in self._public_paths):
                self.append_context(principal=authenticate(authorization, self._token_kind))
        except SwitchboardError as error:
            return error_result(error)
        return super().resolve(event, context)


def _principal(request: Request) -> Principal:
    principal = request.context.get("principal")
    assert isinstance(principal, Principal), "the route needs an authenticated principal"
    return principal


def _optional_principal(request: Request) -> Principal | None:
    principal = request.context.get("principal")
    return principal if isinstance(principal, Principal) else None


CurrentPrincipal = Annotated[Principal, Depends(_principal)]
OptionalPrincipal = Annotated[Principal | None, Depends(_optional_principal)]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size")]
NextToken = Annotated[str | None, Query(max_length=4096, description="Cursor from the previous page")]
