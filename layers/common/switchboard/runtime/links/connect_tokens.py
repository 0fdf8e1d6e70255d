"""Connect tokens: short-lived, one App and one end user, accepted only by the connect routes and the hosted
connect page.

A token is ``sb_ct_<id body><secret>`` (``switchboard.auth.tokens``); its record (links table) holds its
hash, never the token. An App's caller (access key) asks for one for a user and hands its URL to that user;
whoever holds it may link and revoke that user's connections for that App until it expires (one hour by
default, at most a day). A PAT or an access key presented where a connect token is expected is 403
``wrong_token_type``; an unknown token 401 ``invalid_token``; an expired one 410 ``token_expired``.

The record also holds a random ``csrf_secret``: the hosted page's forms carry
HMAC-SHA256(csrf_secret, "<token id>:<requirement id>") (``csrf_token``), checked on submit (``check_csrf``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from switchboard import egress
from switchboard.auth import tokens
from switchboard.auth.principal import Principal
from switchboard.domain.errors import Forbidden, Gone, Unauthorized, ValidationFailed, problem
from switchboard.domain.ids import utcnow
from switchboard.domain.models import App, TokenKind
from switchboard.domain.runs import ConnectToken
from switchboard.settings import get_settings
from switchboard.store import connect_tokens as store

MIN_TTL_SECONDS = 60
MAX_TTL_SECONDS = 86_400
RECORD_GRACE = timedelta(days=1)
"""How long a record outlives its token (DynamoDB TTL): until then an expired token answers 410, not 401."""
MAX_USER_ID_LENGTH = 256
_CSRF_SECRET_BYTES = 32


class IssuedConnectToken(NamedTuple):
    """A new connect token (shown once) and the hosted page's URL carrying it."""

    token: str
    url: str
    expires_at: datetime


@dataclass(frozen=True)
class ConnectGrant:
    """What a valid connect token allows: acting for ``user_id`` on ``app_id`` until ``expires_at``."""

    token_id: str
    app_id: str
    user_id: str
    return_url: str | None
    expires_at: datetime
    csrf_secret: str = field(repr=False)
    allow_identity_change: bool = False

    @property
    def actor(self) -> str:
        """Who changes a link with this grant, for the link's history."""
        return self.token_id


_SERVED_AT: ContextVar[str] = ContextVar("switchboard_apps_served_at", default="")


@contextmanager
def serving_at(base_url: str) -> Iterator[None]:
    """Within it, connect URLs start with ``base_url`` (the URL the Apps API request came to) unless the
    stack names the Apps API's URL (``APPS_BASE_URL``). The Apps function is never given that on AWS: its
    API's definition points at the function, so the function's environment cannot point back at the API."""
    reset = _SERVED_AT.set(base_url)
    try:
        yield
    finally:
        _SERVED_AT.reset(reset)


def current_base_url() -> str:
    """The URL the Apps API request being served came to (``serving_at``)."""
    return _SERVED_AT.get()


def connect_url(app_id: str, token: str) -> str:
    """The hosted connect page for this token: ``<apps base URL>/apps/<app>/connect?token=…``."""
    base = (get_settings().apps_base_url or _SERVED_AT.get()).rstrip("/")
    return f"{base}/apps/{app_id}/connect?token={quote(token, safe='')}"


def return_url_allowed(app: App, url: str) -> bool:
    """Exactly an allow-listed URL, or under one that ends in ``/``."""
    return any(
        url == allowed or (allowed.endswith("/") and url.startswith(allowed))
        for allowed in app.connect_return_urls
    )


def allowed_return_url(app: App, grant: ConnectGrant) -> str | None:
    """The token's return URL while the App's allow-list still holds it and it is a plain http(s) URL (no
    credentials), so its origin can go into the page's form-action."""
    return allowed_url(app, grant.return_url)


def allowed_url(app: App, url: str | None) -> str | None:
    """``url`` while the App's allow-list still holds it and it is a plain http(s) URL (no credentials)."""
    if url is None or not return_url_allowed(app, url):
        return None
    parts = urlsplit(url)
    plain = parts.scheme in ("http", "https") and parts.hostname and not (parts.username or parts.password)
    return url if plain else None


def return_destination(app: App, grant: ConnectGrant, requirement_id: str) -> str | None:
    """Where the hosted page sends the user after linking ``requirement_id``: the token's return URL with
    ``requirement=<id>&status=active`` added to its query, while the App's allow-list still holds it (and it
    is a plain http(s) URL); None to stay on the page."""
    return linked_destination(app, grant.return_url, requirement_id)


