"""Where Switchboard's engine spends a no-op run: cProfile of the scheduler thread, and of every worker
thread (each node's work, ``NodeRunner._work``, is profiled on its own thread for the diagnostic run, then
merged). A node the engine runs inline, on the scheduler thread, is in the scheduler's profile."""

from __future__ import annotations

import cProfile
import io
import pstats
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

from bench.engine import SHAPES, run_once
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.running import NodeRunner

TOP = 10


@contextmanager
def _profiled_workers(profiles: list[cProfile.Profile]) -> Iterator[None]:
    original = NodeRunner._work
    lock = threading.Lock()
    scheduler = threading.get_ident()

    def run_node(self: Any, *args: Any) -> Any:
        if threading.get_ident() == scheduler:
            # A second profiler on this thread would replace, then switch off, the scheduler's.
            return original(self, *args)
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            return original(self, *args)
        finally:
            profiler.disable()
            with lock:
                profiles.append(profiler)

    with patch.object(NodeRunner, "_work", run_node):
        yield


def _top(profiles: list[cProfile.Profile], nodes: int) -> dict[str, Any]:
    if not profiles:
        return {"total_ms": 0.0, "per_node_ms": 0.0, "top_by_own_time": []}
    stats: Any = pstats.Stats(*profiles, stream=io.StringIO())
    total = stats.total_tt
    rows = [
        {
            "function": f"{_short(filename)}:{line}({function})",
            "calls": calls,
            "own_ms": round(own * 1000, 2),
            "cumulative_ms": round(cumulative * 1000, 2),
            "own_share": round(own / total, 3) if total else 0.0,
        }
        for (filename, line, function), (_, calls, own, cumulative, _) in stats.stats.items()
    ]
    rows.sort(key=lambda row: row["own_ms"], reverse=True)
    return {
        "total_ms": round(total * 1000, 2),
        "per_node_ms": round(total * 1000 / nodes, 4),
        "top_by_own_time": rows[:TOP],
    }


def profile(shape: str) -> dict[str, Any]:
    """One profiled run of ``shape`` (after a warm-up): the scheduler thread and the worker threads."""
    nodes, build = SHAPES[shape]
    validated = WorkflowDefinition.model_validate(build(nodes))
    run_once(validated)
    workers: list[cProfile.Profile] = []
    scheduler = cProfile.Profile()
    with _profiled_workers(workers):
        scheduler.enable()
        run_once(validated)
        scheduler.disable()
    return {"shape": shape, "scheduler": _top([scheduler], nodes), "workers": _top(workers, nodes)}


def _short(filename: str) -> str:
    for marker in ("switchboard/", "jmespath/", "concurrent/", "threading"):
        if marker in filename:
            return filename[filename.rindex(marker) :]
    return filename.rsplit("/", 1)[-1]
