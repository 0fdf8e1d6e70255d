"""Runs, their ordered events and their trace, in the runs table (every item expires through TTL).

State transitions are conditional writes on ``status``, so a run starts once and finishes once whoever
tries: its durable execution, a replay of it, the Apps function cancelling it before it started, the sweeper.
"""

from __future__ import annotations

import contextlib
import gzip
import json
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from boto3.dynamodb.types import Binary

from switchboard import aws
from switchboard.domain.errors import Conflict, ServiceUnavailable
from switchboard.domain.ids import iso
from switchboard.domain.runs import ACTIVE, Run, RunEvent, RunStatus
from switchboard.settings import get_settings
from switchboard.store import keys, run_metrics
from switchboard.store.control import from_item, to_item
from switchboard.store.table import (
    Item,
    Table,
    delete_op,
    from_dynamo,
    put_op,
    to_dynamo,
    translate_errors,
    update_op,
)

_BATCH = 25


def runs_table() -> Table:
    return Table(get_settings().runs_table)


START_GRACE = timedelta(seconds=60)
"""A created run that has not started by then is the sweeper's to start (again)."""


def run_item(run: Run) -> Item:
    """A new run's item: listed under its App (gsi1) and in the unfinished-runs index (gsi2), due when it
    should have started; ``due_when_started`` is its index entry once started (its deadline)."""
    listing = keys.listing_index(keys.app_run_shard(run.app_id, run.id), run.created_at, run.id)
    active = keys.active_run_index(run.id, run.created_at + START_GRACE)
    started = keys.active_run_index(run.id, run.deadline_at or run.created_at)["gsi2sk"]
    return to_item(run, keys.run(run.id), {**listing, **active}) | {"due_when_started": started}


def create_op(run: Run) -> dict[str, Any]:
    return put_op(runs_table().name, run_item(run), "attribute_not_exists(pk)")


def create_run(run: Run) -> None:
    runs_table().write(create_op(run))


def get_run(run_id: str) -> Run | None:
    item = runs_table().get(keys.run(run_id))
    return from_item(Run, item) if item else None


def claim(run_id: str, at: datetime, execution_arn: str) -> tuple[bool, Run | None]:
    """created → started, by one execution, in one conditional write that reads the run too: ``(True, the
    started run)``, or ``(False, the run as it stood)`` when it was not waiting to start (already claimed,
    finished, or its cancellation requested), or ``(False, None)`` when there is no such run. The run's
    index entry becomes its deadline."""
    claimed, item = runs_table().update_or_current(
        update_op(
            runs_table().name,
            keys.run(run_id),
            "SET #status = :started, started_at = :at, execution_arn = :arn, gsi2sk = due_when_started",
            "#status = :created AND attribute_not_exists(cancel_requested_at)",
            {
                ":started": RunStatus.started.value,
                ":created": RunStatus.created.value,
                ":at": iso(at),
                ":arn": execution_arn,
            },
        )
    )
    return claimed, from_item(Run, item) if item else None


_RESULT_FIELDS = ("output", "nodes", "error", "usage")


class EventTaken(Exception):
    """The terminal event's sequence is taken (an event was written meanwhile): try the next one."""


