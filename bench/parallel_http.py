"""Measure 3: wall time of 20 parallel ``http`` nodes (fan-out from the input, joined at the output) against
a loopback target that answers each request after 200 ms, with the engine's default ``max_workers`` and
with one worker per node. The http step builds a new ``httpx.Client`` per request; building an SSL context
takes CPU time under the GIL, so the step passes the process's shared one. A diagnostic series forces one
SSL context on every client, to show how much of the wall time SSL contexts still are (it changes nothing
outside this measure; ``client_construction_ms`` is what a client with its own new context costs)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

import httpx

from bench.engine import run_context
from bench.support import median
from bench.target import Target
from bench.workflows import http_fan_out
from switchboard.engine.contracts import RunContext
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.runner import execute

NODES = 20
DELAY_SECONDS = 0.2
TARGET_MS = 400.0
REPETITIONS = 5


def _wall_ms(definition: WorkflowDefinition, context: RunContext, target: Target) -> float:
    served = target.served
    started = time.perf_counter()
    result = execute(definition, context)
    elapsed = (time.perf_counter() - started) * 1000
    if result.status != "completed" or target.served - served != NODES:
        raise RuntimeError(f"the parallel http run did not complete: {result.status} {result.error}")
    return elapsed


def _series(definition: WorkflowDefinition, max_workers: int | None, target: Target) -> dict[str, Any]:
    context = run_context(max_workers)
    _wall_ms(definition, run_context(max_workers), target)
    samples = [_wall_ms(definition, run_context(max_workers), target) for _ in range(REPETITIONS)]
    return {
        "max_workers": context.max_workers,
        "median_ms": round(median(samples), 1),
        "min_ms": round(min(samples), 1),
        "max_ms": round(max(samples), 1),
        "repetitions": REPETITIONS,
        "pass": median(samples) < TARGET_MS,
    }


def client_construction_ms(repetitions: int = 10) -> float:
    """What a new ``httpx.Client`` with its own new SSL context costs (the http step shares one)."""
    samples = []
    for _ in range(repetitions):
        started = time.perf_counter()
        httpx.Client(timeout=5, trust_env=False, follow_redirects=False).close()
        samples.append((time.perf_counter() - started) * 1000)
    return round(median(samples), 2)


@contextmanager
def _one_ssl_context() -> Iterator[None]:
    """Diagnostic only: every ``httpx.Client`` reuses one SSL context, as a shared client would."""
    original = httpx.Client
    context = httpx.create_ssl_context()

    def client(**options: Any) -> httpx.Client:
        return original(**{"verify": context, **options})

    with patch.object(httpx, "Client", client):
        yield


def measure() -> dict[str, Any]:
    with Target(DELAY_SECONDS) as target:
        definition = WorkflowDefinition.model_validate(http_fan_out(NODES, path="/slow", url=target.url))
        default = _series(definition, None, target)
        one_each = _series(definition, NODES, target)
        with _one_ssl_context():
            shared_context_default = _series(definition, None, target)
            shared_context = _series(definition, NODES, target)
    return {
        "nodes": NODES,
        "delay_ms": DELAY_SECONDS * 1000,
        "target_ms": TARGET_MS,
        "default_workers": default,
        "one_worker_per_node": one_each,
        "diagnostic_one_ssl_context_default_workers": shared_context_default,
        "diagnostic_one_ssl_context": shared_context,
        "client_construction_ms": client_construction_ms(),
        "pass": default["pass"],
    }
