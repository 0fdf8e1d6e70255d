"""How the hosted connect page is documented in the Apps API's OpenAPI document: HTML answers with the
page's security headers, the guards' JSON errors, and no bearer token (the connect token travels in the query
or the form)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import content_types
from aws_lambda_powertools.event_handler.openapi.params import Query

from switchboard.api.envelopes import ErrorEnvelope

FORM = "application/x-www-form-urlencoded"


def _page_headers(*, redirect: bool = False) -> dict[str, Any]:
    headers: dict[str, Any] = {
        "Content-Security-Policy": {
            "description": "default-src 'none'; a per-response nonce for the page's style; form-action "
            "'self' (and the return URL's origin); frame-ancestors 'none'; base-uri 'none'",
            "required": True,
            "schema": {"type": "string"},
        },
        "X-Frame-Options": {"required": True, "schema": {"type": "string", "enum": ["DENY"]}},
        "Cache-Control": {"required": True, "schema": {"type": "string", "enum": ["no-store"]}},
    }
    if redirect:
        headers["Location"] = {
            "description": "The token's return URL with ?requirement=<id>&status=active",
            "required": True,
            "schema": {"type": "string", "format": "uri"},
        }
    return headers


_HTML = {content_types.TEXT_HTML: {"schema": {"type": "string"}}}


def _html_response(description: str) -> dict[str, Any]:
    return {"description": description, "headers": _page_headers(), "content": dict(_HTML)}


_GUARD_ERROR = {"application/json": {"model": ErrorEnvelope}}
"""What the guards answer before the page is reached (a body too large, or not a form)."""
_PAGE_ERRORS = {
    401: "Unknown or malformed connect token, or one of another App",
    403: "Not a connect token",
    404: "No such App (or the requirement is no longer declared)",
    409: "The App has no deployment",
    410: "The connect token has expired",
}
GET_RESPONSES: dict[int, Any] = {
    200: _html_response("The page: the App's name and each requirement with its state and a form"),
    **{status: _html_response(f"Error page: {text}") for status, text in _PAGE_ERRORS.items()},
    422: {
        "description": "A repeated token parameter (an error envelope)",
        "content": {"application/json": {"model": ErrorEnvelope}},
    },
}
POST_RESPONSES: dict[int, Any] = {
    200: _html_response("Linked: the page with a success notice and the new state"),
    303: {
        "description": "Linked: back to the token's return URL",
        "headers": _page_headers(redirect=True),
        "content": {},
    },
    400: _html_response("Error page: the form could not be read"),
    **{status: _html_response(f"Error page: {text}") for status, text in _PAGE_ERRORS.items()},
    403: _html_response(
        "Error page: not a connect token, a CSRF value that is not the form's, or a form sent from another "
        "site"
    ),
    413: {"description": "The body exceeds the size limit", "content": dict(_GUARD_ERROR)},
    415: {
        "description": f"The body is not {FORM}",
        "content": {**_GUARD_ERROR, **_HTML},
    },
    422: _html_response(
        "The connection type refused the config: the page with the errors next to the fields and the "
        "non-secret values re-filled"
    ),
}
PAGE_TAGS = ["connect page"]
NO_BEARER: dict[str, Any] = {"security": []}
"""The connect token travels in the query or the form, never in Authorization."""

TokenQuery = Annotated[
    str | None, Query(description="The connect token, from the URL POST /v1/connect/tokens answered")
]
RequirementQuery = Annotated[str | None, Query(description="The oauth2 requirement to connect")]

CALLBACK_ERRORS = {
    400: "Error page: a missing, malformed or forged state",
    403: "Error page: the end user declined at the provider (access_denied)",
    409: "Error page: the state was already used, or the account is another than the one linked",
    410: "Error page: the state expired (10 minutes)",
    502: "Error page: the provider's token endpoint refused the code, its ID token did not verify, it "
    "cannot be reached from here, or the exchange was interrupted (start again)",
    503: "Error page: the provider answered but linking is not finished yet",
}
CALLBACK_RESPONSES: dict[int, Any] = {
    200: _html_response("Linked: a success page naming the upstream account"),
    303: {
        "description": "Linked: back to the connect token's return URL",
        "headers": _page_headers(redirect=True),
        "content": {},
    },
    **{status: _html_response(text) for status, text in CALLBACK_ERRORS.items()},
    422: {
        "description": "A repeated query parameter (an error envelope)",
        "content": {"application/json": {"model": ErrorEnvelope}},
    },
}
StateQuery = Annotated[str | None, Query(description="The signed state the authorization started with")]
CodeQuery = Annotated[str | None, Query(description="The authorization code (exchanged behind the boundary)")]
ErrorQuery = Annotated[str | None, Query(description="The provider's error code, such as access_denied")]
ErrorDescriptionQuery = Annotated[str | None, Query(description="The provider's error description")]
IssuerQuery = Annotated[str | None, Query(description="The provider's issuer (RFC 9207), when it sends one")]
