"""A listing spread over shards (partitions), read newest first and merged by sort key.

Hot listings (an App's runs, a trigger's events) write each entry to one of several partitions, so no single
partition takes every write. Reading one merges them: each shard is queried newest first (a bounded page,
``Limit`` the page size, or ``READ_SIZE`` under a filter), and an entry is taken only when no shard can still
hold a newer one. Sort keys are unique across shards (they end with the entry's id), so the order is total.

The cursor is the position of every shard: the sort key of the last entry returned (``b``; each shard goes on
strictly below it, since everything at or above it in every shard was returned or filtered out) and the shards
that have nothing more (``d``), for the listing (``p``). When a request runs out of reads (``MAX_ROUNDS`` per
shard) before its page is full, the cursor is where every shard has been read to, so nothing is skipped or
repeated. It is checked completely: exact fields, the caller's listing, a sort key of the listing's shape,
shard numbers in range and in order; anything else is 400 ``invalid_cursor``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from switchboard import aws
from switchboard.domain.errors import BadRequest
from switchboard.store.table import (
    Item,
    decode_token,
    encode_cursor,
    from_dynamo,
    is_key_value,
    translate_errors,
)

MAX_ROUNDS = 3
READ_SIZE = 100


@dataclass(frozen=True)
class ShardedListing:
    """``partitions``: every shard, the unsharded partition of older entries last. Sort keys lie between
    ``low`` (when given) and ``high``, inclusive, and match ``shape``."""

    table: str
    name: str
    partitions: list[str]
    shape: re.Pattern[str]
    high: str
    low: str | None = None
    index: str | None = None
    filter_expression: str | None = None
    filter_names: dict[str, str] = field(default_factory=dict)
    filter_values: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Shard:
    number: int
    partition: str
    frontier: str | None
    """Everything in the shard at or above it has been read (None: nothing read yet, start at the top)."""
    buffer: list[Item] = field(default_factory=list)
    exhausted: bool = False


def read_newest_first(
    listing: ShardedListing, limit: int, next_token: str | None
) -> tuple[list[Item], str | None]:
    """Up to ``limit`` entries of the listing, newest first, and the cursor of the rest (None: no more)."""
    bound, done = decode_position(listing, next_token)
    sort_key = "gsi1sk" if listing.index else "sk"
    shards = [_Shard(n, p, bound) for n, p in enumerate(listing.partitions) if n not in done]
    page_size = READ_SIZE if listing.filter_expression else limit
    reads, budget = 0, MAX_ROUNDS * len(listing.partitions)
    found: list[Item] = []
    while len(found) < limit:
        heads = [shard for shard in shards if shard.buffer]
        best = max(heads, key=lambda shard: str(shard.buffer[0][sort_key]), default=None)
        newest = str(best.buffer[0][sort_key]) if best else None
        unread = [
            shard
            for shard in shards
            if not shard.buffer
            and not shard.exhausted
            and (newest is None or shard.frontier is None or shard.frontier > newest)
        ]
        if unread and reads + len(unread) > budget:
            # Everything at or above the highest unread position has been returned or filtered out.
            position = max(str(shard.frontier) for shard in unread)
            return found, _cursor(listing, position, done, shards)
        for shard in unread:
            _fetch(listing, shard, sort_key, page_size)
            reads += 1
        if unread:
            continue
        if best is None:
            return found, None
        found.append(best.buffer.pop(0))
    if all(shard.exhausted and not shard.buffer for shard in shards):
        return found, None
    return found, _cursor(listing, str(found[-1][sort_key]), done, shards)


def _fetch(listing: ShardedListing, shard: _Shard, sort_key: str, page_size: int) -> None:
    partition_key = "gsi1pk" if listing.index else "pk"
    high = shard.frontier if shard.frontier is not None else listing.high
    values: dict[str, Any] = {":partition": shard.partition, ":high": high, **listing.filter_values}
    condition = f"{partition_key} = :partition AND {sort_key} <= :high"
    if listing.low is not None:
        values[":low"] = listing.low
        condition = f"{partition_key} = :partition AND {sort_key} BETWEEN :low AND :high"
    params: dict[str, Any] = {
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": values,
        "ScanIndexForward": False,
        "Limit": page_size + 1,  # the entry at the frontier itself comes back first and is dropped
    }
    if listing.index:
        params["IndexName"] = listing.index
    else:
        params["ConsistentRead"] = True
    if listing.filter_expression:
        params["FilterExpression"] = listing.filter_expression
    if listing.filter_names:
        params["ExpressionAttributeNames"] = listing.filter_names
    with translate_errors():
        response = aws.table(listing.table).query(**params)
    items = (from_dynamo(item) for item in response.get("Items", []))
    shard.buffer = [item for item in items if item[sort_key] != shard.frontier]
    last = response.get("LastEvaluatedKey")
    if last:
        shard.frontier = str(last[sort_key])
    else:
        shard.exhausted = True


def _cursor(listing: ShardedListing, position: str, done: set[int], shards: list[_Shard]) -> str | None:
    finished = done | {shard.number for shard in shards if shard.exhausted and not shard.buffer}
    return encode_cursor({"p": listing.name, "b": position, "d": sorted(finished)})


def decode_position(listing: ShardedListing, token: str | None) -> tuple[str | None, set[int]]:
    """The position a cursor of ``listing`` stands for: (sort key bound, finished shards); (None, {}) without
    one. 400 ``invalid_cursor`` unless it is exactly such a cursor of this listing."""
    if not token:
        return None, set()
    decoded = decode_token(token)
    count = len(listing.partitions)
    valid = (
        isinstance(decoded, dict)
        and set(decoded) == {"p", "b", "d"}
        and decoded["p"] == listing.name
        and is_key_value("gsi1sk" if listing.index else "sk", decoded["b"])
        and listing.shape.fullmatch(decoded["b"]) is not None
        and (listing.low is None or decoded["b"] >= listing.low)
        and decoded["b"] <= listing.high
        and isinstance(decoded["d"], list)
        and all(type(n) is int and 0 <= n < count for n in decoded["d"])
        and decoded["d"] == sorted(set(decoded["d"]))
        and len(decoded["d"]) < count
    )
    if not valid:
        raise BadRequest("next_token is not a valid cursor for this listing", code="invalid_cursor")
    return str(decoded["b"]), set(decoded["d"])