def linked_destination(app: App, return_url: str | None, requirement_id: str) -> str | None:
    """``return_url`` with ``requirement=<id>&status=active`` added to its query, while the App's allow-list
    still holds it (and it is a plain http(s) URL); None otherwise."""
    url = allowed_url(app, return_url)
    if url is None:
        return None
    parts = urlsplit(url)
    outcome = urlencode({"requirement": requirement_id, "status": "active"})
    return urlunsplit(parts._replace(query=f"{parts.query}&{outcome}" if parts.query else outcome))


def issue_connect_token(
    app: App,
    principal: Principal,
    user_id: str,
    return_url: str | None = None,
    ttl_seconds: int | None = None,
    allow_identity_change: bool = False,
) -> IssuedConnectToken:
    """Mint a connect token for the App's end user ``user_id`` (422 for a return URL off the App's allow-list
    or a lifetime outside 60 s..24 h)."""
    ttl = get_settings().connect_token_ttl_seconds if ttl_seconds is None else ttl_seconds
    problems: list[dict[str, object]] = []
    if not MIN_TTL_SECONDS <= ttl <= MAX_TTL_SECONDS:
        problems.append(
            problem(
                ["ttl_seconds"], "out_of_range", f"between {MIN_TTL_SECONDS} and {MAX_TTL_SECONDS} seconds"
            )
        )
    if not 1 <= len(user_id) <= MAX_USER_ID_LENGTH:
        problems.append(problem(["user_id"], "invalid_user_id", f"1 to {MAX_USER_ID_LENGTH} characters"))
    if return_url is not None and not acceptable_return_url(app, return_url):
        problems.append(
            problem(
                ["return_url"], "return_url_not_allowed", "the URL is not on the App's connect_return_urls"
            )
        )
    if problems:
        raise ValidationFailed("the connect token request is invalid", details=problems)
    now = utcnow()
    expires_at = now + timedelta(seconds=ttl)
    issued = tokens.issue(TokenKind.connect)
    store.create_connect_token(
        ConnectToken(
            id=issued.token_id,
            token_hash=issued.token_hash,
            app_id=app.id,
            user_id=user_id,
            return_url=return_url,
            csrf_secret=secrets.token_urlsafe(_CSRF_SECRET_BYTES),
            allow_identity_change=allow_identity_change,
            created_at=now,
            created_by=principal.token_id,
            expires_at=expires_at,
            ttl=int((expires_at + RECORD_GRACE).timestamp()),
        )
    )
    return IssuedConnectToken(issued.token, connect_url(app.id, issued.token), expires_at)


def acceptable_return_url(app: App, url: str) -> bool:
    try:
        egress.check_url_form(url, egress.current_policy(), https_only=True)
    except egress.EgressRefused:
        return False
    return return_url_allowed(app, url)


def grant_for(token: str, app_id: str | None = None) -> ConnectGrant:
    """What the connect token allows: 401 ``invalid_token`` when it is unknown, malformed or (with
    ``app_id``) for another App, 403 ``wrong_token_type`` for a PAT or an access key, 410 ``token_expired``
    once it expired."""
    parsed = tokens.parse(token.strip())
    if parsed is None:
        raise Unauthorized("invalid connect token", code="invalid_token")
    if parsed.kind is not TokenKind.connect:
        raise Forbidden("only a connect token is accepted here", code="wrong_token_type")
    record = store.get_connect_token(parsed.token_id)
    if record is None or not tokens.same_hash(record.token_hash, parsed.token_hash):
        raise Unauthorized("invalid connect token", code="invalid_token")
    if app_id is not None and record.app_id != app_id:
        raise Unauthorized("the connect token is for another App", code="invalid_token")
    if record.expires_at <= utcnow():
        raise Gone("the connect token has expired; ask for a new link", code="token_expired")
    return ConnectGrant(
        token_id=record.id,
        app_id=record.app_id,
        user_id=record.user_id,
        return_url=record.return_url,
        expires_at=record.expires_at,
        csrf_secret=record.csrf_secret,
        allow_identity_change=record.allow_identity_change,
    )


def csrf_token(grant: ConnectGrant, requirement_id: str) -> str:
    """The hosted page's CSRF token for one requirement's form: HMAC-SHA256 keyed by the record's secret."""
    return signature(grant.csrf_secret, f"{grant.token_id}:{requirement_id}")


def signature(secret: str, message: str) -> str:
    """HMAC-SHA256 of ``message`` keyed by a connect token record's secret (unpadded base64url): the CSRF
    tokens of its page and the ``state`` of the OAuth authorizations it starts."""
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def check_csrf(grant: ConnectGrant, requirement_id: str, presented: str | None) -> None:
    """403 ``invalid_csrf`` unless ``presented`` is the form's CSRF token."""
    if not presented or not hmac.compare_digest(
        presented.encode(), csrf_token(grant, requirement_id).encode()
    ):
        raise Forbidden("the form has expired or did not come from this page; reload it", code="invalid_csrf")
