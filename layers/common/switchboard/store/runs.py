"""Runs, their ordered events and their trace, in the runs table (every item expires through TTL).

State transitions are conditional writes on ``status``, so a run starts once and finishes once even when
the executor is invoked twice for it.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from boto3.dynamodb.types import Binary

from switchboard import aws
from switchboard.domain.errors import Conflict
from switchboard.domain.ids import iso
from switchboard.domain.runs import Run, RunEvent, RunStatus
from switchboard.settings import get_settings
from switchboard.store import keys
from switchboard.store.control import from_item, to_item
from switchboard.store.table import Item, Table, from_dynamo, put_op, to_dynamo, translate_errors, update_op

_BATCH = 25


def runs_table() -> Table:
    return Table(get_settings().runs_table)


def create_run(run: Run) -> None:
    index = keys.listing_index(keys.app_runs(run.app_id), run.created_at, run.id)
    runs_table().write(
        put_op(runs_table().name, to_item(run, keys.run(run.id), index), "attribute_not_exists(pk)")
    )


def get_run(run_id: str) -> Run | None:
    item = runs_table().get(keys.run(run_id))
    return from_item(Run, item) if item else None


def mark_started(run: Run, at: datetime) -> Run:
    """created → started; Conflict when the run already left ``created`` (another executor has it)."""
    item = runs_table().update_returning(
        update_op(
            runs_table().name,
            keys.run(run.id),
            "SET #status = :started, started_at = :at",
            "#status = :created AND attribute_not_exists(cancel_requested_at)",
            {":started": RunStatus.started.value, ":created": RunStatus.created.value, ":at": iso(at)},
        ),
        "the run is not waiting to start",
    )
    return from_item(Run, item)


def claim(run_id: str, at: datetime) -> tuple[bool, Run | None]:
    """created → started in one conditional write that reads the run too: ``(True, the started run)``, or
    ``(False, the run as it stood)`` when it was not waiting to start (already claimed or finished, or its
    cancellation was requested), or ``(False, None)`` when there is no such run."""
    claimed, item = runs_table().update_or_current(
        update_op(
            runs_table().name,
            keys.run(run_id),
            "SET #status = :started, started_at = :at",
            "#status = :created AND attribute_not_exists(cancel_requested_at)",
            {":started": RunStatus.started.value, ":created": RunStatus.created.value, ":at": iso(at)},
        )
    )
    return claimed, from_item(Run, item) if item else None


_RESULT_FIELDS = ("output", "nodes", "error", "usage")


def _finish_op(
    run_id: str, status: RunStatus, at: datetime, result: dict[str, Any], from_status: RunStatus
) -> dict[str, Any]:
    values: Item = {":status": status.value, ":at": iso(at), ":from": from_status.value}
    sets = ["#status = :status", "ended_at = :at"]
    for name in _RESULT_FIELDS:
        if name in result:
            sets.append(f"#{name} = :{name}")
            values[f":{name}"] = result[name]
    return update_op(runs_table().name, keys.run(run_id), "SET " + ", ".join(sets), "#status = :from", values)


def finish(
    run_id: str, status: RunStatus, at: datetime, result: dict[str, Any], from_status: RunStatus
) -> Run:
    """Write the terminal status and result once: only from ``from_status``."""
    item = runs_table().update_returning(
        _finish_op(run_id, status, at, result, from_status), "the run already finished"
    )
    return from_item(Run, item)


def finish_with_trace(
    run: Run, status: RunStatus, at: datetime, result: dict[str, Any], trace: dict[str, Any]
) -> Run:
    """``started → status`` with the result, and the run's trace, in one TransactWriteItems: both or neither.

    The trace is its own item (a run item with its input and result is already close to DynamoDB's 400 kB),
    so the transaction holds two items of at most 400 kB each. When the run is no longer ``started`` (another
    invocation finished it, with its own trace), nothing is written and ``Conflict`` is raised.

    A transaction returns no item: the answer is ``run`` with what this write set, as a read would give it.
    Only a change made to the run by someone else meanwhile (a cancellation requested after the executor last
    looked) is in the record and not in the answer.
    """
    table = runs_table()
    table.transact(
        [
            _finish_op(run.id, status, at, result, RunStatus.started),
            put_op(table.name, _trace_item(run.id, trace, run.expires_at)),
        ],
        "the run already finished",
    )
    written = from_dynamo(to_dynamo({name: result[name] for name in _RESULT_FIELDS if name in result}))
    return from_item(
        Run, {**to_item(run, keys.run(run.id)), **written, "status": status.value, "ended_at": iso(at)}
    )


def request_cancel(run_id: str, at: datetime) -> Run | None:
    """Record a cancellation request on an unfinished run; None when the run had already finished."""
    try:
        item = runs_table().update_returning(
            update_op(
                runs_table().name,
                keys.run(run_id),
                "SET cancel_requested_at = if_not_exists(cancel_requested_at, :at)",
                "attribute_exists(pk) AND #status IN (:created, :started)",
                {":at": iso(at), ":created": RunStatus.created.value, ":started": RunStatus.started.value},
            ),
            "the run already finished",
        )
    except Conflict:
        return None
    return from_item(Run, item)


def cancel_requested_at(run_id: str) -> datetime | None:
    """When the run's cancellation was requested, if it was (reads that attribute only)."""
    with translate_errors():
        response = aws.table(runs_table().name).get_item(
            Key=keys.run(run_id), ProjectionExpression="cancel_requested_at", ConsistentRead=True
        )
    requested = response.get("Item", {}).get("cancel_requested_at")
    return datetime.fromisoformat(str(requested)) if requested else None


def event_item(event: RunEvent, expires_at: int) -> Item:
    return to_item(event, keys.run_event(event.run_id, event.sequence)) | {"expires_at": expires_at}


def write_events(items: Iterable[Item]) -> None:
    """Batch-write event items (25 per call), retrying unprocessed ones."""
    pending = [{"PutRequest": {"Item": to_dynamo(item)}} for item in items]
    name = runs_table().name
    resource = aws.dynamodb_resource()
    while pending:
        chunk, pending = pending[:_BATCH], pending[_BATCH:]
        request: Any = {name: chunk}
        while request:
            with translate_errors():
                response = resource.batch_write_item(RequestItems=request)
            request = response.get("UnprocessedItems") or None


def list_events(run_id: str, after_sequence: int = 0, limit: int = 100) -> list[RunEvent]:
    partition, prefix = keys.run_events_prefix(run_id)
    start = keys.run_event(run_id, after_sequence)
    params: dict[str, Any] = {
        "KeyConditionExpression": "pk = :pk AND sk > :start",
        "ExpressionAttributeValues": {":pk": partition, ":start": start["sk"]},
        "Limit": limit,
        "ConsistentRead": True,
    }
    with translate_errors():
        response = aws.table(runs_table().name).query(**params)
    items = [i for i in response.get("Items", []) if str(i["sk"]).startswith(prefix)]
    return [from_item(RunEvent, from_dynamo(i)) for i in items]


def _trace_item(run_id: str, document: dict[str, Any], expires_at: int) -> Item:
    payload = gzip.compress(json.dumps(document, default=str, separators=(",", ":")).encode())
    return {**keys.run_trace(run_id), "encoding": "json+gzip", "payload": payload, "expires_at": expires_at}


def get_trace(run_id: str) -> dict[str, Any] | None:
    with translate_errors():
        response = aws.table(runs_table().name).get_item(Key=keys.run_trace(run_id), ConsistentRead=True)
    item = response.get("Item")
    if not item:
        return None
    payload = item["payload"]
    raw = payload.value if isinstance(payload, Binary) else payload
    assert isinstance(raw, bytes | bytearray), "the trace payload is binary"
    return json.loads(gzip.decompress(bytes(raw)))  # type: ignore[no-any-return]
