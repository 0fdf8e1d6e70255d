"""Request guards run before any route: body size and content type, then the bearer token."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.request import Request

from switchboard.api.errors import error_response
from switchboard.auth.authenticate import authenticate
from switchboard.auth.principal import Principal
from switchboard.domain.errors import SwitchboardError
from switchboard.domain.models import TokenKind
from switchboard.settings import get_settings

Middleware = Callable[[APIGatewayHttpResolver, NextMiddleware], Response]
_BODY_METHODS = {"POST", "PUT", "PATCH"}


def body_guard(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
    """413 for bodies over the limit; 415 for a body that is not JSON."""
    event = app.current_event
    body = event.body or ""
    if len(body) > get_settings().max_body_bytes:
        return error_response(413, "payload_too_large", f"the body exceeds {get_settings().max_body_bytes} bytes")
    if event.http_method.upper() in _BODY_METHODS and body.strip():
        content_type = (event.headers.get("content-type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            return error_response(415, "unsupported_media_type", "send the body as application/json")
    return next_middleware(app)


def token_guard(expected: TokenKind, public_paths: frozenset[str] = frozenset()) -> Middleware:
    """Authenticate every route except ``public_paths``; the principal goes into the resolver context."""

    def guard(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response:
        route = app.context.get("_route")
        if route is not None and route.path in public_paths:
            return next_middleware(app)
        try:
            principal = authenticate(app.current_event.headers.get("authorization"), expected)
        except SwitchboardError as error:
            return error_response(error.status, error.error_code, error.message)
        app.append_context(principal=principal)
        return next_middleware(app)

    return guard


def _principal(request: Request) -> Principal:
    principal = request.context.get("principal")
    assert isinstance(principal, Principal), "token_guard must run before routes that need a principal"
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_principal)]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size")]
NextToken = Annotated[str | None, Query(max_length=4096, description="Cursor from the previous page")]
