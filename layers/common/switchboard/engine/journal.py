"""Committing: the run journal, what a run has done, in the order it did it.

``RunJournal`` owns the run's

- **events**: the run's own (``run.started``, the skips, the nodes that never started, the terminal event)
  go out through its sink in the order the journal is told of them; the sink numbers them in that order
  (``runtime/runs/events.py``). A node's own events are emitted by its work (``engine/node_work.py``);
- **spans**: the run span it opens, and every node's spans as its record is committed (``engine/tracing.py``);
- **results**: each node's ``NodeRecord`` in commit order, its ``NodeResult``, the outputs handed on to the
  nodes that reference them, the run's output, and why the run stopped (the first reason wins).

Its API: ``open`` → ``commit`` / ``skip`` / ``cancel`` / ``halt`` (any number, in any order) → ``close``,
which makes the ``RunResult``. Redaction happens before: records come redacted from the node's work, and the
sink given is the engine's redacting sink.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from switchboard.engine.attempts import CANCELED
from switchboard.engine.contracts import EventSink, NodeError, NodeResult, RunContext, RunResult, Span
from switchboard.engine.mapping import RunState
from switchboard.engine.records import NodeRecord
from switchboard.engine.tracing import SpanRecorder, error_data

TERMINAL_EVENTS = {"completed": "run.completed", "failed": "run.failed", "canceled": "run.canceled"}

Stop = Literal["failed", "canceled"]


class RunJournal:
    def __init__(self, events: EventSink, tracer: SpanRecorder, state: RunState) -> None:
        self.events = events
        self.tracer = tracer
        self.state = state
        """The outputs committed nodes hand on (read by the references of the nodes after them)."""
        self.records: list[NodeRecord] = []
        self.results: dict[str, NodeResult] = {}
        self.output: Any = None
        self.stop: Stop | None = None
        self.error: NodeError | None = None
        self.failed_node: str | None = None
        self.run_span: Span | None = None

    def open(self, context: RunContext) -> Span:
        """The run starts: its span (the trace's root) and ``run.started``."""
        self.run_span = self.tracer.start(
            "run",
            context.run_id,
            None,
            inputs=dict(context.input),
            attributes={"run.id": context.run_id},
            span_id=context.trace_id,
        )
        self.events.emit("run.started", {"run_id": context.run_id})
        return self.run_span

    def commit(self, record: NodeRecord, *, run_output: bool = False) -> bool:
        """A node ended: keep its record, its spans and its result. Its output is handed on when it completed
        (or failed with ``behavior: return``): True, its dependents may go on. Otherwise the run stops
        (canceled, or failed naming the node) and False. ``run_output``: its output is the run's."""
        self.records.append(record)
        self.tracer.adopt(record.spans)
        self.results[record.node_id] = record.result()
        if record.status == "completed" or (record.status == "failed" and record.behavior == "return"):
            self.state.set_output(record.node_id, record.output)
            if record.status == "completed" and run_output:
                self.output = record.output
            return True
        if record.status == "canceled":
            self.halt("canceled", CANCELED)
            return False
        error = record.error or NodeError("internal_error", "the node failed without an error")
        details = {"node_id": record.node_id, **(error.details or {})}
        message = f"node '{record.node_id}' failed: {error.message}"
        if self.halt("failed", NodeError(error.type, message, details)):
            self.failed_node = record.node_id
        return False

    def skip(self, node_id: str, reason: str) -> None:
        """A node that does not run: ``node.skipped`` with why."""
        self.results[node_id] = NodeResult("skipped")
        self.events.emit("node.skipped", {"node_id": node_id, "reason": reason})

    def cancel(self, node_id: str) -> None:
        """A node that never started because the run was canceled."""
        self.results[node_id] = NodeResult("canceled", error=CANCELED)
        self.events.emit("node.canceled", {"node_id": node_id})

    def halt(self, stop: Stop, error: NodeError) -> bool:
        """The run stops. The first reason to stop wins (True); later ones (a node failing while the run
        cancels) are recorded on their nodes only (False)."""
        if self.stop is not None:
            return False
        self.stop, self.error = stop, error
        return True

    def has_ended(self, node_id: str) -> bool:
        return node_id in self.results

    def close(self, node_ids: Sequence[str], finish: Callable[[str, dict[str, Any]], None]) -> RunResult:
        """The run ends: its terminal event goes to ``finish`` (the driver's), its span closes with the
        run's token usage, and every node of ``node_ids`` has a result (``skipped`` if nothing ran it)."""
        assert self.run_span is not None, "the journal was opened"
        status = self.stop or "completed"
        output = self.output if status == "completed" else None
        terminal: dict[str, Any] = {"output": output} if status == "completed" else {}
        if status == "failed":
            terminal = {"error": error_data(self.error or CANCELED)}
        finish(TERMINAL_EVENTS[status], terminal)
        usage = self.tracer.total_usage()
        self.tracer.end(self.run_span, status, outputs=output, error=self.error, usage=usage)
        return RunResult(
            status=status,
            nodes={node_id: self.results.get(node_id, NodeResult("skipped")) for node_id in node_ids},
            output=output,
            error=self.error,
            spans=self.tracer.spans(),
            usage=usage,
            authorization_failures=[f for record in self.records for f in record.authorization_failures],
            terminal_event=(TERMINAL_EVENTS[status], terminal),
            records=self.records,
        )