def finish(
    run: Run,
    status: RunStatus,
    at: datetime,
    result: dict[str, Any],
    from_statuses: Collection[RunStatus],
    terminal: RunEvent,
    trace: dict[str, Any] | None = None,
    events: Sequence[RunEvent] = (),
) -> Run:
    """Write the terminal status with the result, the events before it, the terminal event and the trace in
    one TransactWriteItems: all or nothing. Only from ``from_statuses``, and (but for ``canceled``) only while
    no cancellation was requested (``Conflict`` otherwise: someone else ended it, or a cancellation came
    first); the run leaves the unfinished-runs index. ``EventTaken`` when the terminal event's sequence is
    already used.

    A transaction returns no item: the answer is ``run`` with what this write set, as a read would give it.
    """
    table = runs_table()
    values: Item = {":status": status.value, ":at": iso(at)}
    sets = ["ended_at = :at"]
    for name in _RESULT_FIELDS:
        if name in result:
            sets.append(f"#{name} = :{name}")
            values[f":{name}"] = result[name]
    # The status last: a store that applies the actions one by one (moto) never shows it before the result.
    sets.append("#status = :status")
    allowed = []
    for index, allowed_status in enumerate(sorted(from_statuses)):
        values[f":from{index}"] = allowed_status.value
        allowed.append(f":from{index}")
    condition = f"#status IN ({', '.join(allowed)})"
    if status is not RunStatus.canceled:
        condition += " AND attribute_not_exists(cancel_requested_at)"
    ops = [
        update_op(
            table.name,
            keys.run(run.id),
            "SET " + ", ".join(sets) + " REMOVE gsi2pk, gsi2sk, due_when_started",
            condition,
            values,
        ),
        put_op(table.name, event_item(terminal, run.expires_at), "attribute_not_exists(pk)"),
    ]
    if trace is not None:
        ops.append(put_op(table.name, _trace_item(run.id, trace, run.expires_at)))
    ops += [put_op(table.name, event_item(event, run.expires_at)) for event in events]
    written = from_dynamo(to_dynamo({name: result[name] for name in _RESULT_FIELDS if name in result}))
    ended = from_item(
        Run, {**to_item(run, keys.run(run.id)), **written, "status": status.value, "ended_at": iso(at)}
    )
    # Counted in the transaction that ends it: a run ends once, so it is counted once.
    ops.append(run_metrics.count_ended_op(table.name, ended))
    reasons = table.transact_reasons(ops)
    if reasons is not None:
        if reasons[0] == "ConditionalCheckFailed":
            raise Conflict("the run already finished, or its cancellation was requested")
        if reasons[1] == "ConditionalCheckFailed":
            raise EventTaken(terminal.sequence)
        raise ServiceUnavailable("the service is busy, retry shortly")
    return ended


def delete_unstarted(run: Run) -> None:
    """Remove a run that never started (nothing could start it), and its claim on its session, at once."""
    table = runs_table().name
    ops = [delete_op(table, keys.run(run.id), "#status = :created", {":created": RunStatus.created.value})]
    if run.session_id is not None:
        ops.append(
            update_op(
                table,
                keys.session(run.app_id, run.session_id),
                "REMOVE active_run_id ADD run_count :minus",
                "active_run_id = :run",
                {":run": run.id, ":minus": -1},
            )
        )
    runs_table().transact(ops, "the run already started")


