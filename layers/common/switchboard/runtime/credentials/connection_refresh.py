"""A project ``oauth2`` connection's tokens kept fresh, once: ``ConnectionTokens`` is its ``TokenHolder``
(``oauth_tokens``: the same 60 s window, the same single-flight lease and constants as an end user's link),
and ``connection_credential`` is what the connection's nodes get.

The tokens live in the connection's Secrets Manager secret, the lease and ``authorization.token_version`` on
its item (``store.connection_tokens``); the two stores share no transaction, so a refresh writes them in this
order:

1. the new tokens (the new access token, its expiry and the rotated refresh token together) become the
   secret's new *current* version (PutSecretValue);
2. one conditional update of the item names that version, bumps ``token_version`` and ends the lease, only
   while the refresher still holds it.

The secret comes first because the rotated refresh token must never be lost: the provider already spent the
old one, and sending it again would make the provider revoke the whole grant. So a refresher always reads the
secret's current version (never a cached or recorded one) and the item only for the version, the lease and
the authorization. If a refresher dies between the two writes, the secret holds the new tokens while the
item still names the old version and the dead refresher's lease; the next reader gets the new tokens (the
current version), and once the lease runs out a refresher sends the rotated refresh token, never the spent
one. A token version handed out a moment before the item's bump is at worst one behind its tokens: a 401 to
it then refreshes once more (past that version), which is safe. Writing the secret under a staging label and
promoting it after the item update would pair them exactly, but a crash before the promotion would leave
the only valid refresh token in a version nobody reads.

An ``invalid_grant`` marks the connection's authorization ``expired`` (``authorized: false``, the decision in
``last_event``); its nodes then fail ``oauth2_connection_expired`` until a builder authorizes it again. Log
lines carry ids and versions, never a token.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from switchboard import aws
from switchboard.domain.errors import Forbidden, NotFound, ServiceUnavailable
from switchboard.domain.ids import utcnow
from switchboard.domain.models import Connection
from switchboard.domain.runs import Run
from switchboard.observability import logger
from switchboard.runtime.credentials.contract import (
    CredentialDocument,
    CredentialError,
    OAuth2UnauthorizedDocument,
    OAuth2UnauthorizedRequest,
    Resolution,
)
from switchboard.runtime.credentials.oauth_credentials import token_document, unusable_document
from switchboard.runtime.credentials.oauth_tokens import (
    HeldTokens,
    TokensExpired,
    TokensUnusable,
    fresh_tokens,
    refresh_due,
)
from switchboard.store import connection_tokens, runs, secrets

EXPIRED = "expired"
UNAUTHORIZED = "unauthorized"
CODES = {EXPIRED: "oauth2_connection_expired", UNAUTHORIZED: "oauth2_connection_unauthorized"}
"""A marked connection's decision (the start of its ``last_event``) → the code its nodes fail with."""

NO_ACCESS_TOKEN = CredentialError(
    code="oauth2_not_authorized", message="the OAuth connection holds no access token yet"
)


