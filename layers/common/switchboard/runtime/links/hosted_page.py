"""The hosted connect page's use cases: who visits it (``visit_page``) and what a submitted form comes to
(``submit_form``). The page's HTTP parsing and its HTML are the Apps function's and
``switchboard.connect_page``'s; the rules are here.

The connect token is the only credential: it must be one of the addressed App's (another App's is 401, like
an unknown one), and unexpired (410). A form is refused (403 ``cross_site_request``) when the browser says it
comes from another site (``Sec-Fetch-Site: cross-site``, or an ``Origin`` other than this host; ``Origin:
null`` is what the page's own no-referrer policy makes a browser send) or when its CSRF value is not the one
the page gave that form. A config the connection type refuses is the page again with the errors next to the
fields and the non-secret values re-filled, never a secret. After a link: the token's return URL (with
``?requirement=<id>&status=active``) while the App's allow-list still holds it, else the page with the new
state.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from switchboard.connect_page.forms import field_errors, form_config, refill_values
from switchboard.domain.connection_types import config_model
from switchboard.domain.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    Unauthorized,
    UnsupportedMediaType,
    ValidationFailed,
)
from switchboard.domain.models import App
from switchboard.runtime.identity import granted_app
from switchboard.runtime.links.connect_tokens import (
    ConnectGrant,
    allowed_return_url,
    check_csrf,
    csrf_token,
    grant_for,
    return_destination,
)
from switchboard.runtime.links.linking import declared_requirement, link_credentials, refuse_entered_oauth
from switchboard.runtime.links.requirements import RequirementEntry, requirement_status

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 64
"""More than any connection type's fields plus the page's own three; a larger form is malformed."""

Form = dict[str, list[str]]


@dataclass(frozen=True)
class FormPost:
    """A submitted form as the browser sent it."""

    host: str
    origin: str
    fetch_site: str
    """``Sec-Fetch-Site``, lower case ("" when not sent)."""
    body: str = field(repr=False)
    base64_encoded: bool = False
    multipart: bool = False


@dataclass(frozen=True)
class PageEntry:
    """One requirement on the page, with the CSRF value its form carries."""

    entry: RequirementEntry
    csrf: str = field(repr=False)


@dataclass(frozen=True)
class Rejected:
    """A submitted form the connection type refused: shown again with its errors and non-secret values."""

    requirement_id: str
    values: dict[str, str]
    errors: dict[str, str]


@dataclass(frozen=True)
class Page:
    """What the page shows its visitor: the App, each requirement's state, the token the forms carry, and the
    return URL the token may still go back to (``None``: none, or no longer allowed)."""

    app_name: str
    token: str = field(repr=False)
    requirements: tuple[PageEntry, ...]
    return_url: str | None


@dataclass(frozen=True)
class Submitted:
    """What a submitted form came to: a redirect to the return URL (``redirect``), or the page again, after
    the link of ``linked`` (the requirement's name) or with the form ``rejected``."""

    page: Page | None = None
    redirect: str | None = None
    linked: str | None = None
    rejected: Rejected | None = None


@dataclass(frozen=True)
class _Visit:
    app: App
    grant: ConnectGrant
    token: str = field(repr=False)


def visit_page(app_id: str | None, token: str | None) -> Page:
    """``GET /connect``: the page for the token's end user (``app_id``: the addressed App)."""
    return _page(_visit(app_id, token))


def start_from_page(app_id: str | None, token: str | None, requirement_id: str | None) -> str:
    """``GET /connect/oauth2`` (the page's Connect button): the provider's authorization URL for the page's
    user and the requirement (401, 410 for the token as for the page itself)."""
    from switchboard.runtime.links.oauth_flow import start_authorization

    visit = _visit(app_id, token)
    return start_authorization(visit.app, visit.grant, requirement_id or "")


def submit_form(app_id: str | None, post: FormPost) -> Submitted:
    """``POST /connect``: link the connection one form describes."""
    _refuse_cross_site(post)
    form = _form(post)
    visit = _visit(app_id, _first(form, "token"))
    requirement_id = _first(form, "requirement_id") or ""
    check_csrf(visit.grant, requirement_id, _first(form, "csrf"))
    requirement = declared_requirement(visit.app, requirement_id)
    refuse_entered_oauth(requirement.connection_type)
    model = config_model(requirement.connection_type)
    try:
        config = form_config(model, form)
        link_credentials(visit.app, visit.grant, requirement.id, requirement.connection_type, config)
    except ValidationFailed as error:
        errors = field_errors(error.details) or {"": error.message}
        rejected = Rejected(requirement.id, refill_values(model, form), errors)
        return Submitted(page=_page(visit), rejected=rejected)
    destination = return_destination(visit.app, visit.grant, requirement.id)
    if destination is not None:
        return Submitted(redirect=destination)
    return Submitted(page=_page(visit), linked=requirement.name)


def _visit(app_id: str | None, token: str | None) -> _Visit:
    if app_id is None:
        raise NotFound("App not found")
    if not token:
        raise Unauthorized("the link has no connect token", code="invalid_token")
    grant = grant_for(token, app_id)
    return _Visit(granted_app(grant.app_id), grant, token)


def _page(visit: _Visit) -> Page:
    entries = requirement_status(visit.app, visit.grant.user_id, connect_url_for=None).requirements
    return Page(
        app_name=visit.app.name,
        token=visit.token,
        requirements=tuple(PageEntry(entry, csrf_token(visit.grant, entry.id)) for entry in entries),
        return_url=allowed_return_url(visit.app, visit.grant),
    )


def _refuse_cross_site(post: FormPost) -> None:
    if post.fetch_site == "cross-site":
        raise Forbidden("the form was sent from another site", code="cross_site_request")
    if post.origin and post.origin != "null" and urlsplit(post.origin).netloc.lower() != post.host.lower():
        raise Forbidden("the form was sent from another site", code="cross_site_request")


def _form(post: FormPost) -> Form:
    if post.multipart:
        raise UnsupportedMediaType(f"send the form as {FORM_MEDIA_TYPE}")
    try:
        text = base64.b64decode(post.body, validate=True).decode() if post.base64_encoded else post.body
        return parse_qs(text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FORM_FIELDS)
    except (binascii.Error, ValueError):
        raise BadRequest("the form could not be read", code="malformed_form") from None


def _first(form: Form, name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None
