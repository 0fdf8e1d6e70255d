"""The one end of every run: ``end_run``.

Every terminal path calls it: the executor's last step (completed, failed, canceled, deadline exceeded), the
Apps function cancelling a run that never started, the sweeper ending a run whose execution is gone, a run
that could not be queued. It writes the terminal status, the terminal event and the trace in one
transaction, conditional on the run's current status, so a run ends exactly once whoever tries; a run
whose cancellation was requested before its end ends ``canceled`` (the caller cancelling it was answered
that it would, and a cancellation may arrive after the executor's last look at it); the same transaction
counts the run in the App's per-minute metrics (``store.run_metrics``), so it is counted once; then
``after_end`` frees the session, schedules the callbacks and emits the run's CloudWatch metrics.
``after_end`` is safe to repeat (a retry after a crash between the two halves does what was left).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from switchboard.domain.errors import Conflict
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.runs import ACTIVE, TERMINAL, Run, RunEvent, RunStatus
from switchboard.observability import logger
from switchboard.runtime.runs import app_metrics, artifacts, sessions
from switchboard.runtime.runs.events import EVENT_BYTES
from switchboard.runtime.webhooks import deliveries
from switchboard.store import runs

TERMINAL_EVENT = {
    RunStatus.completed: "run.completed",
    RunStatus.failed: "run.failed",
    RunStatus.canceled: "run.canceled",
}
EVENTS_WITH_END = 90
"""A transaction takes 100 items: the run, its terminal event, its trace, the App's metrics minute
(``store.run_metrics``), and this many events."""
RESULT_BYTES = 200_000
"""The per-node results a run record keeps inline (with its input, itself at most 100 kB, under DynamoDB's
400 kB); the rest of them are in S3, referenced."""


def end_run(
    run: Run,
    status: RunStatus,
    *,
    result: dict[str, Any] | None = None,
    from_statuses: Collection[RunStatus] = ACTIVE,
    trace: dict[str, Any] | None = None,
    next_sequence: int | None = None,
    events: Sequence[RunEvent] = (),
) -> Run:
    """End ``run`` with ``status`` and ``result`` (``output``, ``nodes``, ``error``, ``usage``), once; answers
    the run as it ended (or as someone else ended it). ``next_sequence`` is where the terminal event goes
    (the run's events read it otherwise); ``events``, the run's last events before it, are written in the
    same transaction (at most ``EVENTS_WITH_END``; more are written first)."""
    assert status in TERMINAL
    files = artifacts.RunFiles(run.app_id, run.id)
    fields = bounded_result(files, result or {})
    if len(events) > EVENTS_WITH_END:
        runs.write_events(runs.event_item(event, run.expires_at) for event in events)
        events = ()
    sequence = next_sequence or runs.last_event_sequence(run.id) + 1
    for _ in range(5):
        terminal = RunEvent(
            id=new_id("event"),
            run_id=run.id,
            type=TERMINAL_EVENT[status],
            sequence=sequence,
            timestamp=utcnow(),
            data=_terminal_data(files, status, fields),
        )
        try:
            ended = runs.finish(
                run, status, terminal.timestamp, fields, from_statuses, terminal, trace, events
            )
            break
        except runs.EventTaken:
            sequence = runs.last_event_sequence(run.id) + 1
        except Conflict:
            current = runs.get_run(run.id)
            assert current is not None, "a run that existed is gone"
            if current.status in TERMINAL:
                return after_end(current)
            if current.cancel_requested_at is not None and status is not RunStatus.canceled:
                # Its cancellation came before its end: the cancellation wins (the caller was told so).
                kept = {name: value for name, value in (result or {}).items() if name in ("nodes", "usage")}
                return end_run(
                    current,
                    RunStatus.canceled,
                    result=kept,
                    from_statuses=from_statuses,
                    trace=trace,
                    next_sequence=sequence,
                    events=events,
                )
            return current
    else:
        raise Conflict("the run's events keep changing; it could not be ended")
    return after_end(ended)


def after_end(run: Run) -> Run:
    """What follows a run's end: its session is free, its callbacks scheduled, it is counted. Idempotent."""
    sessions.run_finished(run)
    deliveries.run_finished(run)
    app_metrics.count_run(run)
    logger.info("run ended", extra={"run_id": run.id, "app_id": run.app_id, "status": run.status.value})
    return run


def bounded_result(files: artifacts.RunFiles, result: dict[str, Any]) -> dict[str, Any]:
    """The result fields as the run record keeps them: the output whole or referenced, the node results
    shrunk to fit."""
    fields = dict(result)
    if "output" in fields:
        fields["output"] = artifacts.offload(files, "output", fields["output"])
    if fields.get("nodes"):
        nodes = {
            node_id: {
                **node,
                "output": artifacts.offload(files, f"nodes/{node_id}/output", node.get("output")),
            }
            if isinstance(node, dict)
            else node
            for node_id, node in fields["nodes"].items()
        }
        fields["nodes"] = artifacts.shrink(files, "nodes", nodes, RESULT_BYTES)
    return fields


def _terminal_data(files: artifacts.RunFiles, status: RunStatus, fields: dict[str, Any]) -> dict[str, Any]:
    if status is RunStatus.completed:
        return artifacts.shrink(files, "events/terminal", {"output": fields.get("output")}, EVENT_BYTES)  # type: ignore[no-any-return]
    if status is RunStatus.failed:
        return {"error": fields.get("error")}
    return {}
