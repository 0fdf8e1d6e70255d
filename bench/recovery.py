"""Measure 8: recovery time of a run after the local stack is killed (``kill -9``) mid-node and started again
on the same state file: from the restart (a new ``switchboard local serve`` process) to the stack being
ready, and from there to the resumed run's completion. The run's node waits on a loopback upstream that
answers its first call after ``LONG_MS`` and later calls at once: the resumed run makes a second attempt of
the interrupted node and completes. The stack and the App are the end-to-end tests' (``tests.e2e``): a
real process, real HTTP.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.support import median
from tests.e2e.app_world import build_app_world, wait_until
from tests.e2e.conftest import LocalStackProcess
from tests.support.fakes import HttpTarget
from tests.support.fakes import Reply as Answer

RESTARTS = 3
LONG_MS = 20_000
SAVED_AFTER_S = 1.5
"""How long after the node starts the stack is killed: its state file's background save has seen it."""
BUDGET_S = 60.0


def measure() -> dict[str, Any]:
    samples: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as directory, HttpTarget() as upstream:
        stack = LocalStackProcess(Path(directory))
        stack.start()
        try:
            world = build_app_world(stack, upstream.url, name="Recovery")
            for index in range(RESTARTS):
                upstream.respond(
                    "/long", Answer(body={"ok": index}, delay_ms=LONG_MS), Answer(body={"ok": index})
                )
                samples.append(_one_recovery(stack, world, upstream, index))
        finally:
            if stack.process is not None:
                stack.interrupt()
    keys = ("restart_to_ready_s", "ready_to_completed_s", "restart_to_completed_s")
    summary = {key: round(median(sample[key] for sample in samples), 2) for key in keys}
    worst = max(sample["restart_to_completed_s"] for sample in samples)
    return {
        "samples": samples,
        **summary,
        "worst_restart_to_completed_s": round(worst, 2),
        "budget_s": BUDGET_S,
        "pass": worst <= BUDGET_S,
    }


def _one_recovery(stack: LocalStackProcess, world: Any, upstream: HttpTarget, index: int) -> dict[str, float]:
    calls = len(upstream.requests_to("/long"))
    accepted = world.call(
        "POST",
        "/v1/runs",
        json_body={"input": {"question": f"r{index}", "route": "long"}, "background": True},
    )
    assert accepted.status == 202, accepted.text
    run_id = accepted.body["data"]["id"]
    wait_until(lambda: len(upstream.requests_to("/long")) > calls or None, 20, "the node to start")
    time.sleep(SAVED_AFTER_S)
    stack.kill()
    restarted = time.monotonic()
    stack.start()
    ready = time.monotonic()
    finished = world.wait_for_status(run_id, "completed", "failed", "canceled", timeout_s=BUDGET_S)
    completed = time.monotonic()
    if finished["status"] != "completed":
        raise RuntimeError(f"the resumed run ended {finished['status']}: {finished.get('error')}")
    return {
        "restart_to_ready_s": round(ready - restarted, 2),
        "ready_to_completed_s": round(completed - ready, 2),
        "restart_to_completed_s": round(completed - restarted, 2),
    }
