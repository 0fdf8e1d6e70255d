"""Fresh OAuth 2.0 access tokens, refreshed once (the credentials function only).

``fresh_tokens`` hands out the holder's access token, refreshed first when it expires within
``REFRESH_WINDOW_SECONDS``, or (``used_version``: a node's request was answered 401) when the token the node
used is still the current one. The refresh is single-flight per holder across concurrent runs: the refresher
takes the holder's lease with a conditional write on its token version (``store.link_tokens``), sends the
refresh token to the provider (Authlib, the app's client secret and auth method, ``oauth_client``) and stores
the new tokens, a rotated refresh token with them, in one conditional write that bumps the version and ends
the lease. The others poll (short, bounded) and read its result: the same refresh token is never sent twice
(with rotation, a provider revokes the whole grant when one is reused). A lease outlives the function's own
timeout, so a refresher whose lease ran out is dead; its lease is then taken over.

The provider's ``invalid_grant`` (the grant was revoked or the refresh token expired) marks the holder
``expired`` (``TokensExpired``), as does an expired token with no refresh token. Other failures release the
lease and are ``RefreshFailed``; a token that is not yet expired is then still handed out (unless forced).

The holder is a seam: an end user's link (``LinkTokens``) or a project ``oauth2`` connection
(``connection_refresh.ConnectionTokens``) implements ``TokenHolder``. Log lines carry ids and versions,
never a token.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from switchboard import egress
from switchboard.domain.errors import Conflict
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.runs import SYSTEM_ACTOR, Link, LinkStatus
from switchboard.observability import logger
from switchboard.runtime.credentials import oauth_client
from switchboard.store import link_secrets, link_tokens, links

REFRESH_WINDOW_SECONDS = 60
"""A token that expires within this is refreshed before it is handed out."""
LEASE_SECONDS = 15
"""A refresher's lease: longer than the credentials function's timeout (10 s), so it is dead when it ends."""
WAIT_SECONDS = 8.0
"""How long a request waits for another's refresh before it answers ``RefreshFailed`` (retry shortly)."""
POLL_SECONDS = (0.05, 0.1, 0.2, 0.25)
"""The waits between reads while another refreshes (the last one repeats)."""


@dataclass(frozen=True)
class HeldTokens:
    """What a holder holds right now: its tokens (sealed values, opened), their version, the lease."""

    values: dict[str, Any]
    version: int
    active: bool
    refreshing_until: datetime | None
    secret_version: str | None = None

    @property
    def expires_at(self) -> float:
        value = self.values.get("expires_at")
        return float(value) if isinstance(value, int | float) else 0.0


class TokenHolder(Protocol):
    """Where a set of OAuth tokens lives (a link's item; a connection's item and secret)."""

    id: str
    app_connection_id: str

    def read(self) -> HeldTokens | None: ...

    def claim(self, owner: str, now: datetime, until: datetime) -> bool:
        """Take the refresh lease of the tokens last read; False when another has it or they changed."""
        ...

    def store(self, owner: str, values: dict[str, Any]) -> HeldTokens:
        """Store new tokens, ending ``owner``'s lease; ``Conflict`` when the lease is not its any more."""
        ...

    def release(self, owner: str) -> None: ...

    def expire(self, reason: str) -> bool: ...


@dataclass(frozen=True)
class Fresh:
    """The tokens to hand out, and whether a refresh (this request's, or one it waited for) made them."""

    held: HeldTokens
    refreshed: bool


class TokensUnusable(Exception):
    """No usable access token: ``code`` for the node, ``reason`` for the link's history."""

    code = "oauth2_not_authorized"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokensExpired(TokensUnusable):
    """The grant is gone (``invalid_grant``, or no refresh token): the holder was marked ``expired``."""

    code = "oauth2_link_expired"


class RefreshFailed(TokensUnusable):
    """The refresh did not happen now (the provider failed, or another refresher is still at it)."""

    code = "oauth2_refresh_failed"


def fresh_tokens(
    holder: TokenHolder, *, used_version: int | None = None, wait_seconds: float = WAIT_SECONDS
) -> Fresh:
    """The holder's tokens, refreshed when due (see the module's docstring); raises ``TokensUnusable``."""
    owner = new_id("refresh_lease")
    waited_until = time.monotonic() + wait_seconds
    polls = iter(POLL_SECONDS)
    first_version: int | None = None
    while True:
        held = holder.read()
        if held is None or not held.active:
            raise TokensUnusable("the link is no longer active")
        first_version = held.version if first_version is None else first_version
        if not _due(held, first_version, used_version):
            base = first_version if used_version is None else used_version
            return Fresh(held, refreshed=held.version > base)
        now = utcnow()
        lease_free = held.refreshing_until is None or held.refreshing_until < now
        if lease_free and holder.claim(owner, now, now + timedelta(seconds=LEASE_SECONDS)):
            stored = _refresh(holder, held, owner, forced=used_version is not None)
            return Fresh(stored, refreshed=stored.version > held.version)
        # Another refresher holds the lease (or claimed it first, or the tokens changed): read again soon.
        if time.monotonic() >= waited_until:
            logger.info("gave up waiting for another refresh", extra={"holder": holder.id})
            if used_version is None and held.expires_at > time.time():
                return Fresh(held, refreshed=False)
            raise RefreshFailed("another refresh is still in progress")
        time.sleep(next(polls, POLL_SECONDS[-1]))


