"""The hosted connect page's work behind its two routes (``connect_page``): who visits, reading and checking
the submitted form, linking, and the HTML pages with their security headers. Imported by the routes at the
page's first request, so that the Apps function's cold start does not build the page's views."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from apps_routes.connect_page_docs import FORM
from apps_routes.http_io import upload
from switchboard.connect_page import (
    HTML_CONTENT_TYPE,
    ConnectPageView,
    Notice,
    RequirementView,
    error_wording,
    field_errors,
    form_config,
    form_fields,
    new_nonce,
    refill_values,
    render_error,
    render_page,
    security_headers,
)
from switchboard.domain.connection_types import config_model
from switchboard.domain.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    SwitchboardError,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
    retry_headers,
)
from switchboard.domain.models import App
from switchboard.runtime.identity import addressed_app_id, granted_app
from switchboard.runtime.links import (
    ConnectGrant,
    RequirementEntry,
    allowed_return_url,
    check_csrf,
    csrf_token,
    declared_requirement,
    grant_for,
    link_credentials,
    requirement_status,
    return_destination,
)

MAX_FORM_FIELDS = 64
"""More than any connection type's fields plus the page's own three; a larger form is malformed."""


@dataclass(frozen=True)
class _Visit:
    """An end user on the page: the App, what their token allows, and the token the forms carry."""

    app: App
    grant: ConnectGrant
    token: str = field(repr=False)


@dataclass(frozen=True)
class _Rejected:
    """A submitted form the connection type refused: shown again with its errors and non-secret values."""

    requirement_id: str
    values: dict[str, str]
    errors: dict[str, str]


# ---------------------------------------------------------------- the two routes


def show(router: APIGatewayHttpRouter, token: str | None) -> Response[str]:
    """``GET /connect``: the page for the token's end user, or an error page."""
    nonce = new_nonce()
    try:
        return _page(router, _visit(router, token), nonce)
    except SwitchboardError as error:
        return _error_page(error, nonce)


def submit(router: APIGatewayHttpRouter) -> Response[str]:
    """``POST /connect``: link the connection one form describes, then redirect or show the page again."""
    nonce = new_nonce()
    try:
        _refuse_cross_site(router)
        form = _form(router)
        visit = _visit(router, _first(form, "token"))
        requirement_id = _first(form, "requirement_id") or ""
        check_csrf(visit.grant, requirement_id, _first(form, "csrf"))
        return _link(router, visit, requirement_id, form, nonce)
    except SwitchboardError as error:
        return _error_page(error, nonce)


# ---------------------------------------------------------------- steps


def _visit(router: APIGatewayHttpRouter, token: str | None) -> _Visit:
    event = router.current_event
    app_id = addressed_app_id(event.path_parameters, event.headers.get("host"))
    if app_id is None:
        raise NotFound("App not found")
    if not token:
        raise Unauthorized("the link has no connect token", code="invalid_token")
    grant = grant_for(token, app_id)
    return _Visit(granted_app(grant.app_id), grant, token)


def _refuse_cross_site(router: APIGatewayHttpRouter) -> None:
    headers = router.current_event.headers
    if str(headers.get("sec-fetch-site", "")).lower() == "cross-site":
        raise Forbidden("the form was sent from another site", code="cross_site_request")
    origin = str(headers.get("origin") or "")
    if (
        origin
        and origin != "null"
        and urlsplit(origin).netloc.lower() != str(headers.get("host", "")).lower()
    ):
        raise Forbidden("the form was sent from another site", code="cross_site_request")


def _form(router: APIGatewayHttpRouter) -> dict[str, list[str]]:
    if upload(router) is not None:
        raise UnsupportedMediaType(f"send the form as {FORM}")
    event = router.current_event
    raw = event.get("body") or ""
    try:
        text = base64.b64decode(raw, validate=True).decode() if event.get("isBase64Encoded") else raw
        return parse_qs(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FORM_FIELDS)
    except (binascii.Error, ValueError):
        raise BadRequest("the form could not be read", code="malformed_form") from None


def _first(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _link(
    router: APIGatewayHttpRouter, visit: _Visit, requirement_id: str, form: dict[str, list[str]], nonce: str
) -> Response[str]:
    requirement = declared_requirement(visit.app, requirement_id)
    model = config_model(requirement.connection_type)
    try:
        config = form_config(model, form)
        link_credentials(visit.app, visit.grant, requirement.id, requirement.connection_type, config)
    except ValidationFailed as error:
        errors = field_errors(error.details) or {"": error.message}
        rejected = _Rejected(requirement.id, refill_values(model, form), errors)
        notice = Notice("error", "Check the highlighted fields.")
        return _page(router, visit, nonce, status=422, notice=notice, rejected=rejected)
    destination = return_destination(visit.app, visit.grant, requirement.id)
    if destination is not None:
        headers = {**security_headers(nonce, destination), "Location": destination}
        return Response(status_code=303, body="", headers=headers)
    return _page(router, visit, nonce, notice=Notice("success", f"{requirement.name} is connected."))


# ---------------------------------------------------------------- pages


def _page(
    router: APIGatewayHttpRouter,
    visit: _Visit,
    nonce: str,
    *,
    status: int = 200,
    notice: Notice | None = None,
    rejected: _Rejected | None = None,
) -> Response[str]:
    entries = requirement_status(visit.app, visit.grant.user_id, connect_url_for=None).requirements
    view = ConnectPageView(
        app_name=visit.app.name,
        token=visit.token,
        action=_action(router),
        nonce=nonce,
        requirements=tuple(_requirement(visit.grant, entry, rejected) for entry in entries),
        notice=notice,
    )
    return _html(status, render_page(view), nonce, allowed_return_url(visit.app, visit.grant))


def _requirement(grant: ConnectGrant, entry: RequirementEntry, rejected: _Rejected | None) -> RequirementView:
    failed = rejected if rejected is not None and rejected.requirement_id == entry.id else None
    return RequirementView(
        id=entry.id,
        title=entry.form.title,
        description=entry.form.description,
        connection_type=entry.connection_type,
        status=entry.status,
        csrf=csrf_token(grant, entry.id),
        fields=form_fields(config_model(entry.connection_type)),
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
