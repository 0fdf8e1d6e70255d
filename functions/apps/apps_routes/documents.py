"""Each App documents itself: ``GET /openapi.json`` (the Apps API's document with the deployed version's input
fields) and ``GET /docs`` (a page over it). Readable by whoever may call the App: anyone for a public App, an
access key of the App for a private one (as ``GET /``); no other App's data and no secret is in either."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from switchboard.api.envelopes import ErrorEnvelope
from switchboard.api.guards import OptionalPrincipal
from switchboard.runtime.identity import addressed_app_id, callable_app
from switchboard.runtime.links import current_base_url
from switchboard.settings import get_settings

router = APIGatewayHttpRouter()
_TEXT = {"type": "string"}

_ERRORS: dict[int, Any] = {
    status: {"description": text, "content": {"application/json": {"model": ErrorEnvelope}}}
    for status, text in {
        401: "A private App called without an access key, or an unknown key",
        403: "An access key scoped to another project",
        404: "No such App, or one of another organization",
    }.items()
}


@router.get(
    "/openapi.json",
    tags=["app"],
    summary="The App's OpenAPI document: its base URL, and the deployed version's input fields as `input`",
    responses={
        200: {"description": "The document", "content": {"application/json": {"schema": {"type": "object"}}}},
        **_ERRORS,
    },
)
def get_app_openapi(principal: OptionalPrincipal) -> Response[Any]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=_document(principal))


@router.get(
    "/docs",
    tags=["app"],
    summary="A page listing the App's operations and input fields (HTML, no script)",
    responses={
        200: {"description": "The page", "content": {content_types.TEXT_HTML: {"schema": _TEXT}}},
        **_ERRORS,
    },
)
def get_app_docs(principal: OptionalPrincipal) -> Response[str]:
    from apps_routes.app_document import docs_page
    from switchboard.connect_page.headers import HTML_CONTENT_TYPE, new_nonce, security_headers

    nonce = new_nonce()
    return Response(
        status_code=200,
        content_type=HTML_CONTENT_TYPE,
        body=docs_page(_document(principal), nonce),
        headers=security_headers(nonce),
    )


def _document(principal: OptionalPrincipal) -> dict[str, Any]:
    from apps_routes.app_document import app_document  # built at the first request for it

    event = router.current_event
    host = event.headers.get("host")
    app = callable_app(addressed_app_id(event.path_parameters, host), principal)
    if (event.path_parameters or {}).get("app_id"):
        api_url = get_settings().apps_base_url or current_base_url()
        base_url = f"{api_url.rstrip('/')}/apps/{app.id}"
    else:
        base_url = f"{_scheme(event.headers.get('x-forwarded-proto'))}://{host}"
    resolver = router.api_resolver
    assert resolver is not None, "a route runs inside the resolver that included it"
    return app_document(resolver, app, base_url)  # type: ignore[arg-type]


def _scheme(forwarded: str | None) -> str:
    """The scheme the caller used (API Gateway says https; the local stack http): the Host header, already
    matched to ``<app_id>.<AppsDomain>``, keeps the port the caller gave."""
    return forwarded if forwarded in ("http", "https") else "https"
