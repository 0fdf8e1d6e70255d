"""Checks that run before routing and validation: body size and content type, then the bearer token, then
what a JSON body may hold (``json_limits``: UTF-8, nesting depth, numbers).

They run first so that an unauthenticated request is answered 401 whatever its body, an oversized one 413
before anything parses it, and no parser ever recurses into a body nested deeper than ``MAX_JSON_DEPTH``.
The principal is handed to routes through the resolver context.

Paths are judged as routed, after the resolver's ``strip_prefixes`` (so ``/apps/{app_id}/v1/…`` and
``/v1/…`` alike). Two kinds of path differ from the resolver's own token kind:

- connect paths (``connect_paths``, prefixes) take only a connect token, checked by
  ``connect_tokens.grant_for`` against the addressed App; the grant goes into the context (``CurrentGrant``).
  A PAT or an access key there is 403 ``wrong_token_type``, as a connect token is anywhere else.
- page paths (``page_paths``) are HTML pages that carry their token in the query or the form: no
  ``Authorization`` processing at all, and a ``POST`` may send ``application/x-www-form-urlencoded`` (nowhere
  else: 415 stays).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Annotated, Any

from aws_lambda_powertools.event_handler.depends import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.request import Request
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard import json_limits
from switchboard.api.routers import OnDemandResolver
from switchboard.auth.authenticate import authenticate, bearer_token
from switchboard.auth.principal import Principal
from switchboard.domain.errors import (
    BadRequest,
    PayloadTooLarge,
    SwitchboardError,
    UnsupportedMediaType,
    error_document,
    retry_headers,
)
from switchboard.domain.models import TokenKind
from switchboard.runtime.identity.app_access import addressed_app_id
from switchboard.runtime.links.connect_tokens import ConnectGrant, grant_for
from switchboard.settings import get_settings
from switchboard.store.table import MAX_CURSOR_CHARS

_BODY_METHODS = {"POST", "PUT", "PATCH"}
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
Event = Mapping[str, Any]


def body_size(event: Event) -> int:
    body = event.get("body") or ""
    if not event.get("isBase64Encoded"):
        return len(body.encode())
    try:
        return len(base64.b64decode(body))
    except (binascii.Error, ValueError):
        return len(body)


def check_body(event: Event, accepted: str = JSON, media_types: frozenset[str] = frozenset({JSON})) -> None:
    """413 for a body over the limit; 415 unless a body is of ``media_types`` (``accepted`` names what the API
    takes)."""
    limit = get_settings().max_body_bytes
    if body_size(event) > limit:
        raise PayloadTooLarge(f"the body exceeds {limit} bytes")
    if _has_body(event):
        content_type = _content_type(event)
        if content_type not in media_types:
            raise UnsupportedMediaType(f"send the body as {accepted}")


def check_json_body(event: Event) -> None:
    """400 for a JSON body that is not UTF-8, or that ``json_limits`` refuses (nested too deep, a number that
    cannot be stored, NaN), before anything parses it."""
    if not (_has_body(event) and _content_type(event) == JSON):
        return
    try:
        json_limits.check_text(_json_text(event))
    except json_limits.UnsafeJson as unsafe:
        raise BadRequest(unsafe.message, code=unsafe.code) from None


def _has_body(event: Event) -> bool:
    return _method(event) in _BODY_METHODS and bool((event.get("body") or "").strip())


def _content_type(event: Event) -> str:
    headers = event.get("headers") or {}
    return str(headers.get("content-type", "")).split(";")[0].strip().lower()


def _method(event: Event) -> str:
    return str(event.get("requestContext", {}).get("http", {}).get("method", "")).upper()


def _json_text(event: Event) -> str:
    """A JSON body's text; one that arrived base64-encoded (API Gateway does so for bytes that are not UTF-8
    text) must decode as UTF-8."""
    body = str(event.get("body"))
    if not event.get("isBase64Encoded"):
        return body
    try:
        return base64.b64decode(body, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise BadRequest("the request body is not valid UTF-8 JSON", code="malformed_json") from None


def error_result(error: SwitchboardError) -> dict[str, Any]:
    """An API Gateway result carrying the error envelope (used before the resolver runs)."""
    return {
        "statusCode": error.status,
        "headers": {"Content-Type": "application/json", "Cache-Control": "no-store", **retry_headers(error)},
        "body": json.dumps(error_document(error), default=str),
        "isBase64Encoded": False,
    }


class GuardedResolver(OnDemandResolver):
    """An HTTP API resolver with validation on, that checks body and token before routing (and first includes
    the routers the request's path needs: ``routers``)."""

    def __init__(
        self,
        *,
        token_kind: TokenKind,
        public_paths: frozenset[str] = frozenset(),
        token_optional: bool = False,
        accepted_bodies: str = JSON,
        connect_paths: tuple[str, ...] = (),
        page_paths: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> None:
        super().__init__(enable_validation=True, **kwargs)
        self._token_kind = token_kind
        self._public_paths = public_paths
        self._token_optional = token_optional
        self._accepted_bodies = accepted_bodies
        self._connect_paths = connect_paths
        self._page_paths = page_paths

    def resolve(self, event: Mapping[str, Any], context: LambdaContext) -> dict[str, Any]:
        self.load_routers_for(event)
        path = self._remove_prefix(str(event.get("rawPath") or "/"))
        try:
            if path in self._page_paths:
                check_body(event, FORM, frozenset({FORM}))
            else:
                check_body(event, self._accepted_bodies)
                self._authenticate(event, path)
                check_json_body(event)
        except SwitchboardError as error:
            return error_result(error)
        return super().resolve(event, context)

    def _authenticate(self, event: Event, path: str) -> None:
        headers = event.get("headers") or {}
        authorization = headers.get("authorization")
        if any(path == prefix or path.startswith(f"{prefix}/") for prefix in self._connect_paths):
            app_id = addressed_app_id(event.get("pathParameters"), headers.get("host"))
            self.append_context(connect_grant=grant_for(bearer_token(authorization), app_id))
        elif authorization or not (self._token_optional or path in self._public_paths):
            self.append_context(principal=authenticate(authorization, self._token_kind))


def _principal(request: Request) -> Principal:
    principal = request.context.get("principal")
    assert isinstance(principal, Principal), "the route needs an authenticated principal"
    return principal


def _optional_principal(request: Request) -> Principal | None:
    principal = request.context.get("principal")
    return principal if isinstance(principal, Principal) else None


def _connect_grant(request: Request) -> ConnectGrant:
    grant = request.context.get("connect_grant")
    assert isinstance(grant, ConnectGrant), "the route needs a connect token (a connect path of the guard)"
    return grant


CurrentPrincipal = Annotated[Principal, Depends(_principal)]
CurrentGrant = Annotated[ConnectGrant, Depends(_connect_grant)]
OptionalPrincipal = Annotated[Principal | None, Depends(_optional_principal)]
Limit = Annotated[int, Query(ge=1, le=100, description="Page size")]
NextToken = Annotated[
    str | None,
    Query(
        description=f"Cursor from the previous page (400 invalid_cursor for any other, or one longer than "
        f"{MAX_CURSOR_CHARS} characters)",
        json_schema_extra={"maxLength": MAX_CURSOR_CHARS},
    ),
]
