"""What a run's execution records from the engine's result: the run's result fields, the run span's id (the
same in every invocation), the deadline's error, and a session's history as the engine reads it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from switchboard.domain.runs import Run
from switchboard.engine.contracts import NodeError, RunResult
from switchboard.engine.records import span_to_json
from switchboard.engine.tracing import error_data
from switchboard.runtime.runs.program_contract import deadline_exceeded
from switchboard.store import sessions


def deadline_error(run: Run) -> NodeError:
    """The error of a run past its deadline, as a node error (the sweeper's too: ``program_contract``)."""
    fields = deadline_exceeded(run.timeout_seconds)
    return NodeError(fields["type"], fields["message"], fields["details"])


def error_fields(error: NodeError) -> dict[str, Any]:
    """A node error as ``engine.errors.StepError``'s keyword arguments."""
    return {"type_": error.type, "message": error.message, "details": error.details}


def result_fields(result: RunResult) -> dict[str, Any]:
    """The run's ``result`` as ``ending.end_run`` stores it: output, each node's status, usage, error."""
    nodes = {
        node_id: {
            "status": node.status,
            "output": node.output,
            "error": error_data(node.error) if node.error else None,
        }
        for node_id, node in result.nodes.items()
    }
    fields: dict[str, Any] = {
        "output": result.output,
        "nodes": nodes,
        "usage": result.usage,
        "error": error_data(result.error) if result.error else None,
    }
    return json.loads(json.dumps(fields, default=str))  # type: ignore[no-any-return]


def trace_id(run_id: str) -> str:
    """The run span's id: the same in every invocation, so node spans from any of them hang under it."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:16]


def run_trace(
    run: Run, result: RunResult, node_spans: list[dict[str, Any]], resolutions: list[dict[str, Any]]
) -> dict[str, Any]:
    """The trace the run ends with: its run span, then its nodes' spans, and how its credentials resolved
    (without when each link was last used)."""
    return {
        "run_id": run.id,
        "app_id": run.app_id,
        "version": run.version,
        "spans": [_run_span(run, result), *node_spans],
        "credential_resolutions": [
            {name: value for name, value in resolution.items() if name != "last_used_at"}
            for resolution in resolutions
        ],
    }


def _run_span(run: Run, result: RunResult) -> dict[str, Any]:
    found = next((span for span in result.spans if span.kind == "run"), None)
    document = span_to_json(found) if found is not None else {"kind": "run", "name": run.id}
    started = run.started_at or run.created_at
    return {**document, "id": trace_id(run.id), "parent_id": None, "started_at": started.isoformat()}


def session_history(run: Run) -> list[Mapping[str, Any]]:
    """The session's earlier turns as chat messages (a run outside a session has none)."""
    if not run.session_id:
        return []
    messages: list[Mapping[str, Any]] = []
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
