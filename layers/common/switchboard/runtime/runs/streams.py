"""A run's events as Server-Sent Events: the stored events after a cursor, then the run followed to its end.

Framing: one message per event, ``id: <sequence>``, ``event: <type>``, ``data: <{id, type, sequence,
timestamp, data} as JSON>``, and a ``: heartbeat`` comment after 15 s without a message. A stream ends after
the run's terminal event (``run.completed``, ``run.failed``, ``run.canceled``), when the run turns out to have
ended without one (canceled before it started), or at its deadline: 25 s after it began, sooner when the
function has less time left, because API Gateway gives up on an integration after 30 s. The client resumes
with ``after_sequence`` (or the ``Last-Event-ID`` header EventSource sends when it reconnects) set to the last
``id`` it received: nothing is lost or repeated. A run that has ended with no event after the cursor answers
``204`` (which also tells EventSource to stop reconnecting).

Delivery depends on the host (``switchboard.streaming``). Behind API Gateway the response is buffered: the
client receives the window's events at once when the window ends, which for a run shorter than the window is
at its terminal event. Where the host can stream (the local stack) each message is written as soon as it is
read, and heartbeats keep an idle connection open. Events are read every 0.25 s, backing off to 1 s while
nothing happens; the executor writes them at most 0.25 s after they happen.

A new run asked for as a stream has been started (its durable execution) by the time its stream opens; the
stream begins at its first event, so nothing it did before is missed. A run that outlives the window goes on
in the executor; the client follows it with ``GET /v1/runs/{id}/stream``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, Protocol

from aws_lambda_powertools.event_handler import Response

from switchboard.domain.errors import NotFound
from switchboard.domain.runs import TERMINAL, RunEvent
from switchboard.runtime.runs.events import TERMINAL_EVENTS
from switchboard.store import runs
from switchboard.streaming import ResponseStream, StreamClosed, open_stream

EVENT_STREAM = "text/event-stream"
HEADERS = {"Content-Type": EVENT_STREAM, "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
HEARTBEAT = b": heartbeat\n\n"

HEARTBEAT_SECONDS = 15.0
DEADLINE_SECONDS = 25.0
"""A stream's window: API Gateway's integration timeout is 30 s, counted from before the function started."""
LAMBDA_MARGIN_SECONDS = 1.0
"""Kept from the function's remaining time to return the response."""
POLL_SECONDS = 0.25
MAX_POLL_SECONDS = 1.0
STATUS_CHECK_SECONDS = 2.0
"""While no event arrives, how often the run record is read to notice a run that ended without one."""
PAGE_SIZE = 100

OPENAPI_EVENT_SCHEMA: dict[str, Any] = {
    "title": "RunEventMessage",
    "type": "object",
    "description": (
        "One Server-Sent Events message, as an EventSource client reads it. The body is a sequence of such "
        "messages, each ending with a blank line, between which `: heartbeat` comments may come."
    ),
    "required": ["id", "event", "data"],
    "properties": {
        "id": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": (
                "The run event's sequence: send the last one received as after_sequence or Last-Event-ID"
            ),
        },
        "event": {
            "type": "string",
            "description": (
                "The run event's type (run.started, node.started, node.completed, …); run.completed, "
                "run.failed and run.canceled end the stream"
            ),
        },
        "data": {
            "type": "string",
            "description": "The run event {id, type, sequence, timestamp, data} as JSON on one line",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": "#/components/schemas/EventOut"},
        },
    },
    "additionalProperties": False,
}
"""The schema of one message of a run's event stream: OpenAPI 3.1 cannot describe a stream as a whole, so the
``text/event-stream`` media type's schema describes each message (which is how schemathesis reads it too).
``data`` refers to ``run_views.EventOut``, which ``GET /v1/runs/{id}/events`` puts in the Apps document."""

OPENAPI_EVENT_STREAM: dict[str, Any] = {
    "description": (
        "Server-Sent Events: a sequence of messages, one per run event (`id` = sequence, `event` = type, "
        "`data` = {id, type, sequence, timestamp, data} as JSON; the schema describes one message), and a "
        "`: heartbeat` comment after 15 s of silence. The stream ends after the terminal event "
        "(run.completed, run.failed, run.canceled) or after about 25 s: resume with after_sequence (or "
        "Last-Event-ID) set to the last id received. Behind API Gateway the window's events arrive together "
        "when it ends; on the local stack they arrive live."
    ),
    "content": {EVENT_STREAM: {"schema": OPENAPI_EVENT_SCHEMA}},
}
"""The OpenAPI response object of a route answering with a run's event stream."""


class RemainingTime(Protocol):
    """The Lambda context, as far as a stream cares."""

    def get_remaining_time_in_millis(self) -> int: ...


def frame(event: RunEvent) -> bytes:
    """One SSE message; JSON escapes line breaks, so ``data`` is always a single line."""
    payload = event.model_dump(mode="json", include={"id", "type", "sequence", "timestamp", "data"})
    data = json.dumps(payload, separators=(",", ":"))
    return f"id: {event.sequence}\nevent: {event.type}\ndata: {data}\n\n".encode()


def resume_cursor(after_sequence: int, last_event_id: int | None) -> int:
    """Where to resume: the later of the query's cursor and the id EventSource sends back."""
    return max(after_sequence, last_event_id or 0)


