"""The hosted connect page: ``GET /connect?token=…`` shows the App's requirements for the token's end user,
each with its state and a form; ``POST /connect`` links the connection one form describes.

The connect token is the only credential (the guards do no ``Authorization`` processing here): it must be
one of the addressed App's (another App's is 401, like an unknown one), and unexpired (410). Every answer,
an error too, is an HTML page with the page's security headers and a fresh CSP nonce. A ``POST`` is refused
(403) when the browser says it comes from another site (``Sec-Fetch-Site: cross-site``, or an ``Origin``
other than this host; ``Origin: null`` is what the page's own no-referrer policy makes a browser send) or
when its CSRF value is not the one the page gave that form. A config the connection type refuses is 422:
the page again, with the errors next to the fields and the non-secret values re-filled, never a secret.
After a link: 303 to the token's return URL (with ``?requirement=<id>&status=active``) while the App's
allow-list still holds it, else the page with a success notice and the new state.
"""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from apps_routes.connect_page_docs import (
    GET_RESPONSES,
    NO_BEARER,
    PAGE_TAGS,
    POST_RESPONSES,
    RequirementQuery,
    TokenQuery,
)

router = APIGatewayHttpRouter()


@router.get(
    "/connect",
    tags=PAGE_TAGS,
    summary="The hosted connect page (HTML) for a connect token's end user",
    responses=GET_RESPONSES,
    openapi_extensions=NO_BEARER,
)
def show_connect_page(token: TokenQuery = None) -> Response[str]:
    from apps_routes import connect_page_flow  # built at the page's first request, not at cold start

    return connect_page_flow.show(router, token)


@router.get(
    "/connect/oauth2",
    tags=PAGE_TAGS,
    summary="The page's Connect button for an OAuth requirement: 303 to the provider's authorization page",
    responses=GET_RESPONSES,
    openapi_extensions=NO_BEARER,
)
def start_oauth2_from_page(token: TokenQuery = None, requirement: RequirementQuery = None) -> Response[str]:
    from apps_routes import connect_page_flow

    return connect_page_flow.authorize(router, token, requirement)


@router.post(
    "/connect",
    tags=PAGE_TAGS,
    summary="Submit one form of the connect page: link that requirement's connection",
    responses=POST_RESPONSES,
    openapi_extensions=NO_BEARER,
)
def submit_connect_form() -> Response[str]:
    from apps_routes import connect_page_flow  # built at the page's first request, not at cold start

    return connect_page_flow.submit(router)
