"""Measure 2, Switchboard's side: engine overhead per node on no-op transforms, and where the time goes.

``execute`` runs an already validated definition (validation happens once, when a version is saved), so
only ``execute`` is timed, like only ``invoke``/``run_sync`` of the compiled graphs of the other libraries.
Overhead per node is the run's wall time divided by its number of no-op nodes; the median of several runs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from bench.support import median
from bench.workflows import Definition, chain, fan_out
from switchboard.egress import EgressPolicy
from switchboard.engine.contracts import RunContext
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.runner import execute

CHAIN_LENGTH = 500
FAN_OUT_WIDTH = 100
REPETITIONS = {"chain_500": 7, "fan_out_100": 25}
"""Runs per shape: the fan-out takes ~20 ms and is noisier (thread scheduling), so it gets more."""
SHAPES: dict[str, tuple[int, Any]] = {
    "chain_500": (CHAIN_LENGTH, chain),
    "fan_out_100": (FAN_OUT_WIDTH, fan_out),
}


class _NoEvents:
    def emit(self, event_type: str, data: Mapping[str, Any]) -> None:  # noqa: ARG002
        return


class _NeverCanceled:
    def is_canceled(self) -> bool:
        return False


def run_context(max_workers: int | None = None) -> RunContext:
    """A context with no credentials, no event store and no cancellation: the engine alone."""
    context = RunContext(
        run_id="run-bench",
        input={"x": 1},
        credentials={},
        events=_NoEvents(),
        cancellation=_NeverCanceled(),
        egress=EgressPolicy(allow_loopback=True),  # the http measures' target is on loopback
    )
    if max_workers is not None:
        context.max_workers = max_workers
    return context


def run_once(definition: WorkflowDefinition) -> float:
    """Seconds one run of ``definition`` took; fails loudly if the run did not complete."""
    started = time.perf_counter()
    result = execute(definition, run_context())
    elapsed = time.perf_counter() - started
    if result.status != "completed" or result.output != {"x": 1}:
        raise RuntimeError(f"the no-op run did not complete: {result.status} {result.error}")
    return elapsed


def per_node_ms(definition: Definition, nodes: int, repetitions: int) -> dict[str, Any]:
    """Median (and min, max) milliseconds per no-op node over ``repetitions`` runs, after one warm-up."""
    validated = WorkflowDefinition.model_validate(definition)
    run_once(validated)
    samples = [run_once(validated) * 1000 / nodes for _ in range(repetitions)]
    return {
        "median_ms": round(median(samples), 4),
        "min_ms": round(min(samples), 4),
        "max_ms": round(max(samples), 4),
        "repetitions": repetitions,
        "nodes": nodes,
    }


def measure_switchboard() -> dict[str, Any]:
    return {
        shape: per_node_ms(build(nodes), nodes, REPETITIONS[shape])
        for shape, (nodes, build) in SHAPES.items()
    }


def scaling() -> dict[str, Any]:
    """Per-node cost of chains of growing length: flat when scheduling is linear, growing when it is not."""
    return {str(length): per_node_ms(chain(length), length, 3)["median_ms"] for length in (50, 100, 250, 500)}
