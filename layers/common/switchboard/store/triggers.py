"""Trigger records, listed per App by name.

A trigger's name is claimed by an item of its own, written in the same transaction as the trigger, so two
triggers of one App can never share a name (409 ``name_taken``). Every change is conditional on the
``revision`` that was read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from switchboard.domain.triggers import Trigger
from switchboard.store import keys
from switchboard.store.control import control, from_item, to_item
from switchboard.store.table import delete_op, put_op

_CHANGED_CONCURRENTLY = "the trigger was changed concurrently; reload and retry"


def _item(trigger: Trigger) -> dict[str, Any]:
    return to_item(trigger, keys.trigger(trigger.id), keys.trigger_index(trigger.app_id, trigger.name))


def create_trigger(trigger: Trigger) -> None:
    table = control().name
    claim = {**keys.trigger_name_claim(trigger.app_id, trigger.name), "trigger_id": trigger.id}
    control().transact(
        [
            put_op(table, _item(trigger), "attribute_not_exists(pk)"),
            put_op(table, claim, "attribute_not_exists(pk)"),
        ],
        f"the App already has a trigger named '{trigger.name}'",
        "name_taken",
    )


def get_trigger(trigger_id: str) -> Trigger | None:
    item = control().get(keys.trigger(trigger_id))
    return from_item(Trigger, item) if item else None


def list_triggers(app_id: str, limit: int, next_token: str | None) -> tuple[list[Trigger], str | None]:
    page = control().query(keys.app_triggers(app_id), index=keys.GSI1, limit=limit, next_token=next_token)
    return [from_item(Trigger, item) for item in page.items], page.next_token


def all_triggers(app_id: str) -> list[Trigger]:
    return [
        from_item(Trigger, item) for item in control().query_all(keys.app_triggers(app_id), index=keys.GSI1)
    ]


def update_trigger(trigger: Trigger, changes: dict[str, Any], by: str, at: datetime) -> Trigger:
    """Write ``changes`` (validated field values; name, type and id never change) if nobody changed the
    trigger since ``trigger`` was read; returns the trigger as stored."""
    updated = trigger.model_copy(
        update={**changes, "updated_at": at, "updated_by": by, "revision": trigger.revision + 1}
    )
    control().write(
        put_op(control().name, _item(updated), "revision = :expected", {":expected": trigger.revision}),
        _CHANGED_CONCURRENTLY,
    )
    return updated


def delete_trigger(trigger: Trigger) -> None:
    table = control().name
    control().transact(
        [
            delete_op(
                table, keys.trigger(trigger.id), "revision = :expected", {":expected": trigger.revision}
            ),
            delete_op(table, keys.trigger_name_claim(trigger.app_id, trigger.name)),
        ],
        _CHANGED_CONCURRENTLY,
    )
