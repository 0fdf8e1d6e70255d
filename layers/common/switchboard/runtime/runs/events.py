"""The run's event stream as the engine writes it: numbered in emit order, buffered, written in batches.

Events are flushed when 25 are waiting, by a background flusher at most ``FLUSH_INTERVAL`` after they were
emitted (so a live stream sees them promptly, even while a node waits on a slow upstream), and at the terminal
event, which keeps a short run to one or two writes. Use the sink as a context manager. A sink whose writer is
no longer ``alive`` (an executor invocation past its time) drops what it would write.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from switchboard.domain.ids import new_id, random_body, utcnow
from switchboard.domain.runs import RunEvent
from switchboard.runtime.runs import artifacts
from switchboard.store import runs

FLUSH_INTERVAL = 0.25
FLUSH_SIZE = 25
TERMINAL_EVENTS = frozenset({"run.completed", "run.failed", "run.canceled"})
EVENT_BYTES = 32_000
"""An event's data above this is stored as previews with references (``artifacts.shrink``): an events page
of 100 stays far under a Lambda response."""


class BufferedEventSink:
    def __init__(
        self,
        run_id: str,
        expires_at: int,
        *,
        first_sequence: int = 1,
        clock: Callable[[], datetime] = utcnow,
        write: Callable[[list[dict[str, Any]]], None] = runs.write_events,
        files: artifacts.RunFiles | None = None,
        alive: Callable[[], bool] = lambda: True,
    ) -> None:
        self._run_id = run_id
        self._alive = alive
        self._files = files
        self._expires_at = expires_at
        self._next = first_sequence
        self._clock = clock
        self._write = write
        self._pending: list[RunEvent] = []
        self._oldest: float | None = None
        self._lock = threading.Lock()
        self._written: list[RunEvent] = []
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None

    def __enter__(self) -> BufferedEventSink:
        self._flusher = threading.Thread(
            target=self._flush_periodically, name=f"events-{self._run_id}", daemon=True
        )
        self._flusher.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join()
        self.flush()

    def _flush_periodically(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL / 2):
            with self._lock:
                if self._oldest is not None and time.monotonic() - self._oldest >= FLUSH_INTERVAL:
                    self._flush_locked()

    @property
    def events(self) -> list[RunEvent]:
        """Every event emitted so far (written or pending), in sequence order."""
        with self._lock:
            return [*self._written, *self._pending]

    @property
    def next_sequence(self) -> int:
        with self._lock:
            return self._next

    def emit(self, event_type: str, data: Mapping[str, Any]) -> None:
        if self._files is not None and artifacts.size_of(data) > EVENT_BYTES:
            name = f"events/{event_type}-{random_body()}"
            data = artifacts.shrink(self._files, name, dict(data), EVENT_BYTES)
        with self._lock:
            event = RunEvent.model_construct(  # every field is made here, valid by construction
                id=new_id("event"),
                run_id=self._run_id,
                type=event_type,
                sequence=self._next,
                timestamp=self._clock(),
                data=dict(data),
            )
            self._next += 1
            self._pending.append(event)
            if self._oldest is None:
                self._oldest = time.monotonic()
            terminal = event_type in TERMINAL_EVENTS
            if terminal or len(self._pending) >= FLUSH_SIZE:
                self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def take_pending(self) -> list[RunEvent]:
        """The events not written yet, handed to the caller to write (and no longer this sink's to write)."""
        with self._lock:
            pending, self._pending, self._oldest = self._pending, [], None
            self._written.extend(pending)
            return pending

    def _flush_locked(self) -> None:
        if not self._pending:
            return
        if not self._alive():
            # The writer's time is up (a Lambda invocation past its timeout): it writes nothing more.
            self._pending, self._oldest = [], None
            return
        batch, self._pending, self._oldest = self._pending, [], None
        self._write([runs.event_item(event, self._expires_at) for event in batch])
        self._written.extend(batch)
