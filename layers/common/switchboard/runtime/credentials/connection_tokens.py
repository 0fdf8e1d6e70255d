"""A project ``oauth2`` connection's tokens, stored behind the secret boundary when a builder's authorization
comes back (the credentials function's code exchange, ``oauth_exchange``).

The tokens go to the connection's own Secrets Manager secret (a new version); the connection's item gets the
non-secret facts: the upstream identity, who authorized it and when, ``token_version`` (one more per tokens
written) and the decision in words (``last_event``). A reauthorization as another upstream account (another
``sub``) is refused ``identity_mismatch`` unless the builder's authorize request allowed it; the refusal is
recorded on the item too (its tokens and identity unchanged) and logged, as an allowed change is.
"""

from __future__ import annotations

from typing import Any

from switchboard.domain.errors import Conflict
from switchboard.domain.ids import utcnow
from switchboard.domain.models import Connection, ConnectionAuthorization
from switchboard.domain.runs import OAuth2State, UpstreamIdentity
from switchboard.observability import logger
from switchboard.store import connections, secrets

TOKEN_FIELDS = ["access_token", "expires_at", "refresh_token"]


def store_authorization(
    state: OAuth2State, tokens: dict[str, Any], upstream: UpstreamIdentity | None
) -> str | None:
    """Store the tokens a builder's authorization obtained (``tokens``: ``TOKEN_FIELDS``) in the state's
    connection; None when stored, else the refusal's code (``connection_not_found``, ``connection_changed``:
    it now names another OAuth app or changed meanwhile, ``identity_mismatch``)."""
    connection = connections.get_connection(state.connection_id) if state.connection_id else None
    if connection is None or connection.type != "oauth2" or connection.secret_name is None:
        return "connection_not_found"
    if connection.config.get("app_connection_id") != state.app_connection_id:
        return "connection_changed"
    current = connection.authorization
    pinned = current.upstream if current is not None else None
    changed = pinned is not None and upstream is not None and pinned.sub != upstream.sub
    by = state.started_by or ""
    if changed and not state.allow_identity_change:
        assert upstream is not None
        assert current is not None
        event = f"reauthorization as upstream account {upstream.sub} by {by} refused (identity_mismatch)"
        _record(connection, current.model_copy(update=_event(event)), by)
        return "identity_mismatch"
    version = secrets.put_secret(connection.secret_name, tokens)
    event = f"authorized by {by}" + (f" as upstream account {upstream.sub}" if upstream is not None else "")
    if changed:
        assert pinned is not None
        assert upstream is not None
        event += f"; upstream account changed from {pinned.sub} to {upstream.sub}"
    now = utcnow()
    authorization = ConnectionAuthorization(
        upstream=upstream,
        authorized_at=now,
        authorized_by=by,
        token_version=(current.token_version if current is not None else 0) + 1,
        **_event(event),
    )
    return _record(connection, authorization, by, secret_version=version, secret_fields=TOKEN_FIELDS)


def _event(event: str) -> dict[str, Any]:
    return {"last_event": event, "last_event_at": utcnow()}


def _record(
    connection: Connection, authorization: ConnectionAuthorization, by: str, **changes: Any
) -> str | None:
    """Write the connection's authorization (conditional on its version); ``connection_changed`` if someone
    changed the connection meanwhile."""
    updated = connection.model_copy(
        update={
            **changes,
            "authorization": authorization,
            "version": connection.version + 1,
            "updated_at": authorization.last_event_at,
            "updated_by": by,
        }
    )
    try:
        connections.replace_connection(updated, connection.version)
    except Conflict:
        logger.info("oauth2 connection changed meanwhile", extra={"connection_id": connection.id})
        return "connection_changed"
    logger.info(
        "oauth2 connection authorization recorded",
        extra={
            "connection_id": connection.id,
            "event": authorization.last_event,
            "token_version": authorization.token_version,
        },
    )
    return None
