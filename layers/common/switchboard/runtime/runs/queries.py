"""Reading and cancelling the runs of one App: runs, their events, their traces.

A run of another App is 404, whatever the caller may see elsewhere. Cancelling records the request: a run
that has not started never starts (the executor ends it ``canceled``), a started run stops at its next
checkpoint; the answer is the run as it is now, and a finished run is returned unchanged.
"""

from __future__ import annotations

from datetime import datetime

from switchboard.domain.errors import NotFound
from switchboard.domain.ids import utcnow
from switchboard.domain.runs import TERMINAL, Run, RunStatus
from switchboard.runtime import sessions
from switchboard.runtime.runs.views import EventOut, RunOut, TraceOut, TraceSummaryOut
from switchboard.store import run_listing, runs
from switchboard.store.deliveries import Delivery, list_run_deliveries


def run_of_app(app_id: str, run_id: str) -> Run:
    run = runs.get_run(run_id)
    if run is None or run.app_id != app_id:
        raise NotFound("run not found")
    return run


def run_deliveries(app_id: str, run_id: str) -> list[Delivery]:
    """The callback deliveries of one of the App's runs (404 for another App's run)."""
    return list_run_deliveries(run_of_app(app_id, run_id).id)


def list_runs(
    app_id: str,
    limit: int,
    next_token: str | None,
    *,
    status: RunStatus | None = None,
    user_id: str | None = None,
    session_id: str | None = None,
) -> tuple[list[RunOut], str | None]:
    session = sessions.canonical_id(session_id) if session_id is not None else None
    run_filter = run_listing.RunFilter(status=status, user_id=user_id, session_id=session)
    found, cursor = run_listing.list_runs(app_id, run_filter, limit, next_token)
    return [RunOut.of(run) for run in found], cursor


def cancel(app_id: str, run_id: str) -> Run:
    run = run_of_app(app_id, run_id)
    if run.status in TERMINAL:
        return run
    runs.request_cancel(run.id, utcnow())
    return run_of_app(app_id, run_id)


def events(app_id: str, run_id: str, after_sequence: int, limit: int) -> tuple[list[EventOut], str | None]:
    """Stored events after ``after_sequence``; the cursor (the last sequence) only when the page is full."""
    run_of_app(app_id, run_id)
    found = runs.list_events(run_id, after_sequence, limit)
    cursor = str(found[-1].sequence) if len(found) == limit else None
    return [EventOut.of(event) for event in found], cursor


def list_traces(
    app_id: str,
    limit: int,
    next_token: str | None,
    *,
    status: RunStatus | None = None,
    started_after: datetime | None = None,
    started_before: datetime | None = None,
) -> tuple[list[TraceSummaryOut], str | None]:
    run_filter = run_listing.RunFilter(
        status=status, started_after=started_after, started_before=started_before, started_only=True
    )
    found, cursor = run_listing.list_runs(app_id, run_filter, limit, next_token)
    return [TraceSummaryOut.of(run) for run in found], cursor


def trace(app_id: str, trace_id: str) -> TraceOut:
    """A run's trace: its span tree and credential resolutions (spans are written when the run ends)."""
    run = runs.get_run(trace_id)
    if run is None or run.app_id != app_id or run.started_at is None:
        raise NotFound("trace not found")
    return TraceOut.of_trace(run, runs.get_trace(run.id))