def stream_run_of_app(
    app_id: str,
    run_id: str,
    after_sequence: int = 0,
    *,
    last_event_id: int | None = None,
    lambda_context: RemainingTime | None = None,
) -> Response[str]:
    """``GET /v1/runs/{id}/stream``: the run must belong to the addressed App (404 otherwise)."""
    run = runs.get_run(run_id)
    if run is None or run.app_id != app_id:
        raise NotFound("run not found")
    cursor = resume_cursor(after_sequence, last_event_id)
    return sse_response(run_id, cursor, lambda_context=lambda_context)


def sse_response(
    run_id: str,
    after_sequence: int,
    *,
    deadline_seconds: float | None = None,
    lambda_context: RemainingTime | None = None,
    heartbeat_seconds: float = HEARTBEAT_SECONDS,
    extra_headers: Mapping[str, str] | None = None,
) -> Response[str]:
    """The run's events after ``after_sequence`` as ``text/event-stream`` (see the module docstring)."""
    began = time.monotonic()
    deadline = began + _window(deadline_seconds, lambda_context)
    events = runs.list_events(run_id, after_sequence, PAGE_SIZE)
    if not events and _has_ended(run_id):
        return Response(status_code=204, body="", headers={"Cache-Control": "no-store"})
    all_headers = {**HEADERS, **(extra_headers or {})}
    stream = open_stream(200, all_headers)
    body = _Body(stream, heartbeat_seconds)
    try:
        _Relay(run_id, after_sequence, body, deadline).follow(events)
    finally:
        if stream is not None:
            stream.close()
    headers = {name: value for name, value in all_headers.items() if name != "Content-Type"}
    return Response(status_code=200, content_type=EVENT_STREAM, body=body.text(), headers=headers)


def _window(deadline_seconds: float | None, lambda_context: RemainingTime | None) -> float:
    window = DEADLINE_SECONDS if deadline_seconds is None else deadline_seconds
    if lambda_context is not None:
        window = min(window, lambda_context.get_remaining_time_in_millis() / 1000 - LAMBDA_MARGIN_SECONDS)
    return max(window, 0.0)


def _has_ended(run_id: str) -> bool:
    """Nothing more will be written: the run finished, or it does not exist (any more)."""
    run = runs.get_run(run_id)
    return run is None or run.status in TERMINAL


class _Body:
    """Where messages go: straight to the open stream, or into the buffered body."""

    def __init__(self, stream: ResponseStream | None, heartbeat_seconds: float) -> None:
        self._stream = stream
        self._parts: list[bytes] = []
        self._heartbeat_seconds = heartbeat_seconds
        self._last_sent = time.monotonic()

    @property
    def gone(self) -> bool:
        return self._stream is not None and self._stream.closed

    def send(self, message: bytes) -> None:
        if self._stream is None:
            self._parts.append(message)
        else:
            self._stream.write(message)
        self._last_sent = time.monotonic()

    def next_heartbeat(self) -> float | None:
        """When a live stream is due a heartbeat; a buffered body has no idle connection to keep open."""
        return None if self._stream is None else self._last_sent + self._heartbeat_seconds

    def text(self) -> str:
        return b"".join(self._parts).decode()


class _Relay:
    def __init__(self, run_id: str, cursor: int, body: _Body, deadline: float) -> None:
        self._run_id = run_id
        self._cursor = cursor
        self._body = body
        self._deadline = deadline

    def follow(self, events: list[RunEvent]) -> None:
        try:
            self._follow(events)
        except StreamClosed:
            return

    def _follow(self, events: list[RunEvent]) -> bool:
        """Relay until the terminal event (True) or until nothing more can or may be sent (False)."""
        interval = POLL_SECONDS
        next_status_check = time.monotonic()
        while True:
            if self._relay(events):
                return True
            if len(events) == PAGE_SIZE:
                events = self._read()
                continue
            interval = POLL_SECONDS if events else min(interval * 1.5, MAX_POLL_SECONDS)
            now = time.monotonic()
            if self._body.gone or now >= self._deadline:
                return False
            if now >= next_status_check:
                if _has_ended(self._run_id):
                    return self._drain()
                next_status_check = now + STATUS_CHECK_SECONDS
            self._pause(now, interval)
            events = self._read()

    def _pause(self, now: float, interval: float) -> None:
        wake = min(now + interval, self._deadline)
        heartbeat = self._body.next_heartbeat()
        if heartbeat is not None and heartbeat <= wake:
            time.sleep(max(heartbeat - now, 0.0))
            self._body.send(HEARTBEAT)
            now = time.monotonic()
        time.sleep(max(wake - now, 0.0))

    def _read(self) -> list[RunEvent]:
        return runs.list_events(self._run_id, self._cursor, PAGE_SIZE)

    def _relay(self, events: list[RunEvent]) -> bool:
        for event in events:
            self._body.send(frame(event))
            self._cursor = event.sequence
            if event.type in TERMINAL_EVENTS:
                return True
        return False

    def _drain(self) -> bool:
        """Everything the run wrote before it ended, then stop."""
        while events := self._read():
            if self._relay(events):
                return True
        return False
