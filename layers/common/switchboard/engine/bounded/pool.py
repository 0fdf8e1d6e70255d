"""Where a task runs: inline when its work is known to be small, else in a worker process killed at the
deadline.

Workers are started on demand (``python -m switchboard.engine.bounded.worker``), talk over pipes (Lambda has
no ``/dev/shm``, so no ``multiprocessing`` queues), and are kept for the next task once idle. At most
``MAX_WORKERS`` run at once, each capped at ``WORKER_MEMORY_BYTES`` of address space: together they stay
well inside the executor's memory. A task waiting for a worker waits within its own deadline.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

from switchboard.engine.bounded import tasks
from switchboard.engine.bounded.worker import HEADER_BYTES, frame
from switchboard.engine.errors import Canceled, StepError

INLINE_UNITS = 100_000
"""Work run in the caller's thread: at most about 3 ms (a unit is about 30 ns of Python work)."""
MAX_WORKERS = 2
WORKER_MEMORY_BYTES = 384 * 1024 * 1024
IDLE_WORKERS = 1
"""Workers kept running between tasks (one saves the next heavy task the ~0.1 s start)."""
CANCEL_CHECK_SECONDS = 1.0
"""How often a task in a worker looks whether its run was canceled."""

Check = Callable[[], bool]


class TimedOut(Exception):
    """The task was still running at its deadline; its worker was killed."""


def compute(kind: str, payload: tasks.Payload, deadline: float, canceled: Check = lambda: False) -> Any:
    """The task's result; raises its ``StepError``, ``TimedOut`` (``deadline`` is a ``time.monotonic()``
    value) or ``Canceled`` (``canceled()`` turned true while a worker ran it)."""
    work = tasks.units(kind, payload, INLINE_UNITS)
    if work is not None and work <= INLINE_UNITS:
        return tasks.perform(kind, payload)
    return _POOL.run(kind, payload, deadline, canceled)


class _Worker:
    def __init__(self) -> None:
        paths = [path for path in sys.path if path]
        # The command is this interpreter and the engine's own module: no input reaches it.
        self.process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "switchboard.engine.bounded.worker", str(WORKER_MEMORY_BYTES)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={"PYTHONPATH": os.pathsep.join(paths), "PATH": os.defpath, "LANG": "C.UTF-8"},
            close_fds=True,
        )

    def ask(self, request: dict[str, Any], deadline: float, canceled: Check) -> dict[str, Any] | None:
        """The worker's answer, or None if it died; raises ``TimedOut`` at the deadline."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        try:
            self.process.stdin.write(frame(request))
            self.process.stdin.flush()
        except BrokenPipeError:
            return None
        header = self._read(self.process.stdout, HEADER_BYTES, deadline, canceled)
        if header is None:
            return None
        body = self._read(self.process.stdout, int.from_bytes(header, "big"), deadline, canceled)
        answer: dict[str, Any] | None = None if body is None else json.loads(body)
        return answer

    @staticmethod
    def _read(stream: IO[bytes], size: int, deadline: float, canceled: Check) -> bytes | None:
        chunks: list[bytes] = []
        descriptor = stream.fileno()
        while size > 0:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimedOut
            if not select.select([descriptor], [], [], min(left, CANCEL_CHECK_SECONDS))[0]:
                if canceled():
                    raise Canceled
                continue
            chunk = os.read(descriptor, min(size, 1 << 20))
            if not chunk:
                return None
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()


class _Pool:
    def __init__(self) -> None:
        self._idle: list[_Worker] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_WORKERS)

    def run(self, kind: str, payload: tasks.Payload, deadline: float, canceled: Check) -> Any:
        if not self._slots.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise TimedOut
        try:
            request = {"kind": kind, "payload": payload, "seconds": deadline - time.monotonic()}
            answer = self._ask(request, deadline, canceled)
        finally:
            self._slots.release()
        if "error" in answer:
            error = answer["error"]
            raise StepError(
                error["type"], error["message"], error.get("details"), retryable=error["retryable"]
            )
        return answer["value"]

    def _ask(self, request: dict[str, Any], deadline: float, canceled: Check) -> dict[str, Any]:
        with self._lock:
            worker = self._idle.pop() if self._idle else None
        worker = worker or _Worker()
        try:
            answer = worker.ask(request, deadline, canceled)
        except BaseException:
            worker.stop()
            raise
        if answer is None or answer.get("retire"):
            worker.stop()
        else:
            self._keep(worker)
        if answer is None:
            raise StepError("internal_error", "the node's work process ended without an answer")
        return answer

    def _keep(self, worker: _Worker) -> None:
        with self._lock:
            if len(self._idle) < IDLE_WORKERS:
                self._idle.append(worker)
                return
        worker.stop()


_POOL = _Pool()
