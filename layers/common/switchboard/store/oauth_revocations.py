"""OAuth links' revocations at their provider (links table, ``OAUTH2REVOKE#<link id>``, ``ttl``).

Revoking an OAuth link removes its sealed tokens from the link's item; in the same transaction this item
keeps them (the same sealed value, so still bound to the link's record and opened by the credentials function
only) for the provider's revocation endpoint. The credentials function then records the outcome here and
forgets the tokens. A revocation never handed over is forgotten with its ``ttl``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from switchboard.domain.runs import Link, OAuth2Revocation
from switchboard.store import keys
from switchboard.store.control import from_item, to_item
from switchboard.store.links import links_table
from switchboard.store.table import Item, put_op, update_op

RECORD_TTL = timedelta(days=7)


def pending_revocation(link: Link, at: datetime) -> OAuth2Revocation | None:
    """The revocation to record when ``link`` is revoked: an OAuth link that still holds its tokens."""
    app_connection_id = link.config.get("app_connection_id")
    if link.connection_type != "oauth2" or link.sealed_secret is None or not app_connection_id:
        return None
    return OAuth2Revocation(
        id=link.id,
        app_id=link.app_id,
        user_id=link.user_id,
        requirement_id=link.requirement_id,
        app_connection_id=str(app_connection_id),
        sealed_secret=link.sealed_secret,
        created_at=at,
        ttl=int((at + RECORD_TTL).timestamp()),
    )


def put_op_for(revocation: OAuth2Revocation) -> Item:
    """Its put, for the transaction that revokes the link (a link is revoked once)."""
    table = links_table().name
    return put_op(
        table, to_item(revocation, keys.oauth2_revocation(revocation.id)), "attribute_not_exists(pk)"
    )


def get_revocation(link_id: str) -> OAuth2Revocation | None:
    item = links_table().get(keys.oauth2_revocation(link_id))
    return from_item(OAuth2Revocation, item) if item else None


def finish_revocation(link_id: str, outcome: str) -> bool:
    """Record the outcome and forget the tokens; False when it was finished already."""
    table = links_table()
    applied, _ = table.update_or_current(
        update_op(
            table.name,
            keys.oauth2_revocation(link_id),
            "SET outcome = :outcome REMOVE sealed_secret",
            "attribute_exists(sealed_secret)",
            {":outcome": outcome},
        )
    )
    return applied
