"""Runs survive the local stack's process, as they survive a Lambda on AWS: ``kill -9`` mid-run and a restart
on the same state file leave no run unfinished (sync, background and streamed runs are all terminal within
60 s of the restart, each with one terminal event); SIGTERM drains the runs in flight for a grace period,
and what it could not finish is resumed at the next start."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.app_world import AppWorld, build_app_world, wait_until
from tests.e2e.conftest import ALLOW_LOOPBACK, LocalStackProcess, running_stack
from tests.support.fakes import HttpTarget
from tests.support.fakes import Reply as Answer

RESTART_BUDGET_S = 60
TERMINAL = ("completed", "failed", "canceled")
LONG_MS = 8000
"""The first answers of ``/long``: runs are mid-node that long; later attempts are answered at once."""


@pytest.fixture
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    yield from running_stack(tmp_path_factory, [ALLOW_LOOPBACK, "--drain-seconds", "2"])


@pytest.fixture
def upstream() -> Iterator[HttpTarget]:
    with HttpTarget() as target:
        target.respond("/quick", Answer(body={"ok": "quick"}, delay_ms=300))
        slow = [Answer(body={"ok": "long"}, delay_ms=LONG_MS)] * 3
        target.respond("/long", *slow, Answer(body={"ok": "long"}))
        yield target


@pytest.fixture
def world(stack: LocalStackProcess, upstream: HttpTarget) -> AppWorld:
    return build_app_world(stack, upstream.url)


def _in_background(work: Any) -> threading.Thread:
    """A client request that the kill will cut: its failure is expected and ignored."""

    def quietly() -> None:
        with contextlib.suppress(Exception):  # the server died under it, on purpose
            work()

    thread = threading.Thread(target=quietly, daemon=True)
    thread.start()
    return thread


def _runs(world: AppWorld) -> list[dict[str, Any]]:
    reply = world.call("GET", "/v1/runs")
    assert reply.status == 200, reply.text
    return list(reply.body["data"])


def _all_ended(world: AppWorld) -> list[dict[str, Any]] | None:
    found = _runs(world)
    return found if found and all(run["status"] in TERMINAL for run in found) else None


def _terminal_events(world: AppWorld, run_id: str) -> list[str]:
    reply = world.call("GET", f"/v1/runs/{run_id}/events?limit=100")
    assert reply.status == 200, reply.text
    return [
        event["type"]
        for event in reply.body["data"]
        if event["type"] in ("run.completed", "run.failed", "run.canceled")
    ]


def test_after_kill_9_every_run_in_flight_ends_within_60_s_of_the_restart(
    stack: LocalStackProcess, world: AppWorld, upstream: HttpTarget
) -> None:
    # Given a sync, a background and a streamed run, each waiting on its upstream call
    long_input = {"question": "q", "route": "long"}
    _in_background(lambda: world.call("POST", "/v1/runs", json_body={"input": long_input}))
    accepted = world.call("POST", "/v1/runs", json_body={"input": long_input, "background": True})
    assert accepted.status == 202, accepted.text
    _in_background(lambda: world.stream("POST", "/v1/runs", json_body={"input": long_input, "stream": True}))
    wait_until(lambda: len(upstream.requests_to("/long")) == 3 or None, 20, "three upstream calls in flight")
    runs = _runs(world)
    assert sorted(run["status"] for run in runs) == ["started"] * 3
    time.sleep(1.5)  # the state file's background save has seen the runs mid-node
    # When the stack is killed (-9) and started again on the same state file
    stack.kill()
    restarted = time.monotonic()
    stack.start()
    # Then every run is terminal within 60 s of the restart: completed, with exactly one terminal event
    ended = wait_until(lambda: _all_ended(world), RESTART_BUDGET_S, "every run to end after the restart")
    took = time.monotonic() - restarted
    assert took < RESTART_BUDGET_S
    assert sorted(run["id"] for run in ended) == sorted(run["id"] for run in runs)
    for run in ended:
        assert run["status"] == "completed", run
        assert run["output"]["upstream"] == {"ok": "long"}
        assert _terminal_events(world, run["id"]) == ["run.completed"]
    # And each interrupted node ran again once, as a new attempt (3 cut short, 3 again)
    assert len(upstream.requests_to("/long")) == 6
    # And a stream of any of them now follows it to its end
    replay = world.stream("GET", f"/v1/runs/{runs[0]['id']}/stream")
    assert replay.messages[-1].event == "run.completed"
    assert "resumed 3 durable execution(s)" in stack.stderr()


def test_sigterm_drains_the_runs_in_flight_and_what_it_cannot_finish_resumes_at_the_next_start(
    stack: LocalStackProcess, world: AppWorld, upstream: HttpTarget
) -> None:
    # Given two background runs in flight: one about to finish, one whose upstream takes 8 s
    quick = world.call(
        "POST", "/v1/runs", json_body={"input": {"question": "q", "route": "quick"}, "background": True}
    )
    long = world.call(
        "POST", "/v1/runs", json_body={"input": {"question": "q", "route": "long"}, "background": True}
    )
    assert (quick.status, long.status) == (202, 202)
    wait_until(
        lambda: (upstream.requests_to("/quick") and upstream.requests_to("/long")) or None,
        20,
        "both calls in flight",
    )
    # When the stack gets SIGTERM (a 2 s drain)
    assert stack.interrupt(signal.SIGTERM) == 0, stack.stderr()
    # Then the quick run finished within the drain, and the long one was left for the next start
    assert "Traceback" not in stack.stderr()
    stack.start()
    assert world.run(quick.body["data"]["id"])["status"] == "completed"
    assert len(upstream.requests_to("/quick")) == 1
    # And after the start, the long run resumes and completes
    finished = world.wait_for_status(long.body["data"]["id"], *TERMINAL, timeout_s=RESTART_BUDGET_S)
    assert finished["status"] == "completed", finished
    assert _terminal_events(world, long.body["data"]["id"]) == ["run.completed"]
