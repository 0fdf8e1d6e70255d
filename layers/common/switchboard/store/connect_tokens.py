"""Connect tokens (links table): one record per token, holding only the token's hash.

The record outlives its ``expires_at`` by a day (``ttl``, DynamoDB TTL), so an expired token can be told
from one that never existed (410 against 401) until TTL removes it.
"""

from __future__ import annotations

from switchboard.domain.runs import ConnectToken
from switchboard.store import keys
from switchboard.store.control import from_item, to_item
from switchboard.store.links import links_table
from switchboard.store.table import put_op


def create_connect_token(token: ConnectToken) -> None:
    table = links_table()
    table.write(
        put_op(table.name, to_item(token, keys.connect_token(token.id)), "attribute_not_exists(pk)"),
        "the connect token already exists",
    )


def get_connect_token(token_id: str) -> ConnectToken | None:
    item = links_table().get(keys.connect_token(token_id))
    return from_item(ConnectToken, item) if item else None
