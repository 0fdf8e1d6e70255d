"""``python -m bench.local_serve``: how long `switchboard local serve` takes to answer on its port (the
Makefile's options, a fresh state file each time) and how long a synchronous run takes through it (the
end-to-end tests' App, whose node calls a loopback upstream), each the median of ``REPETITIONS``. The
figure to compare before and after a change of the local stack (issue 14 bounds both at 20 %)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.support import ROOT, median
from tests.e2e.app_world import build_app_world, scripted_upstream
from tests.e2e.conftest import LocalStackProcess, free_port

REPETITIONS = int(os.environ.get("REPETITIONS", "5"))
RUNS_PER_REPETITION = 4
WARM_UP_RUNS = 2
START_TIMEOUT_S = 60.0


def measure() -> dict[str, Any]:
    startups = [_startup_s() for _ in range(REPETITIONS)]
    runs = _sync_runs_ms(REPETITIONS * RUNS_PER_REPETITION)
    return {
        "startup_s": [round(value, 2) for value in startups],
        "startup_median_s": round(median(startups), 2),
        "sync_run_ms": [round(value) for value in runs],
        "sync_run_median_ms": round(median(runs), 1),
    }


def _answers(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def _startup_s() -> float:
    """From the command to the stack answering on its port, as `make serve` starts it."""
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        state_file = Path(directory) / ".switchboard" / "state.json"
        command = [sys.executable, "-m", "switchboard_cli.main", "local", "serve"]
        command += ["--port", str(port), "--state-file", str(state_file)]
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while not _answers(port):
                if process.poll() is not None or time.perf_counter() - started > START_TIMEOUT_S:
                    raise RuntimeError(f"the local stack did not answer on {port}")
                time.sleep(0.02)
            return time.perf_counter() - started
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)


def _sync_runs_ms(count: int) -> list[float]:
    with tempfile.TemporaryDirectory() as directory, scripted_upstream() as upstream:
        stack = LocalStackProcess(Path(directory))
        stack.start()
        try:
            world = build_app_world(stack, upstream.url, name="Serve")
            took = []
            for index in range(WARM_UP_RUNS + count):
                started = time.perf_counter()
                reply = world.call("POST", "/v1/runs", json_body={"input": {"question": f"q{index}"}})
                took.append((time.perf_counter() - started) * 1000)
                if reply.status != 200 or reply.body["data"]["status"] != "completed":
                    raise RuntimeError(f"the sync run did not complete: {reply.text}")
            return took[WARM_UP_RUNS:]
        finally:
            stack.interrupt()


if __name__ == "__main__":
    print(measure())