class ConnectionTokens:
    """A project ``oauth2`` connection as a ``TokenHolder`` (its item and its secret)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.id = connection.id
        self.app_connection_id = str(connection.config.get("app_connection_id", ""))
        self.version = _token_version(connection)

    def read(self) -> HeldTokens | None:
        read = connection_tokens.get_with_lease(self.id)
        if read is None or read[0].type != "oauth2" or read[0].secret_name is None:
            return None
        self.connection, refreshing_until = read
        self.version = _token_version(self.connection)
        if not authorized(self.connection):
            return HeldTokens({}, self.version, False, None)
        secret_version, values = _current_secret(read[0].secret_name)
        return HeldTokens(values, self.version, True, refreshing_until, secret_version)

    def claim(self, owner: str, now: datetime, until: datetime) -> bool:
        return connection_tokens.claim_refresh(self.id, self.version, owner, now, until)

    def store(self, owner: str, values: dict[str, Any]) -> HeldTokens:
        assert self.connection.secret_name is not None
        secret_version = secrets.put_secret(self.connection.secret_name, values)
        connection_tokens.store_refreshed(self.id, self.version, owner, secret_version)
        self.version += 1
        return HeldTokens(values, self.version, True, None, secret_version)

    def release(self, owner: str) -> None:
        connection_tokens.release_refresh(self.id, owner)

    def expire(self, reason: str) -> bool:
        return mark(self.id, self.version, EXPIRED, reason)


def mark(connection_id: str, token_version: int, decision: str, reason: str) -> bool:
    """Mark the connection's tokens of ``token_version`` ``expired`` or ``unauthorized`` (``authorized:
    false``); False when they changed meanwhile (or it was marked already)."""
    marked = connection_tokens.mark_unusable(connection_id, token_version, f"{decision}: {reason}", utcnow())
    logger.info(
        "oauth2 connection marked" if marked else "oauth2 connection changed while being marked",
        extra={"connection_id": connection_id, "decision": decision, "token_version": token_version},
    )
    return marked


def check_bound(run_id: str, app_id: str, connection_id: str) -> Run:
    """The run, after refusing (``NotFound``, ``Forbidden``) a request about a connection its workflow
    version does not bind; the connection's project is checked by the caller (``resolving``,
    ``unauthorized``)."""
    from switchboard.runtime.building.versions import version_definition

    run = runs.get_run(run_id)
    if run is None or run.app_id != app_id:
        raise NotFound("run not found", details={"run_id": run_id})
    _, definition = version_definition(run.workflow_id, run.version)
    if connection_id not in {ref.connection_id for _, ref in definition.connection_refs()}:
        raise Forbidden(
            "the run's workflow version does not bind this connection",
            details={"connection_id": connection_id},
        )
    return run


def unauthorized(request: OAuth2UnauthorizedRequest) -> OAuth2UnauthorizedDocument:
    """Mark the connection ``unauthorized``: a node of the run was refused with the token it had just
    refreshed (only a connection the run's workflow binds, in the run's project, while it holds that token
    version)."""
    run = check_bound(request.run_id, request.app_id, request.connection_id)
    connection = connection_tokens.get_with_lease(request.connection_id)
    if connection is None or connection[0].project_id != run.project_id:
        raise Forbidden(
            "connection outside the run's project", details={"connection_id": request.connection_id}
        )
    reason = (
        f"upstream answered {request.status_code} to node '{request.node_id}' in run {request.run_id} "
        "with a freshly refreshed token: authorize again"
    )
    marked = mark(request.connection_id, request.token_version, UNAUTHORIZED, reason)
    return OAuth2UnauthorizedDocument(connection_id=request.connection_id, marked=marked)


def authorized(connection: Connection) -> bool:
    return connection.authorization is not None and connection.authorization.authorized_at is not None


def connection_credential(
    connection: Connection,
    values: dict[str, Any],
    resolution: Resolution,
    used_version: int | None,
) -> tuple[CredentialDocument, Resolution]:
    """What the connection's nodes get: its access token (refreshed first when due, or past ``used_version``:
    a node's request was answered 401 with it), its expiry and token version; never the refresh token."""
    if not authorized(connection):
        return _unusable(connection, _refusal(connection)), resolution
    version = _token_version(connection)
    if used_version is None and not refresh_due(values):
        return _document(connection, values, version), resolution
    try:
        fresh = fresh_tokens(ConnectionTokens(connection), used_version=used_version)
    except TokensExpired as expired:
        error = CredentialError(code=CODES[EXPIRED], message=expired.reason)
        return _unusable(connection, error), resolution.model_copy(update={"status": "expired"})
    except TokensUnusable as unusable:
        current = connection_tokens.get_with_lease(connection.id)
        error = (
            _refusal(current[0])
            if current is not None and not authorized(current[0])
            else CredentialError(code=unusable.code, message=unusable.reason)
        )
        return _unusable(connection, error), resolution
    held = fresh.held
    record = resolution.model_copy(
        update={"refreshed": fresh.refreshed, "secret_version": held.secret_version, "cached": False}
    )
    return _document(connection, held.values, held.version), record


def _refusal(connection: Connection) -> CredentialError:
    event = connection.authorization.last_event if connection.authorization is not None else ""
    decision = event.split(":", 1)[0]
    if decision in CODES:
        return CredentialError(
            code=CODES[decision], message="the OAuth connection must be authorized again by a builder"
        )
    return NO_ACCESS_TOKEN


def _document(connection: Connection, values: dict[str, Any], version: int) -> CredentialDocument:
    return token_document(connection.type, connection.config, values, version, NO_ACCESS_TOKEN)


def _unusable(connection: Connection, error: CredentialError) -> CredentialDocument:
    return unusable_document(connection.type, connection.config, error)


def _token_version(connection: Connection) -> int:
    return connection.authorization.token_version if connection.authorization is not None else 0


def _current_secret(name: str) -> tuple[str, dict[str, Any]]:
    """The secret's current version (never a cached one: it may hold a refresh token the item does not name
    yet, see the module's docstring)."""
    try:
        response = aws.secrets().get_secret_value(SecretId=name)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "ClientError")
        raise ServiceUnavailable("the secret store is unavailable, retry shortly") from RuntimeError(code)
    values = json.loads(response.get("SecretString") or "{}")
    return str(response.get("VersionId", "")), values if isinstance(values, dict) else {}
