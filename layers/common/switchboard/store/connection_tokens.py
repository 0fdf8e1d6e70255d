"""A project ``oauth2`` connection's token bookkeeping on its item: the writes of the single-flight refresh
(``runtime.credentials.connection_tokens``); the tokens themselves are in the connection's secret.

- ``claim_refresh``: one conditional update takes the refresh lease (``refresh_lease``, ``refreshing_until``)
  while the item still names the tokens of ``authorization.token_version`` that were read, the connection is
  authorized, and no lease is held (or the one held ran out: its refresher crashed). One claimant wins.
- ``store_refreshed``: after the new tokens became the secret's current version, one conditional update names
  that version (``secret_version``), bumps ``authorization.token_version`` and ends the lease, only while the
  writer still holds it.
- ``release_refresh``: ends the lease without new tokens (the refresh failed and may be tried again).
- ``mark_unusable``: the grant is gone (``expired``) or refused (``unauthorized``): ``authorized_at`` removed
  (the connection reads ``authorized: false``) and the decision recorded, while the item still names the
  tokens of that version. A builder's new authorization writes the whole authorization again.

None of them changes the connection's ``version`` (its configuration did not change).
"""

from __future__ import annotations

from datetime import datetime

from switchboard.domain.errors import Conflict
from switchboard.domain.ids import iso
from switchboard.domain.models import Connection
from switchboard.store import keys
from switchboard.store.control import control, from_item
from switchboard.store.table import Item, update_op

_AUTHORIZED = "attribute_exists(#authorization.authorized_at)"


def claim_refresh(connection_id: str, token_version: int, owner: str, now: datetime, until: datetime) -> bool:
    """Take the refresh lease of the connection's tokens at ``token_version``; False when another holds it,
    or the tokens or the authorization changed since they were read."""
    try:
        control().write(
            update_op(
                control().name,
                dict(keys.connection(connection_id)),
                "SET refresh_lease = :owner, refreshing_until = :until",
                f"{_AUTHORIZED} AND #authorization.token_version = :version AND "
                "(attribute_not_exists(refreshing_until) OR refreshing_until < :now)",
                {":owner": owner, ":until": iso(until), ":now": iso(now), ":version": token_version},
            )
        )
    except Conflict:
        return False
    return True


def store_refreshed(connection_id: str, token_version: int, owner: str, secret_version: str) -> None:
    """Name the secret's new version on the item and bump ``token_version``, ending ``owner``'s lease; 409
    when the lease is no longer ``owner``'s or the connection is no longer authorized."""
    control().write(
        update_op(
            control().name,
            dict(keys.connection(connection_id)),
            "SET secret_version = :secret_version, #authorization.token_version = :next "
            "REMOVE refresh_lease, refreshing_until",
            f"{_AUTHORIZED} AND refresh_lease = :owner",
            {":secret_version": secret_version, ":next": token_version + 1, ":owner": owner},
        ),
        "the connection's refresh lease was lost",
    )


def release_refresh(connection_id: str, owner: str) -> None:
    """End ``owner``'s lease, if it still holds it."""
    try:
        control().write(
            update_op(
                control().name,
                dict(keys.connection(connection_id)),
                "REMOVE refresh_lease, refreshing_until",
                "refresh_lease = :owner",
                {":owner": owner},
            )
        )
    except Conflict:
        return


def mark_unusable(connection_id: str, token_version: int, event: str, at: datetime) -> bool:
    """Record that the tokens of ``token_version`` are unusable (``event`` in words, when); False when the
    connection's tokens changed meanwhile (a builder authorized it again) or it was already marked."""
    values: Item = {":event": event, ":at": iso(at), ":version": token_version}
    try:
        control().write(
            update_op(
                control().name,
                dict(keys.connection(connection_id)),
                "SET #authorization.last_event = :event, #authorization.last_event_at = :at "
                "REMOVE #authorization.authorized_at, refresh_lease, refreshing_until",
                f"{_AUTHORIZED} AND #authorization.token_version = :version",
                values,
            )
        )
    except Conflict:
        return False
    return True


def get_with_lease(connection_id: str) -> tuple[Connection, datetime | None] | None:
    """The connection as stored and until when its refresh lease runs (None: no lease)."""
    item = control().get(keys.connection(connection_id))
    if not item:
        return None
    until = item.get("refreshing_until")
    return from_item(Connection, item), datetime.fromisoformat(until) if isinstance(until, str) else None
