"""What a durable run's steps pass on: the events and spans one step leaves for the next to publish
(``StepEffects``), and the live sink the engine emits into, which opens the run's event sink on first use.

Only a step publishes (``program._Program.publish``): the events the engine emits outside one are carried to
the next step, so each is stored once however often the program is replayed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

from switchboard.engine.contracts import EventSink
from switchboard.engine.records import NodeRecord, span_to_json


class StepEffects:
    """Events (and the spans of the nodes that made them) waiting for the next step to publish them."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.spans: list[dict[str, Any]] = []
        self.closed_requests: dict[str, str] = {}
        self._lock = threading.Lock()

    def emit(self, event_type: str, data: Mapping[str, Any]) -> None:
        with self._lock:
            self.events.append((event_type, dict(data)))

    def add_record(self, record: NodeRecord) -> None:
        with self._lock:
            self.spans.extend(span_to_json(span) for span in record.spans)

    def take(self) -> StepEffects:
        taken = StepEffects()
        with self._lock:
            taken.events, self.events = self.events, []
            taken.spans, self.spans = self.spans, []
            taken.closed_requests, self.closed_requests = self.closed_requests, {}
        return taken

    def extend(self, other: StepEffects) -> None:
        with self._lock:
            self.events.extend(other.events)
            self.spans.extend(other.spans)
            self.closed_requests.update(other.closed_requests)


class LiveEvents:
    """The run's event sink as the engine sees it: only steps publish, so the sink opens on first use
    (``open_sink``, the program's sink for this invocation)."""

    def __init__(self, open_sink: Callable[[], EventSink]) -> None:
        self._open_sink = open_sink

    def emit(self, event_type: str, data: Mapping[str, Any]) -> None:
        self._open_sink().emit(event_type, data)
