"""A revoked OAuth link's tokens revoked at its provider (RFC 7009), behind the secret boundary (the
credentials function, invoked by the dispatcher for the ``{"oauth2_revoke": <link id>}`` the revoking
function queued).

The link is already ``revoked`` (its item no longer holds the tokens); its revocation record
(``store.oauth_revocations``) holds them, sealed for the link's record. This opens them, reads the
``oauth2_app``'s client secret, and asks the app's ``revocation_url`` to revoke the refresh token, then the
access token, with Authlib's ``revoke_token`` (the app's token endpoint auth method; through the
address-pinned egress transport). Best effort, once: the outcome — ``revoked`` (the provider answered 200 to
each), ``provider_error`` (another answer), ``unreachable`` (no answer), ``destination_not_allowed`` (the
egress rule refused its address) or ``not_configured`` (no revocation URL) — is recorded in the revocation
record and in the link's history (a transition that keeps ``revoked``) and logged; the tokens are forgotten
either way.
"""

from __future__ import annotations

from typing import Any

from switchboard import egress
from switchboard.domain.errors import SwitchboardError
from switchboard.domain.ids import utcnow
from switchboard.domain.runs import SYSTEM_ACTOR, LinkStatus, OAuth2Revocation
from switchboard.observability import logger
from switchboard.runtime.credentials import oauth_client
from switchboard.runtime.credentials.contract import OAuth2RevokeDocument, OAuth2RevokeRequest
from switchboard.store import link_secrets, links, oauth_revocations


def revoke(request: OAuth2RevokeRequest) -> OAuth2RevokeDocument:
    revocation = oauth_revocations.get_revocation(request.link_id)
    if revocation is None or revocation.sealed_secret is None:
        logger.info("no pending revocation for the link", extra={"link_id": request.link_id})
        return OAuth2RevokeDocument(link_id=request.link_id, outcome="not_pending")
    outcome = _revoke_at_provider(revocation)
    if oauth_revocations.finish_revocation(revocation.id, outcome):
        _record(revocation, outcome)
    logger.info("oauth2 tokens revoked at the provider", extra={"link_id": revocation.id, "outcome": outcome})
    return OAuth2RevokeDocument(link_id=revocation.id, outcome=outcome)


def _revoke_at_provider(revocation: OAuth2Revocation) -> str:
    from httpx2 import HTTPError

    try:
        config = oauth_client.app_config(revocation.app_connection_id)
    except oauth_client.ProviderRefused:
        return "not_configured"
    url = config.get("revocation_url")
    if not url:
        return "not_configured"
    try:
        tokens = link_secrets.open_values(revocation)
    except SwitchboardError:
        logger.warning("a revoked link's tokens could not be opened", extra={"link_id": revocation.id})
        return "provider_error"
    statuses: list[int] = []
    try:
        with oauth_client.oauth2_client(config) as client:
            for hint in ("refresh_token", "access_token"):
                token = tokens.get(hint)
                if isinstance(token, str) and token:
                    statuses.append(_revoke_one(client, str(url), token, hint))
    except egress.EgressRefused as refused:
        logger.info("revocation endpoint refused by the egress rule", extra={"reason": refused.code})
        return "destination_not_allowed"
    except HTTPError as error:
        logger.info("revocation endpoint unreachable", extra={"error_type": type(error).__name__})
        return "unreachable"
    return "revoked" if statuses and all(status == 200 for status in statuses) else "provider_error"


def _revoke_one(client: Any, url: str, token: str, hint: str) -> int:
    response = client.revoke_token(url, token=token, token_type_hint=hint)
    status: int = response.status_code
    if status != 200:
        logger.info("revocation endpoint answered", extra={"status": status, "token_type_hint": hint})
    return status


def _record(revocation: OAuth2Revocation, outcome: str) -> None:
    """The outcome in the link's history, while the link is the revoked one (not replaced since)."""
    link = links.get_link(revocation.app_id, revocation.user_id, revocation.requirement_id)
    if link is None or link.id != revocation.id or link.status is not LinkStatus.revoked:
        return
    reason = f"tokens revoked at the provider: {outcome}"
    links.record_unchanged(link, reason, utcnow(), by=SYSTEM_ACTOR)
