"""Bearer-token authentication: one consistent read per request, so a revoked or expired token is refused
at once. Use is recorded in ``last_used_at`` at most once a minute per token."""

from __future__ import annotations

from datetime import timedelta

from switchboard.auth import tokens
from switchboard.auth.principal import Principal
from switchboard.domain.errors import Forbidden, Unauthorized
from switchboard.domain.ids import utcnow
from switchboard.domain.models import TokenKind
from switchboard.store import identity

USE_RECORD_INTERVAL = timedelta(seconds=60)
_WRONG_KIND = {
    TokenKind.pat: "an access key cannot call the management API; use a personal access token",
    TokenKind.access_key: "a personal access token cannot call an App; use an access key",
}
_ACCEPTED_ELSEWHERE = {
    TokenKind.connect: "a connect token is accepted only by the connect routes",
    TokenKind.invitation: "an invitation token is accepted only in the body of POST /v1/invitations/accept",
}


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("missing bearer token", code="missing_token")
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise Unauthorized("the Authorization header must be 'Bearer <token>'", code="malformed_token")
    return value.strip()


def authenticate(authorization: str | None, expected: TokenKind) -> Principal:
    """Resolve the caller; 401 for a missing, malformed, unknown, revoked or expired token, 403 for a valid
    token of the other kind, and 403 at once (no lookup) for a connect token (resolved only by
    ``switchboard.runtime.links.connect_tokens.grant_for``, which answers 403 to a PAT or an access key) and
    for an invitation token (redeemed only by ``switchboard.runtime.identity.invitations.accept``)."""
    if expected is TokenKind.connect:
        raise ValueError("connect tokens are resolved by switchboard.runtime.links.connect_tokens.grant_for")
    parsed = tokens.parse(bearer_token(authorization))
    if parsed is None:
        raise Unauthorized("the token is not a Switchboard token", code="malformed_token")
    if parsed.kind in _ACCEPTED_ELSEWHERE:
        raise Forbidden(_ACCEPTED_ELSEWHERE[parsed.kind], code="wrong_token_type")
    record = identity.get_token(parsed.token_id)
    if (
        record is None
        or record.kind is not parsed.kind
        or not tokens.same_hash(record.token_hash, parsed.token_hash)
    ):
        raise Unauthorized("invalid token", code="invalid_token")
    now = utcnow()
    if record.revoked_at is not None:
        raise Unauthorized("the token has been revoked", code="token_revoked")
    if record.expires_at is not None and record.expires_at <= now:
        raise Unauthorized("the token has expired", code="token_expired")
    if record.kind is not expected:
        raise Forbidden(_WRONG_KIND[expected], code="wrong_token_type")
    if record.last_used_at is None or record.last_used_at < now - USE_RECORD_INTERVAL:
        identity.touch_token(record.id, now, now - USE_RECORD_INTERVAL)
    return Principal(
        kind=record.kind,
        token_id=record.id,
        user_id=record.user_id,
        org_id=record.org_id,
        project_id=record.project_id,
    )
