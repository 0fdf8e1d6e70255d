"""The local stack as a user runs it: `python -m switchboard_cli.main local serve` in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_MARKER = "SWITCHBOARD_READY "
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


ALLOW_LOOPBACK = "--allow-loopback-egress"
"""Tests reach only 127.0.0.1 (upstreams, models, receivers), which the egress guard refuses without it."""


class LocalStackProcess:
    """One `switchboard local serve` process; its output goes to files so a full pipe can never block it.

    ``extra_args`` are further command-line flags of `local serve`, passed on every start: by default
    ``--allow-loopback-egress``; ``()`` for a stack that allows public addresses only.
    """

    def __init__(self, directory: Path, extra_args: Sequence[str] = (ALLOW_LOOPBACK,)) -> None:
        self.directory = directory
        self.extra_args = tuple(extra_args)
        self.state_file = directory / "state" / "state.json"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.pat = ""
        self.org_id = ""
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def stdout_path(self) -> Path:
        return self.directory / f"stdout-{self.starts}.log"

    @property
    def stderr_path(self) -> Path:
        return self.directory / f"stderr-{self.starts}.log"

    def start(self) -> None:
        self.starts += 1
        command = [sys.executable, "-m", "switchboard_cli.main", "local", "serve"]
        command += ["--port", str(self.port), "--state-file", str(self.state_file), *self.extra_args]
        with self.stdout_path.open("wb") as stdout, self.stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                command, cwd=ROOT, stdout=stdout, stderr=stderr, env={**os.environ, "PYTHONUNBUFFERED": "1"}
            )
        ready = self._wait_for_ready()
        assert ready["base_url"] == self.base_url
        self.pat, self.org_id = ready["pat"], ready["org_id"]

    def _wait_for_ready(self) -> dict[str, Any]:
        deadline = time.monotonic() + START_TIMEOUT_S
        assert self.process is not None
        while time.monotonic() < deadline:
            for line in self.stdout_path.read_text(errors="replace").splitlines():
                if line.startswith(READY_MARKER):
                    return json.loads(line.removeprefix(READY_MARKER))  # type: ignore[no-any-return]
            if self.process.poll() is not None:
                pytest.fail(f"local stack exited with {self.process.returncode}:\n{self.stderr()}")
            time.sleep(0.1)
        self.process.kill()
        pytest.fail(f"local stack not ready within {START_TIMEOUT_S}s:\n{self.stderr()}")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def interrupt(self, signum: int = signal.SIGINT) -> int:
        """Ctrl-C (SIGINT, or ``signum``: SIGTERM), then the exit code (the process is killed if it does not
        stop in time)."""
        assert self.process is not None
        self.process.send_signal(signum)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"local stack ignored signal {signum} for {STOP_TIMEOUT_S}s:\n{self.stderr()}")
        self.process = None
        return code

    def kill(self) -> None:
        """``kill -9``: the process ends at once, saving nothing more."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=STOP_TIMEOUT_S)
        self.process = None

    def restart(self) -> None:
        code = self.interrupt()
        assert code == 0, self.stderr()
        self.start()


class Story:
    """The phases of one story told in one module, one test function each, in file order, over a module-scoped
    world: each phase ``finished`` names itself at its end, and a phase that ``needs`` one that did not finish
    is skipped, naming it, so the first failure names its own phase and hides nothing after it."""

    def __init__(self) -> None:
        self.done: set[str] = set()

    def needs(self, phase: str) -> None:
        if phase not in self.done:
            pytest.skip(f"the phase {phase!r} this one follows did not finish")

    def finished(self, phase: str) -> None:
        self.done.add(phase)


def running_stack(
    tmp_path_factory: pytest.TempPathFactory, extra_args: Sequence[str] = (ALLOW_LOOPBACK,)
) -> Iterator[LocalStackProcess]:
    stack = LocalStackProcess(tmp_path_factory.mktemp("local-stack"), extra_args)
    stack.start()
    yield stack
    if stack.process is not None:
        code = stack.interrupt()
        assert code == 0, stack.stderr()


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    yield from running_stack(tmp_path_factory)


@pytest.fixture(scope="module")
def local_stack_with_callbacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    """A local stack started with ``--allow-loopback-callbacks`` (the older name of
    ``--allow-loopback-egress``): callbacks may target http://127.0.0.1, and the older flag still works."""
    yield from running_stack(tmp_path_factory, ["--allow-loopback-callbacks"])
