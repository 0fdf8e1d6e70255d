"""The run's trace: a flat list of spans forming a tree (run → node → attempt → agent_loop → tool_call /
llm_request). Spans are redacted as they are recorded, so a trace can be stored and shown as it is.

Span ids are 16 hex digits, unique within a trace: a random 64-bit start (from ``os.urandom``, once per
run) plus a counter. They identify, they do not protect: nothing is authorized by knowing one.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from switchboard.engine.contracts import NodeError, Span, SpanKind
from switchboard.engine.redaction import Redactor

_ID_MASK = (1 << 64) - 1


def utc_now() -> datetime:
    return datetime.now(UTC)


def error_data(error: NodeError) -> dict[str, Any]:
    data: dict[str, Any] = {"type": error.type, "message": error.message}
    if error.details:
        details: Any = error.details
        data["details"] = dict(details) if isinstance(details, Mapping) else list(details)
    return data


class _SpanIds:
    """Span ids for one invocation: a random 64-bit start, then a counter (shared by every recorder)."""

    def __init__(self) -> None:
        self._next = secrets.randbits(64)
        self._lock = threading.Lock()

    def take(self) -> str:
        with self._lock:
            span_id = f"{self._next:016x}"
            self._next = (self._next + 1) & _ID_MASK
        return span_id


class SpanRecorder:
    """Thread-safe: spans are started and ended from the scheduler and from worker threads.

    ``child()`` is a recorder for one node's spans: same ids, clock and redaction, its own list, so a node's
    spans travel with its result (and with its checkpoint, in a durable run)."""

    def __init__(
        self, redactor: Redactor, clock: Callable[[], datetime] | None = None, ids: _SpanIds | None = None
    ) -> None:
        self._redactor = redactor
        self._clock = clock or utc_now
        self._spans: list[Span] = []
        self._lock = threading.Lock()
        self._ids = ids or _SpanIds()

    def child(self) -> SpanRecorder:
        return SpanRecorder(self._redactor, self._clock, self._ids)

    def start(
        self,
        kind: SpanKind,
        name: str,
        parent: Span | None,
        *,
        inputs: Any = None,
        attributes: Mapping[str, Any] | None = None,
        span_id: str | None = None,
    ) -> Span:
        span = Span(
            id=span_id or self._ids.take(),
            parent_id=parent.id if parent is not None else None,
            kind=kind,
            name=name,
            started_at=self._clock(),
            inputs=self._redactor.value(inputs),
            attributes=self._redactor.value(dict(attributes or {})),
        )
        with self._lock:
            self._spans.append(span)
        return span

    def end(
        self,
        span: Span,
        status: str,
        *,
        outputs: Any = None,
        error: NodeError | None = None,
        usage: Mapping[str, int] | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        span.ended_at = self._clock()
        span.status = status
        span.outputs = self._redactor.value(outputs)
        span.error = self._redactor.value(error_data(error)) if error is not None else None
        span.usage = dict(usage) if usage else None
        if attributes:
            span.attributes.update(self._redactor.value(dict(attributes)))

    def annotate(self, span: Span, attributes: Mapping[str, Any]) -> None:
        span.attributes.update(self._redactor.value(dict(attributes)))

    def adopt(self, spans: list[Span]) -> None:
        """Add spans recorded elsewhere (a node's, from its child recorder or its checkpoint)."""
        with self._lock:
            self._spans.extend(spans)

    def spans(self) -> list[Span]:
        """Every span, in start order; one still open (its work was abandoned) is closed as canceled."""
        with self._lock:
            recorded = list(self._spans)
        for span in recorded:
            if span.ended_at is None:
                self.end(span, "canceled")
        return recorded

    def total_usage(self) -> dict[str, int]:
        """Token usage of every LLM request of the run, summed per counter."""
        totals: dict[str, int] = {}
        with self._lock:
            requests = [span for span in self._spans if span.kind == "llm_request" and span.usage]
        for span in requests:
            for name, count in (span.usage or {}).items():
                totals[name] = totals.get(name, 0) + count
        return totals
