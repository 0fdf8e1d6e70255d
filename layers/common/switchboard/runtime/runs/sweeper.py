"""The sweeper: nothing is left unfinished for good. It runs every minute (an EventBridge Scheduler rate
schedule on the dispatcher) and reads the unfinished-runs index (gsi2) for the entries that are due:

- a ``created`` run that has not started within a minute of its creation (its starter crashed, its queue
  message was lost): its execution is started on the background executor (a sync caller has had its 202 by
  then; should one already run on the sync executor, the first to claim the run runs it, the other ends at
  once); one canceled meanwhile ends
  ``canceled``; one still not started after ``GIVE_UP_STARTING`` ends ``failed`` (``not_started``);
- a run ``awaiting_input`` whose open request is past its time (the service times a callback out itself; after
  the local stack restarts, nothing else does): the callback is failed ``input_timeout``, which wakes the run;
- a running run past its deadline plus ``DEADLINE_GRACE`` (its executor stopped for good, or is stuck): its
  execution is stopped and the run ends ``failed`` (``deadline_exceeded``).

Each action is conditional (a run that moved on meanwhile is left alone), so two sweepers never fight.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from switchboard.domain.ids import utcnow
from switchboard.domain.runs import RUNNING, TERMINAL, Run, RunStatus
from switchboard.invoker import InvokeThrottled, get_invoker
from switchboard.observability import logger, metrics
from switchboard.runtime.runs.canceling import wake_up
from switchboard.runtime.runs.ending import end_run
from switchboard.runtime.runs.program_contract import TIMED_OUT_CALLBACK, deadline_exceeded
from switchboard.runtime.runs.starting import start_execution
from switchboard.store import keys, runs

GIVE_UP_STARTING = timedelta(minutes=15)
DEADLINE_GRACE = timedelta(minutes=2)
INPUT_GRACE = timedelta(seconds=30)


def sweep(now: datetime | None = None, look_ahead: timedelta = timedelta(0)) -> dict[str, int]:
    """One pass over every partition of the index; what it did, by kind. ``look_ahead`` also starts the
    created runs that would be due within it (after a restart of the local stack nothing else starts
    them; starting one that is being started is harmless: its execution is named after it)."""
    now = now or utcnow()
    done: dict[str, int] = {}
    for shard in range(keys.ACTIVE_SHARDS):
        for run_id, _ in runs.due_runs(shard, now + look_ahead):
            run = runs.get_run(run_id)
            if run is None or run.status in TERMINAL:
                continue
            action = _sweep_one(run, now)
            if action is not None:
                done[action] = done.get(action, 0) + 1
                logger.info("swept a run", extra={"run_id": run.id, "action": action})
    for action, count in done.items():
        metrics.add_metric(name=f"Swept{action.title().replace('_', '')}", unit="Count", value=count)
    return done


def _sweep_one(run: Run, now: datetime) -> str | None:
    if run.status is RunStatus.created:
        return _unstarted(run, now)
    if run.deadline_at is not None and now >= run.deadline_at + DEADLINE_GRACE:
        if run.execution_arn:
            get_invoker().stop_execution(
                run.execution_arn, "deadline_exceeded", "the run passed its deadline"
            )
        end_run(
            run,
            RunStatus.failed,
            result={"error": deadline_exceeded(run.timeout_seconds)},
            from_statuses=RUNNING,
        )
        return "deadline_exceeded"
    if run.status is RunStatus.awaiting_input and _expired_requests(run, now):
        wake_up(_with_only(run, _expired_requests(run, now)), TIMED_OUT_CALLBACK, "no answer came in time")
        return "input_timeout"
    return None


def _unstarted(run: Run, now: datetime) -> str:
    if run.cancel_requested_at is not None:
        end_run(run, RunStatus.canceled, from_statuses={RunStatus.created})
        return "canceled"
    if now - run.created_at >= GIVE_UP_STARTING:
        error = {"type": "not_started", "message": "the run could not be started"}
        end_run(run, RunStatus.failed, result={"error": error}, from_statuses={RunStatus.created})
        return "not_started"
    try:
        start_execution(run.id, "background")
    except InvokeThrottled:
        return "start_throttled"
    return "started"


def _expired_requests(run: Run, now: datetime) -> list[str]:
    expired = []
    for request_id, request in run.input_requests.items():
        if request.get("state") != "open" or not request.get("requested_at"):
            continue
        asked = datetime.fromisoformat(str(request["requested_at"]))
        if now >= asked + timedelta(seconds=int(request.get("timeout_seconds", 0))) + INPUT_GRACE:
            expired.append(request_id)
    return expired


def _with_only(run: Run, request_ids: list[str]) -> Run:
    requests: dict[str, dict[str, Any]] = {key: run.input_requests[key] for key in request_ids}
    return run.model_copy(update={"input_requests": requests})
