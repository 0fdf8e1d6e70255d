"""The hosted connect page's HTTP side behind its two routes (``connect_page``): reading the request, calling
its use case (``runtime.links.visit_page``, ``submit_form``: who visits, checking the form, linking, where
to go next), and answering HTML pages with their security headers. Imported by the routes at the page's
first request, so that the Apps function's cold start does not build the page's views."""

from __future__ import annotations

from urllib.parse import urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from apps_routes.http_io import upload
from switchboard.connect_page import (
    HTML_CONTENT_TYPE,
    ConnectPageView,
    Notice,
    RequirementView,
    error_wording,
    form_fields,
    new_nonce,
    render_error,
    render_page,
    security_headers,
)
from switchboard.domain.connection_types import config_model
from switchboard.domain.errors import SwitchboardError, retry_headers
from switchboard.runtime import links
from switchboard.runtime.identity import addressed_app_id

# ---------------------------------------------------------------- the two routes


def show(router: APIGatewayHttpRouter, token: str | None) -> Response[str]:
    """``GET /connect``: the page for the token's end user, or an error page."""
    nonce = new_nonce()
    try:
        return _page(router, links.visit_page(_app_id(router), token), nonce)
    except SwitchboardError as error:
        return _error_page(error, nonce)


def authorize(router: APIGatewayHttpRouter, token: str | None, requirement_id: str | None) -> Response[str]:
    """``GET /connect/oauth2``: 303 to the provider's authorization page for the token's user and the
    requirement (the page's "Connect" button), or an error page."""
    nonce = new_nonce()
    try:
        url = links.start_from_page(_app_id(router), token, requirement_id)
    except SwitchboardError as error:
        return _error_page(error, nonce)
    headers = {**security_headers(nonce), "Location": url}
    return Response(status_code=303, body="", headers=headers)


def submit(router: APIGatewayHttpRouter) -> Response[str]:
    """``POST /connect``: link the connection one form describes, then redirect or show the page again."""
    nonce = new_nonce()
    try:
        submitted = links.submit_form(_app_id(router), _post(router))
    except SwitchboardError as error:
        return _error_page(error, nonce)
    if submitted.redirect is not None:
        headers = {**security_headers(nonce, submitted.redirect), "Location": submitted.redirect}
        return Response(status_code=303, body="", headers=headers)
    assert submitted.page is not None
    if submitted.rejected is not None:
        notice = Notice("error", "Check the highlighted fields.")
        return _page(router, submitted.page, nonce, status=422, notice=notice, rejected=submitted.rejected)
    return _page(router, submitted.page, nonce, notice=Notice("success", f"{submitted.linked} is connected."))


# ---------------------------------------------------------------- the request


def _app_id(router: APIGatewayHttpRouter) -> str | None:
    event = router.current_event
    return addressed_app_id(event.path_parameters, event.headers.get("host"))


def _post(router: APIGatewayHttpRouter) -> links.FormPost:
    event = router.current_event
    headers = event.headers
    return links.FormPost(
        host=str(headers.get("host", "")),
        origin=str(headers.get("origin") or ""),
        fetch_site=str(headers.get("sec-fetch-site", "")).lower(),
        body=event.get("body") or "",
        base64_encoded=bool(event.get("isBase64Encoded")),
        multipart=upload(router) is not None,
    )


# ---------------------------------------------------------------- pages


def _page(
    router: APIGatewayHttpRouter,
    page: links.Page,
    nonce: str,
    *,
    status: int = 200,
    notice: Notice | None = None,
    rejected: links.Rejected | None = None,
) -> Response[str]:
    view = ConnectPageView(
        app_name=page.app_name,
        token=page.token,
        action=_action(router),
        nonce=nonce,
        requirements=tuple(
            _requirement(shown, rejected, _action(router), page.token) for shown in page.requirements
        ),
        notice=notice,
    )
    return _html(status, render_page(view), nonce, page.return_url)


def _requirement(
    shown: links.PageEntry, rejected: links.Rejected | None, action: str, token: str
) -> RequirementView:
    entry = shown.entry
    failed = rejected if rejected is not None and rejected.requirement_id == entry.id else None
    model = config_model(entry.connection_type)
    query = urlencode({"token": token, "requirement": entry.id})
    return RequirementView(
        id=entry.id,
        title=entry.form.title,
        description=entry.form.description,
        connection_type=entry.connection_type,
        status=entry.status,
        csrf=shown.csrf,
        fields=form_fields(model) if model.entered_by_end_users else (),
        authorize_url=None if model.entered_by_end_users else f"{action}/oauth2?{query}",
        reason=entry.reason,
        linked_at=entry.linked_at,
        values=failed.values if failed is not None else {},
        errors=failed.errors if failed is not None else {},
    )


def _action(router: APIGatewayHttpRouter) -> str:
    """Where the forms post: this page, in the addressing form the request used (path or host)."""
    app_id = (router.current_event.path_parameters or {}).get("app_id")
    return f"/apps/{app_id}/connect" if app_id else "/connect"


def _error_page(error: SwitchboardError, nonce: str) -> Response[str]:
    title, message = error_wording(error.error_code, error.status, error.message)
    page = render_error(error.status, title, message, nonce=nonce)
    return _html(error.status, page, nonce, None, retry_headers(error))


def _html(
    status: int, html: str, nonce: str, return_url: str | None, headers: dict[str, str] | None = None
) -> Response[str]:
    return Response(
        status_code=status,
        content_type=HTML_CONTENT_TYPE,
        body=html,
        headers={**security_headers(nonce, return_url), **(headers or {})},
    )