def request_cancel(run_id: str, at: datetime) -> Run | None:
    """Record a cancellation request on an unfinished run; None when the run had already finished."""
    values = {":at": iso(at), **{f":{status.value}": status.value for status in ACTIVE}}
    try:
        item = runs_table().update_returning(
            update_op(
                runs_table().name,
                keys.run(run_id),
                "SET cancel_requested_at = if_not_exists(cancel_requested_at, :at)",
                "attribute_exists(pk) AND #status IN (" + ", ".join(f":{s.value}" for s in ACTIVE) + ")",
                values,
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


def open_input_request(run: Run, request: dict[str, Any], at: datetime, due: datetime) -> None:
    """A human input request opens at ``at``: the run awaits input (from ``started``, or already awaiting
    another), and is due for the sweeper when the request's time is up (``due``). A run that begins waiting
    is counted in the App's metrics in the same transaction (a repeated opening finds it waiting already)."""
    table = runs_table()

    def opening(from_status: RunStatus) -> dict[str, Any]:
        return update_op(
            table.name,
            keys.run(run.id),
            f"SET #status = :awaiting, input_requests.#{request['id']} = :request, gsi2sk = :due",
            "#status = :from",
            {
                ":awaiting": RunStatus.awaiting_input.value,
                ":from": from_status.value,
                ":request": request,
                ":due": keys.active_run_index(run.id, due)["gsi2sk"],
            },
        )

    reasons = table.transact_reasons(
        [opening(RunStatus.started), run_metrics.count_awaiting_op(table.name, run, at)]
    )
    if reasons is None:
        return
    if reasons[0] != "ConditionalCheckFailed":
        raise ServiceUnavailable("the service is busy, retry shortly")
    table.write(opening(RunStatus.awaiting_input), "the run is not running")


def answer_input_request(run_id: str, request_id: str, at: datetime, by: str, last: bool) -> Run:
    """An open request is answered (and, when it was the ``last`` open one, the run goes on: ``started``);
    ``Conflict`` when the run is not awaiting input or the request is not open any more."""
    status = ", #status = :started" if last else ""
    request = f"input_requests.#{request_id}"
    return from_item(
        Run,
        runs_table().update_returning(
            update_op(
                runs_table().name,
                keys.run(run_id),
                f"SET {request}.#state = :answered, {request}.answered_at = :at, {request}.answered_by = :by"
                + status,
                f"#status = :awaiting AND {request}.#state = :open",
                {
                    ":answered": "answered",
                    ":open": "open",
                    ":at": iso(at),
                    ":by": by,
                    ":awaiting": RunStatus.awaiting_input.value,
                    **({":started": RunStatus.started.value} if last else {}),
                },
            ),
            "the input request is not open",
        ),
    )


def close_input_requests(run_id: str, states: dict[str, str], at: datetime) -> None:
    """The executor got its answers (or timeouts): each request gets its final state, and the run, no longer
    waiting, is ``started`` again (a no-op for a run that has ended meanwhile)."""
    sets = ["#status = :started", "gsi2sk = due_when_started"]
    values: Item = {":started": RunStatus.started.value, ":awaiting": RunStatus.awaiting_input.value}
    for index, (request_id, state) in enumerate(sorted(states.items())):
        request = f"input_requests.#{request_id}"
        sets.append(f"{request}.#state = :s{index}, {request}.closed_at = :at")
        values[f":s{index}"] = state
    values[":at"] = iso(at)
    with contextlib.suppress(Conflict):
        runs_table().write(
            update_op(
                runs_table().name, keys.run(run_id), "SET " + ", ".join(sets), "#status = :awaiting", values
            )
        )


def due_runs(shard: int, until: datetime, limit: int = 100) -> list[tuple[str, RunStatus]]:
    """Unfinished runs of one index partition that are due for the sweeper by ``until``, oldest first:
    ``(run id, status)``."""
    with translate_errors():
        response = aws.table(runs_table().name).query(
            IndexName=keys.GSI2,
            KeyConditionExpression="gsi2pk = :partition AND gsi2sk <= :until",
            ExpressionAttributeValues={
                ":partition": keys.active_runs(shard),
                ":until": keys.active_runs_due(until),
            },
            Limit=limit,
        )
    return [(keys.run_id_of(str(item["pk"])), RunStatus(str(item["status"]))) for item in response["Items"]]


def last_event_sequence(run_id: str) -> int:
    """The highest sequence of the run's stored events (0 for none): where a new writer continues."""
    partition, prefix = keys.run_events_prefix(run_id)
    with translate_errors():
        response = aws.table(runs_table().name).query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={":pk": partition, ":prefix": prefix},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
            ProjectionExpression="#sequence",
            ExpressionAttributeNames={"#sequence": "sequence"},
        )
    items = response.get("Items", [])
    return int(str(items[0]["sequence"])) if items else 0


def event_item(event: RunEvent, expires_at: int) -> Item:
    """An event's item: its data as one JSON string (``data_json``), not a nested map, so writing a run's
    many events costs one string each rather than a conversion of every value."""
    return {
        **keys.run_event(event.run_id, event.sequence),
        "id": event.id,
        "run_id": event.run_id,
        "type": event.type,
        "sequence": event.sequence,
        "timestamp": iso(event.timestamp),
        "data_json": json.dumps(event.data, separators=(",", ":"), default=str),
        "expires_at": expires_at,
    }


def _event(item: Item) -> RunEvent:
    """An event read back (its data from ``data_json``, or a map written by an earlier version)."""
    document = from_dynamo(item)
    if "data_json" in document:
        document["data"] = json.loads(document.pop("data_json"))
    return from_item(RunEvent, document)


def write_events(items: Iterable[Item]) -> None:
    """Batch-write event items (25 per call), retrying unprocessed ones."""
    pending = [{"PutRequest": {"Item": item}} for item in items]
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
    return [_event(i) for i in items]


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