def refresh_due(values: Mapping[str, Any]) -> bool:
    """Whether tokens as sealed are due for a refresh before they are handed out: no access token, or one
    that expires within the refresh window."""
    expires_at = values.get("expires_at")
    if not values.get("access_token") or not isinstance(expires_at, int | float):
        return True
    return expires_at - time.time() <= REFRESH_WINDOW_SECONDS


def _due(held: HeldTokens, first_version: int, used_version: int | None) -> bool:
    if used_version is not None:
        return held.version <= used_version
    if held.version > first_version:
        # Refreshed by another while this request waited: that token is used while it has not expired, even
        # when the provider's lifetimes are shorter than the refresh window.
        return held.expires_at <= time.time()
    return refresh_due(held.values)


def _refresh(holder: TokenHolder, held: HeldTokens, owner: str, *, forced: bool) -> HeldTokens:
    """Send the held refresh token once, store what comes back; the lease is ``owner``'s."""
    from authlib.integrations.httpx_client import OAuthError
    from httpx2 import HTTPError

    refresh_token = held.values.get("refresh_token")
    if not isinstance(refresh_token, str) or not refresh_token:
        holder.release(owner)
        if not forced and held.expires_at > time.time():
            return held
        reason = "the access token expired and the provider issued no refresh token"
        holder.expire(reason)
        raise TokensExpired(reason)
    try:
        config = oauth_client.app_config(holder.app_connection_id)
        with oauth_client.oauth2_client(config) as client:
            token = dict(client.refresh_token(str(config["token_url"]), refresh_token=refresh_token))
    except OAuthError as error:
        code = str(error.error)[:64]
        logger.info("the provider refused the refresh", extra={"holder": holder.id, "error": code})
        if code == "invalid_grant":
            reason = "the provider refused the refresh token (invalid_grant): authorize again"
            holder.expire(reason)
            raise TokensExpired(reason) from None
        holder.release(owner)
        raise RefreshFailed(f"the provider refused the refresh ({code})") from None
    except (HTTPError, ValueError, oauth_client.ProviderRefused, egress.EgressRefused) as error:
        logger.warning("the refresh failed", extra={"holder": holder.id, "error_type": type(error).__name__})
        holder.release(owner)
        if not forced and held.expires_at > time.time():
            return held
        raise RefreshFailed("the provider could not refresh the token") from None
    if not token.get("access_token"):
        holder.release(owner)
        raise RefreshFailed("the provider answered no access token")
    values = {
        "access_token": token["access_token"],
        "refresh_token": token.get("refresh_token") or refresh_token,
        "expires_at": int(token.get("expires_at") or time.time() + int(token.get("expires_in") or 3600)),
    }
    try:
        stored = holder.store(owner, values)
    except Conflict:
        raise RefreshFailed("the link changed while its tokens were refreshed") from None
    logger.info("oauth2 tokens refreshed", extra={"holder": holder.id, "token_version": stored.version})
    return stored


class LinkTokens:
    """An end user's OAuth link as a ``TokenHolder`` (its item in the links table)."""

    def __init__(self, link: Link) -> None:
        self.link = link
        self.id = link.id
        self.app_connection_id = str(link.config.get("app_connection_id", ""))

    def read(self) -> HeldTokens | None:
        current = links.get_link(self.link.app_id, self.link.user_id, self.link.requirement_id)
        if current is None or current.id != self.link.id:
            return None
        self.link = current
        if current.status is not LinkStatus.active or current.sealed_secret is None:
            return HeldTokens({}, current.token_version, False, None)
        values = link_secrets.open_values(current)
        return HeldTokens(
            values, current.token_version, True, current.refreshing_until, current.secret_version
        )

    def claim(self, owner: str, now: datetime, until: datetime) -> bool:
        return link_tokens.claim_refresh(self.link, owner, now, until)

    def store(self, owner: str, values: dict[str, Any]) -> HeldTokens:
        self.link = link_tokens.store_refreshed(self.link, owner, values)
        return HeldTokens(values, self.link.token_version, True, None, self.link.secret_version)

    def release(self, owner: str) -> None:
        link_tokens.release_refresh(self.link, owner)

    def expire(self, reason: str) -> bool:
        """Mark the link ``expired`` (its transition recorded); False when it changed meanwhile."""
        try:
            self.link = links.set_link_status(
                self.link, LinkStatus.expired, reason, utcnow(), by=SYSTEM_ACTOR
            )
        except Conflict:
            logger.info("link changed while being marked expired", extra={"link_id": self.link.id})
            return False
        logger.info("oauth2 link expired", extra={"link_id": self.link.id})
        return True
