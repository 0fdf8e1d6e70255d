"""An end user's OAuth link as the credential a node uses: its access token (refreshed when due, through
``oauth_tokens``), its expiry and its token version, with the link's non-secret config (``url``, the app,
the scopes). The refresh token never leaves the credentials function. A link without a usable access token
becomes a credential with an ``error`` (``oauth2_link_expired``, ``oauth2_refresh_failed``,
``oauth2_not_authorized``) that fails the node using it, and only that node."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from switchboard.domain.runs import Link
from switchboard.runtime.credentials.contract import CredentialDocument, CredentialError, Resolution
from switchboard.runtime.credentials.oauth_tokens import (
    LinkTokens,
    TokensExpired,
    TokensUnusable,
    fresh_tokens,
    refresh_due,
)


def oauth_credential(
    link: Link, values: Mapping[str, Any], resolution: Resolution, used_version: int | None
) -> tuple[CredentialDocument, Resolution]:
    """The link's credential and its resolution record; ``used_version``: refresh past that version."""
    if used_version is None and not refresh_due(values):
        return _document(link, values, link.token_version), resolution
    try:
        fresh = fresh_tokens(LinkTokens(link), used_version=used_version)
    except TokensExpired as expired:
        return _unusable(link, expired), resolution.model_copy(update={"status": "expired"})
    except TokensUnusable as unusable:
        return _unusable(link, unusable), resolution
    held = fresh.held
    record = resolution.model_copy(
        update={"refreshed": fresh.refreshed, "secret_version": held.secret_version, "cached": False}
    )
    return _document(link, held.values, held.version), record


def _document(link: Link, values: Mapping[str, Any], version: int) -> CredentialDocument:
    missing = TokensUnusable("the link holds no access token")
    error = CredentialError(code=missing.code, message=missing.reason)
    return token_document(link.connection_type, link.config, values, version, error)


def _unusable(link: Link, reason: TokensUnusable) -> CredentialDocument:
    error = CredentialError(code=reason.code, message=reason.reason)
    return unusable_document(link.connection_type, link.config, error)


def token_document(
    connection_type: str,
    config: Mapping[str, Any],
    values: Mapping[str, Any],
    version: int,
    missing: CredentialError,
) -> CredentialDocument:
    """The credential of an OAuth token holder (an end user's link, a project connection): its non-secret
    ``config`` with the access token, its expiry and token version; ``missing`` without an access token."""
    if not values.get("access_token"):
        return unusable_document(connection_type, config, missing)
    document = {
        **config,
        "access_token": values["access_token"],
        "expires_at": values.get("expires_at"),
        "token_version": version,
    }
    return CredentialDocument(type=connection_type, config=document, secret_fields=["access_token"])


def unusable_document(
    connection_type: str, config: Mapping[str, Any], error: CredentialError
) -> CredentialDocument:
    """The credential of a holder without a usable access token: its config and the ``error`` that fails the
    node using it."""
    return CredentialDocument(type=connection_type, config=dict(config), secret_fields=[], error=error)
