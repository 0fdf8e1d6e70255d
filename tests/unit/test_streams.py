"""Run events as Server-Sent Events: framing, replay and follow, how a stream ends, buffered and streamed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from switchboard import streaming
from switchboard.domain.errors import NotFound
from switchboard.domain.runs import RunEvent, RunStatus
from switchboard.runtime.runs import streams
from switchboard.store import runs as store
from switchboard.streaming import StreamClosed, open_stream

RUN_ID = "run-1"
APP_ID = "app-1"


class FakeRun:
    """One run's record and events, as the runs table would answer for them."""

    def __init__(self, status: RunStatus = RunStatus.started) -> None:
        self.status = status
        self.events: list[RunEvent] = []
        self.reads = 0
        self._lock = threading.Lock()

    def add(self, event_type: str, **data: Any) -> RunEvent:
        with self._lock:
            event = RunEvent(
                id=f"evt-{len(self.events) + 1}",
                run_id=RUN_ID,
                type=event_type,
                sequence=len(self.events) + 1,
                timestamp=datetime(2025, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
                data=data,
            )
            self.events.append(event)
            return event

    def list_events(self, run_id: str, after_sequence: int = 0, limit: int = 100) -> list[RunEvent]:
        assert run_id == RUN_ID
        with self._lock:
            self.reads += 1
            return [event for event in self.events if event.sequence > after_sequence][:limit]

    def get_run(self, run_id: str) -> Any:
        return SimpleNamespace(id=run_id, app_id=APP_ID, status=self.status) if run_id == RUN_ID else None


class FakeTransport:
    """A host that can stream: records what was sent and when."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.chunks: list[tuple[float, bytes]] = []
        self.ended = False
        self.client_left = False
        self._fail_after = fail_after

    def open(self, status: int, headers: Mapping[str, str]) -> FakeTransport:
        assert self.status is None, "opened twice"
        self.status, self.headers = status, dict(headers)
        return self

    @property
    def closed(self) -> bool:
        return self.ended or self.client_left

    def write(self, chunk: bytes) -> None:
        if self.client_left or (self._fail_after is not None and len(self.chunks) >= self._fail_after):
            self.client_left = True
            raise StreamClosed("gone")
        self.chunks.append((time.monotonic(), chunk))

    def close(self) -> None:
        self.ended = True

    @property
    def body(self) -> bytes:
        return b"".join(chunk for _, chunk in self.chunks)


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> FakeRun:
    fake = FakeRun()
    monkeypatch.setattr(store, "list_events", fake.list_events)
    monkeypatch.setattr(store, "get_run", fake.get_run)
    monkeypatch.setattr(streams, "POLL_SECONDS", 0.02)
    monkeypatch.setattr(streams, "MAX_POLL_SECONDS", 0.05)
    monkeypatch.setattr(streams, "STATUS_CHECK_SECONDS", 0.1)
    return fake


@pytest.fixture
def transport() -> Iterator[FakeTransport]:
    fake = FakeTransport()
    with streaming.installed(fake):
        yield fake


def frames(*events: RunEvent) -> str:
    return "".join(streams.frame(event).decode() for event in events)


def finish_later(run: FakeRun, *steps: tuple[float, str]) -> threading.Thread:
    """Add events from another thread, each after its delay (as the executor would write them)."""

    def write() -> None:
        for delay, event_type in steps:
            time.sleep(delay)
            run.add(event_type)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return thread


def test_an_event_is_one_message_with_its_sequence_as_id():
    event = FakeRun().add("node.completed", node_id="shout", output="line one\nline two")

    assert streams.frame(event) == (
        b"id: 1\nevent: node.completed\n"
        b'data: {"id":"evt-1","type":"node.completed","sequence":1,"timestamp":"2025-01-02T03:04:05.678000Z",'
        b'"data":{"node_id":"shout","output":"line one\\nline two"}}\n\n'
    )


def test_without_a_transport_there_is_no_stream():
    assert open_stream(200, {}) is None


def test_a_finished_run_is_replayed_whole_and_the_stream_ends_at_the_terminal_event(run: FakeRun):
    # Given a finished run whose events include one after the terminal event
    events = [run.add("run.started"), run.add("node.completed"), run.add("run.completed")]
    run.add("late.event")
    run.status = RunStatus.completed

    # When it is streamed with no transport (behind API Gateway)
    response = streams.sse_response(RUN_ID, 0)

    # Then the body holds every event up to the terminal one, with the SSE headers
    assert response.status_code == 200
    assert response.body == frames(*events)
    assert response.headers["Content-Type"] == "text/event-stream"
    assert (response.headers["Cache-Control"], response.headers["X-Accel-Buffering"]) == ("no-store", "no")


def test_only_events_after_the_cursor_are_sent(run: FakeRun):
    events = [run.add("run.started"), run.add("node.completed"), run.add("run.completed")]

    response = streams.sse_response(RUN_ID, 1)

    assert response.body == frames(*events[1:])


def test_an_ended_run_with_nothing_after_the_cursor_is_204(run: FakeRun):
    run.add("run.started")
    run.add("run.failed")
    run.status = RunStatus.failed

    response = streams.sse_response(RUN_ID, 2)

    assert (response.status_code, response.body) == (204, "")


def test_a_run_that_ends_without_a_terminal_event_ends_the_stream(run: FakeRun):
    # Given a started run that will be marked canceled without a terminal event
    started = run.add("run.started")

    def cancel() -> None:
        time.sleep(0.2)
        run.status = RunStatus.canceled

    threading.Thread(target=cancel, daemon=True).start()

    # When it is streamed
    began = time.monotonic()
    response = streams.sse_response(RUN_ID, 0, deadline_seconds=10)

    # Then the stream ends soon after the record shows the run ended
    assert time.monotonic() - began < 2
    assert response.body == frames(started)


def test_the_stream_ends_at_its_deadline_with_what_it_has(run: FakeRun):
    # Given a run that keeps running
    started = run.add("run.started")

    # When the window is 0.3 s
    began = time.monotonic()
    response = streams.sse_response(RUN_ID, 0, deadline_seconds=0.3)
    elapsed = time.monotonic() - began

    # Then it ends after about 0.3 s, without a terminal event: the client resumes after sequence 1
    assert 0.3 <= elapsed < 1.5
    assert response.body == frames(started)


def test_the_lambda_time_left_shortens_the_window(run: FakeRun):
    run.add("run.started")
    context = SimpleNamespace(get_remaining_time_in_millis=lambda: 1_300)

    began = time.monotonic()
    streams.sse_response(RUN_ID, 0, lambda_context=context)

    # 1.3 s left, less the 1 s margin
    assert time.monotonic() - began < 1.0


def test_the_default_window_is_under_api_gateways_timeout():
    assert streams._window(None, None) == 25.0
    assert streams._window(None, SimpleNamespace(get_remaining_time_in_millis=lambda: 60_000)) == 25.0
    assert streams._window(None, SimpleNamespace(get_remaining_time_in_millis=lambda: 10_000)) == 9.0


def test_buffered_events_arrive_together_at_the_end(run: FakeRun):
    # Given a run still writing its events
    run.add("run.started")
    writer = finish_later(run, (0.2, "node.completed"), (0.2, "run.completed"))

    # When it is streamed without a transport
    response = streams.sse_response(RUN_ID, 0, heartbeat_seconds=0.05)
    writer.join()

    # Then the one body holds all three events and no heartbeat (nothing to keep open)
    assert response.body == frames(*run.events)
    assert ": heartbeat" not in str(response.body)


def test_with_a_transport_each_event_is_written_as_soon_as_it_is_read(run: FakeRun, transport: FakeTransport):
    # Given a run that writes its events over 0.6 s
    run.add("run.started")
    writer = finish_later(run, (0.3, "node.completed"), (0.3, "run.completed"))

    # When it is streamed through a transport
    response = streams.sse_response(RUN_ID, 0)
    writer.join()

    # Then headers went first, each event went out on its own, well before the run ended
    assert transport.status == 200
    assert transport.headers == streams.HEADERS
    written = [chunk for _, chunk in transport.chunks]
    assert written == [streams.frame(event) for event in run.events]
    first_at, last_at = transport.chunks[0][0], transport.chunks[-1][0]
    assert last_at - first_at >= 0.5
    # And the handler returns an empty body (the host ignores it) with the stream closed
    assert (response.status_code, response.body) == (200, "")
    assert transport.ended


def test_a_live_stream_sends_heartbeats_while_nothing_happens(run: FakeRun, transport: FakeTransport):
    run.add("run.started")
    writer = finish_later(run, (0.45, "run.completed"))

    streams.sse_response(RUN_ID, 0, heartbeat_seconds=0.1)
    writer.join()

    body = transport.body.decode()
    assert body.startswith(frames(run.events[0]))
    assert body.endswith(frames(run.events[1]))
    assert body.count(": heartbeat\n\n") >= 3


def test_a_client_that_went_away_ends_the_stream(run: FakeRun):
    # Given a transport whose client leaves after the first message
    run.add("run.started")
    writer = finish_later(run, (0.1, "node.started"), (5, "run.completed"))
    gone = FakeTransport(fail_after=1)

    # When the run is streamed to it
    began = time.monotonic()
    with streaming.installed(gone):
        streams.sse_response(RUN_ID, 0, deadline_seconds=10)

    # Then the stream stops at the failed write instead of following the run
    assert time.monotonic() - began < 2
    assert len(gone.chunks) == 1
    assert writer.is_alive()


@pytest.mark.parametrize(
    ("after_sequence", "last_event_id", "expected"), [(0, None, 0), (2, None, 2), (1, 3, 3), (4, 2, 4)]
)
def test_last_event_id_wins_when_it_is_later(after_sequence: int, last_event_id: int | None, expected: int):
    assert streams.resume_cursor(after_sequence, last_event_id) == expected


def test_a_run_of_the_app_resumes_from_last_event_id(run: FakeRun):
    events = [run.add("run.started"), run.add("node.completed"), run.add("run.completed")]

    response = streams.stream_run_of_app(APP_ID, RUN_ID, 1, last_event_id=2)

    assert response.body == frames(events[2])


@pytest.mark.parametrize(("app_id", "run_id"), [("app-other", RUN_ID), (APP_ID, "run-unknown")])
def test_a_run_of_another_app_or_no_run_is_not_found(run: FakeRun, app_id: str, run_id: str):
    with pytest.raises(NotFound):
        streams.stream_run_of_app(app_id, run_id, 0)
