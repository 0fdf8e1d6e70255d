"""Executing one run: claim it, resolve its credentials once, run the engine, record it all, finish once."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from switchboard.domain.errors import Conflict, NotFound, SwitchboardError
from switchboard.domain.ids import utcnow
from switchboard.domain.runs import Run, RunStatus
from switchboard.engine.contracts import RunResult, Span
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.runner import execute
from switchboard.observability import logger
from switchboard.runtime import credentials_client, deliveries, links_lifecycle
from switchboard.runtime.runs.events import BufferedEventSink
from switchboard.runtime.sessions import run_finished as free_session
from switchboard.runtime.versions import version_definition
from switchboard.store import runs, sessions

CANCEL_POLL_INTERVAL = 1.0


class ExecuteRequest(BaseModel):
    """The executor's input, directly or as an SQS message body: which run to execute."""

    model_config = ConfigDict(extra="forbid", strict=True)

    run_id: str = Field(min_length=1, max_length=64)


MAX_OUTPUT_BYTES = 100_000
MAX_NODES_BYTES = 200_000
"""Bounds of the stored result, so a run item (with its input, itself at most 100 kB) stays under DynamoDB's
400 kB; the full values remain in the run's events and trace."""


class RunCancellation:
    """Reads the run's cancellation flag at most once per interval, so short runs never poll; keeps when it
    was requested, for the run this invocation answers with."""

    def __init__(self, run_id: str, interval: float = CANCEL_POLL_INTERVAL) -> None:
        self._run_id = run_id
        self._interval = interval
        self._checked_at = time.monotonic()
        self.requested_at: datetime | None = None

    def is_canceled(self) -> bool:
        if self.requested_at is None and time.monotonic() - self._checked_at >= self._interval:
            self._checked_at = time.monotonic()
            self.requested_at = runs.cancel_requested_at(self._run_id)
        return self.requested_at is not None


def execute_run(run_id: str) -> Run:
    """Execute the run if this call claims it; otherwise answer with the run as another call left it."""
    claimed, run = runs.claim(run_id, utcnow())
    if run is None:
        raise NotFound("run not found")
    if not claimed:
        # Already started or finished by another invocation, or canceled before it started.
        if run.status is RunStatus.created and run.cancel_requested_at is not None:
            return _cancel_before_start(run)
        return run
    try:
        _, definition = version_definition(run.workflow_id, run.version)
        return _run_started(run, definition)
    except Exception:
        # Whatever broke, a started run must not stay "started" forever: it ends failed, once.
        logger.exception("run execution failed unexpectedly", extra={"run_id": run.id})
        error = {"type": "internal_error", "message": "the run could not be executed"}
        try:
            return deliveries.run_finished(
                free_session(
                    runs.finish(run.id, RunStatus.failed, utcnow(), {"error": error}, RunStatus.started)
                )
            )
        except Conflict:
            current = runs.get_run(run.id)
            assert current is not None
            return current


def _cancel_before_start(run: Run) -> Run:
    """A created run whose cancellation was requested never starts."""
    try:
        return deliveries.run_finished(
            free_session(runs.finish(run.id, RunStatus.canceled, utcnow(), {}, RunStatus.created))
        )
    except Conflict:
        current = runs.get_run(run.id)
        assert current is not None
        return current


def _run_started(run: Run, definition: WorkflowDefinition) -> Run:
    with BufferedEventSink(run.id, run.expires_at) as sink:
        try:
            resolved = credentials_client.resolve_for_run(run, definition)
        except SwitchboardError as refused:
            error = {"type": refused.error_code, "message": refused.message, "details": refused.details}
            sink.emit("run.failed", {"error": error})
            sink.flush()
            return _finish(run, RunStatus.failed, {"error": error}, _trace(run, [], []))
        cancellation = RunCancellation(run.id)
        result = execute(definition, resolved.context(run, sink, cancellation, _history(run)))
    links_lifecycle.record_authorization_failures(run, result.authorization_failures)
    links_lifecycle.touch_resolved_links(run, resolved.resolutions)
    if result.status == "completed" and run.session_id:
        sessions.record_turn(run, result.output)
    seen = run.model_copy(update={"cancel_requested_at": cancellation.requested_at})
    return _finish(
        seen,
        RunStatus(result.status),
        _result_fields(result),
        _trace(run, result.spans, resolved.resolutions),
    )


def _finish(run: Run, status: RunStatus, result: dict[str, Any], trace: dict[str, Any]) -> Run:
    """The run's end and its trace in one write, then what follows a run's end."""
    finished = runs.finish_with_trace(run, status, utcnow(), result, trace)
    return deliveries.run_finished(free_session(finished))


def _history(run: Run) -> list[dict[str, Any]]:
    if not run.session_id:
        return []
    messages: list[dict[str, Any]] = []
    for turn in sessions.turns(run.app_id, run.session_id):
        messages.append({"role": "user", "content": _as_text(turn.get("input"))})
        messages.append({"role": "assistant", "content": _as_text(turn.get("output"))})
    return messages


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        return _as_text(next(iter(value.values())))
    return json.dumps(value, default=str)


def _result_fields(result: RunResult) -> dict[str, Any]:
    nodes = {
        node_id: {
            "status": node.status,
            "output": node.output,
            "error": asdict(node.error) if node.error else None,
        }
        for node_id, node in result.nodes.items()
    }
    fields: dict[str, Any] = {
        "output": _bounded(result.output, MAX_OUTPUT_BYTES),
        "nodes": _bounded(nodes, MAX_NODES_BYTES),
        "usage": result.usage,
        "error": asdict(result.error) if result.error else None,
    }
    return json.loads(json.dumps(fields, default=str))  # type: ignore[no-any-return]


def _bounded(value: Any, limit: int) -> Any:
    encoded = json.dumps(value, default=str)
    if len(encoded) <= limit:
        return value
    logger.warning("run result truncated", extra={"bytes": len(encoded)})
    return {"truncated": True, "bytes": len(encoded)}


def _trace(run: Run, spans: list[Span], resolutions: list[dict[str, Any]]) -> dict[str, Any]:
    """The trace document: the spans and how each credential was resolved (not when a link was last used
    before this run: that is the link's bookkeeping, not the run's)."""
    return {
        "run_id": run.id,
        "app_id": run.app_id,
        "version": run.version,
        "spans": [asdict(span) for span in spans],
        "credential_resolutions": [
            {name: value for name, value in resolution.items() if name != "last_used_at"}
            for resolution in resolutions
        ],
    }
