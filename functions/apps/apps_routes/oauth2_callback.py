"""``GET /v1/oauth2/callback``: the deployment's one redirect URI, where providers send end users back after
they authorized (or refused). No App in the path and no token: the signed state names the authorization
(``runtime.links.oauth_flow``). Every answer is an HTML page with the hosted page's security headers: a
success page (or 303 to the state's return URL with ``?requirement=<id>&status=active`` while the App's
allow-list holds it), or an error page that says what happened and changes nothing."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from apps_routes.connect_page_docs import (
    CALLBACK_RESPONSES,
    NO_BEARER,
    PAGE_TAGS,
    CodeQuery,
    ErrorDescriptionQuery,
    ErrorQuery,
    IssuerQuery,
    StateQuery,
)
from switchboard.connect_page import HTML_CONTENT_TYPE, new_nonce, render_done, render_error, security_headers

router = APIGatewayHttpRouter()

_ERRORS: dict[str, tuple[int, str, str]] = {
    "invalid_state": (400, "This sign-in link is not valid", "Start connecting again from the App."),
    "state_expired": (410, "This sign-in took too long", "It expired after 10 minutes: start again."),
    "state_used": (409, "This sign-in was already used", "Start connecting again from the App."),
    "access_denied": (403, "Access was not granted", "You declined at the provider: nothing was linked."),
    "token_endpoint_error": (
        502,
        "The provider did not accept the sign-in",
        "Nothing was linked. Start connecting again; if it keeps failing, tell the App's owner.",
    ),
    "identity_mismatch": (
        409,
        "That is another account",
        "You signed in as another account than the one linked: nothing changed. Sign in as the linked "
        "account, or ask the App to allow changing it.",
    ),
    "destination_not_allowed": (
        502,
        "The provider cannot be reached from here",
        "This deployment does not send requests to the provider's address: nothing was linked. Tell the "
        "App's owner.",
    ),
    "exchange_interrupted": (
        502,
        "Linking was interrupted",
        "The sign-in could not be finished and cannot be retried: nothing was linked. Start connecting "
        "again from the App.",
    ),
    "invalid_id_token": (
        502,
        "The provider's answer could not be verified",
        "Its ID token did not pass the checks: nothing was linked. Start connecting again; if it keeps "
        "failing, tell the App's owner.",
    ),
    "exchange_pending": (
        503,
        "Still finishing",
        "The provider answered but linking is not finished yet: reload the App in a moment.",
    ),
}
_DEFAULT_ERROR = (502, "The account could not be linked", "Nothing was linked. Start connecting again.")


@router.get(
    "/v1/oauth2/callback",
    tags=PAGE_TAGS,
    summary="Where OAuth providers return end users (register this URL as the app's redirect URI)",
    responses=CALLBACK_RESPONSES,
    openapi_extensions=NO_BEARER,
)
def oauth2_callback(
    state: StateQuery = None,
    code: CodeQuery = None,
    error: ErrorQuery = None,
    error_description: ErrorDescriptionQuery = None,
    iss: IssuerQuery = None,
) -> Response[str]:
    from switchboard.runtime.links import oauth_flow

    named = {"state": state, "code": code, "error": error, "error_description": error_description, "iss": iss}
    query = {key: value for key, value in named.items() if value is not None}
    nonce = new_nonce()
    result = oauth_flow.finish_callback(query)
    if result.linked:
        destination = result.destination
        if destination is not None:
            headers = {**security_headers(nonce, destination), "Location": destination}
            return Response(status_code=303, content_type=HTML_CONTENT_TYPE, body="", headers=headers)
        who = (
            result.upstream.email or result.upstream.login or result.upstream.sub if result.upstream else None
        )
        message = f"Linked as {who}. You can close this page." if who else "Linked. You can close this page."
        page = render_done("Account connected", message, nonce=nonce)
        return Response(200, HTML_CONTENT_TYPE, page, security_headers(nonce))
    status, title, message = _ERRORS.get(result.outcome, _DEFAULT_ERROR)
    page = render_error(status, title, f"{message} ({result.outcome})", nonce=nonce)
    return Response(status, HTML_CONTENT_TYPE, page, security_headers(nonce))
