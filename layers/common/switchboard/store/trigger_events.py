"""Trigger events in the runs table: newest first per trigger, found by id, one per firing.

Recording an event writes three items in one transaction, each conditional on not existing yet:

- the event (``TRIGGER#<trg>#EVENTS#<shard>`` / ``EVT#<received_at>#<tev>``), listed newest first across
  the shards (and the unsharded ``TRIGGER#<trg>#EVENTS`` of events recorded before sharding);
- its id reference (same partition, ``ID#<tev>``), which names when it was received, to read it by id;
- the firing's claim (``TRIGGER#<trg>#FIRING`` / ``<firing key>``) naming the event: a second recording of
  the same firing (a duplicate delivery, a replayed webhook-id) writes nothing and gets the first event.

Every item expires with the runs (``expires_at``, the table's TTL). The payload is kept as JSON text
(``payload_json``): a webhook body may nest deeper than DynamoDB's maps or hold numbers it would round.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from switchboard.domain.errors import Conflict
from switchboard.domain.ids import iso
from switchboard.domain.triggers import TriggerEvent
from switchboard.store import keys
from switchboard.store.runs import runs_table
from switchboard.store.sharded import ShardedListing, read_newest_first
from switchboard.store.table import Item, put_op

_PAYLOAD = "payload_json"


@dataclass(frozen=True)
class Recorded:
    """The event stored for the firing: the one just written, or (``duplicate``) the one written before."""

    event: TriggerEvent
    duplicate: bool


def _item(event: TriggerEvent, expires_at: int) -> Item:
    item = event.model_dump(mode="json", exclude_none=True, exclude={"payload"})
    return {
        **item,
        **keys.trigger_event(event.trigger_id, event.received_at, event.id),
        _PAYLOAD: json.dumps(event.payload, separators=(",", ":")),
        "expires_at": expires_at,
    }


def _event(item: Item) -> TriggerEvent:
    document: dict[str, Any] = {name: value for name, value in item.items() if name != _PAYLOAD}
    document["payload"] = json.loads(item[_PAYLOAD]) if _PAYLOAD in item else None
    return TriggerEvent.model_validate(document)


def record_event(event: TriggerEvent, expires_at: int) -> Recorded:
    """Store the event as its firing's one event; when the firing has one already, that one (unchanged)."""
    table = runs_table()
    reference = {
        **keys.trigger_event_id(event.trigger_id, event.id),
        "received_at": iso(event.received_at),
        "expires_at": expires_at,
    }
    claim = {
        **keys.trigger_firing(event.trigger_id, event.firing_key),
        "event_id": event.id,
        "expires_at": expires_at,
    }
    new = "attribute_not_exists(pk)"
    try:
        table.transact(
            [
                put_op(table.name, claim, new),
                put_op(table.name, _item(event, expires_at), new),
                put_op(table.name, reference, new),
            ],
            "the firing was recorded already",
            "duplicate_event",
        )
    except Conflict:
        first = firing_event(event.trigger_id, event.firing_key)
        if first is None:
            raise
        return Recorded(first, duplicate=True)
    return Recorded(event, duplicate=False)


def firing_event(trigger_id: str, firing_key: str) -> TriggerEvent | None:
    """The event recorded for the firing, if it was recorded."""
    claim = runs_table().get(keys.trigger_firing(trigger_id, firing_key))
    return get_event(trigger_id, str(claim["event_id"])) if claim else None


def get_event(trigger_id: str, event_id: str) -> TriggerEvent | None:
    reference = runs_table().get(keys.trigger_event_id(trigger_id, event_id))
    if reference is None:
        return None
    received_at = datetime.fromisoformat(str(reference["received_at"]))
    item = runs_table().get(keys.trigger_event(trigger_id, received_at, event_id))
    if item is None:  # recorded before events were sharded
        item = runs_table().get(keys.unsharded_trigger_event(trigger_id, received_at, event_id))
    return _event(item) if item else None


def list_events(trigger_id: str, limit: int, next_token: str | None) -> tuple[list[TriggerEvent], str | None]:
    """The trigger's events, newest first, merged from its shards (``store.sharded``)."""
    listing = ShardedListing(
        table=runs_table().name,
        name=keys.trigger_events(trigger_id),
        partitions=keys.trigger_event_partitions(trigger_id),
        shape=keys.TRIGGER_EVENT_POSITION,
        low=keys.TRIGGER_EVENT_PREFIX,
        high=keys.TRIGGER_EVENT_PREFIX + "\uffff",
    )
    found, cursor = read_newest_first(listing, limit, next_token)
    return [_event(item) for item in found], cursor
