"""A node-work process: ``python -m switchboard.engine.bounded.worker <memory bytes>`` (``pool`` starts it).

It reads requests on stdin and writes answers on stdout, each framed as a 4-byte big-endian length and a
JSON document: a request ``{"kind", "payload", "seconds"}`` (``tasks``), an answer ``{"value": …}`` or
``{"error": {"type", "message", "details", "retryable"}}``, with ``"retire": true`` when the process must
not be used again (it ran out of memory, and exits).

Before the first request it caps its address space (``RLIMIT_AS``) and lowers its priority (nice 10), so
that it yields the CPU to the process that serves requests. Before each request it sets its CPU-time limit to
what it has used plus the request's seconds and a margin: its parent stops it at the deadline, and if the
parent is gone the kernel does, soon after. Its environment holds no credential (``pool`` passes only the
paths it needs), and what anything prints goes to stderr, never into the answers.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from typing import IO, Any

HEADER_BYTES = 4
CPU_MARGIN_SECONDS = 5
NICENESS = 10


def frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode("ascii")
    return len(body).to_bytes(HEADER_BYTES, "big") + body


def main(argv: list[str]) -> int:
    memory_bytes = int(argv[1])
    requests = sys.stdin.buffer
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    from switchboard.engine.bounded import tasks

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    os.nice(NICENESS)
    while True:
        request = _read(requests)
        if request is None:
            return 0
        _limit_cpu(float(request["seconds"]))
        answer, retire = _answer(tasks, request)
        answers.write(answer)
        answers.flush()
        if retire:
            return 0


def _read(requests: IO[bytes]) -> dict[str, Any] | None:
    header = requests.read(HEADER_BYTES)
    if len(header) < HEADER_BYTES:
        return None
    body = requests.read(int.from_bytes(header, "big"))
    request: dict[str, Any] = json.loads(body)
    return request


def _answer(tasks: Any, request: dict[str, Any]) -> tuple[bytes, bool]:
    """The framed answer, and whether this process retires after sending it."""
    from switchboard.engine.errors import StepError

    try:
        return frame({"value": tasks.perform(request["kind"], request["payload"])}), False
    except StepError as error:
        fields = {"type": error.type, "message": error.message, "details": error.details}
        return frame({"error": {**fields, "retryable": error.retryable}}), False
    except MemoryError:
        limit_mib = resource.getrlimit(resource.RLIMIT_AS)[0] // (1024 * 1024)
        message = f"the node's work needed more than its {limit_mib} MiB of memory"
        failure = {"type": "output_too_large", "message": message, "retryable": False}
        return frame({"error": failure, "retire": True}), True
    except Exception as error:  # a defect fails the node, never the process
        message = f"unexpected {type(error).__name__} in the node's work"
        return frame({"error": {"type": "internal_error", "message": message, "retryable": True}}), False


def _limit_cpu(seconds: float) -> None:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(usage.ru_utime + usage.ru_stime + seconds) + CPU_MARGIN_SECONDS
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
