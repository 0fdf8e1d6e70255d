"""Reading the runs of one App: runs, their events, their traces.

A run of another App is 404, whatever the caller may see elsewhere. Big values are in S3
(``artifacts``): one run answers with them inline when the whole fits a response (``RESPONSE_BYTES``), else
with references carrying short-lived presigned download URLs; lists, event pages and traces always carry the
references.
"""

from __future__ import annotations

from datetime import datetime

from switchboard.api.views.runs import EventOut, RunOut, TraceOut, TraceSummaryOut
from switchboard.domain.deliveries import Delivery
from switchboard.domain.errors import NotFound
from switchboard.domain.runs import Run, RunStatus
from switchboard.runtime.runs import artifacts, sessions
from switchboard.store import run_listing, runs
from switchboard.store.deliveries import list_run_deliveries


def run_of_app(app_id: str, run_id: str) -> Run:
    run = runs.get_run(run_id)
    if run is None or run.app_id != app_id:
        raise NotFound("run not found")
    return run


RESPONSE_BYTES = 5_000_000
"""What one answer may carry inline (a Lambda response is at most 6 MB)."""


def view(
    run: Run, *, invoked: bool = False, last_node_output: bool = False, budget: int = RESPONSE_BYTES
) -> RunOut:
    """The run as a caller sees it (``invoked``: the direct-invoke shape), big values inline when they fit
    ``budget``, else referenced with download URLs."""
    shown = RunOut.invoked(run, last_node_output) if invoked else RunOut.of(run)
    expanded = artifacts.expand({"output": shown.output, "nodes": shown.nodes}, budget)
    return shown.model_copy(update=expanded)


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
    return [view(run, budget=0) for run in found], cursor


def list_events(
    app_id: str, run_id: str, after_sequence: int, limit: int
) -> tuple[list[EventOut], str | None]:
    """Stored events after ``after_sequence``; the cursor (the last sequence) only when the page is full."""
    run_of_app(app_id, run_id)
    found = runs.list_events(run_id, after_sequence, limit)
    cursor = str(found[-1].sequence) if len(found) == limit else None
    return [EventOut.of(event, artifacts.expand(event.data, 0)) for event in found], cursor


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
    document = artifacts.load(runs.get_trace(run.id)) or {}
    document = artifacts.expand({**document, "spans": artifacts.load_items(document.get("spans"))}, 0)
    shown = TraceOut.of_trace(run, document)
    return shown.model_copy(update=artifacts.expand({"output": shown.output}, RESPONSE_BYTES))
