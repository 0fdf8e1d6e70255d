"""Runs: one lifecycle, one package.

A run is created by ``creation.create`` (every entry point: direct invoke, the runs API, sessions,
triggers), started by ``starting`` (its durable execution, named after it: sync requests wait a bounded time,
background runs go through the run queue), executed by the executor's durable ``program`` (checkpointed
node by node, waits for human input with no compute), and ended by ``ending.end_run``, the one end of every
terminal path (completed, failed, canceled, deadline, interruption, input timeout). ``cancel`` and
``answers`` are what a caller does to a running run, ``ownership`` which caller may; the ``sweeper``
finishes what nothing else will; ``queries``, ``views``, ``events`` and ``streams`` are how a run is read;
``artifacts`` keeps its big values in S3; ``idempotency`` makes its creation happen once per key.

The names below are the package's face; each loads its module on first use, so a function that only reads
runs never imports what executes them. (No name of the face is the name of a module of the package: an
imported module would shadow it.)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from switchboard.runtime.runs.answers import answer
    from switchboard.runtime.runs.canceling import cancel
    from switchboard.runtime.runs.creation import RunRequest, create
    from switchboard.runtime.runs.ending import end_run
    from switchboard.runtime.runs.ownership import caller_run
    from switchboard.runtime.runs.queries import list_events, list_runs, list_traces, run_of_app, trace, view
    from switchboard.runtime.runs.starting import (
        StartMode,
        enqueue,
        failure_of,
        launch,
        start,
        start_execution,
        wait,
    )
    from switchboard.runtime.runs.sweeper import sweep

_HOMES = {
    "answer": "answers",
    "cancel": "canceling",
    "RunRequest": "creation",
    "create": "creation",
    "end_run": "ending",
    "caller_run": "ownership",
    "list_events": "queries",
    "list_runs": "queries",
    "list_traces": "queries",
    "run_of_app": "queries",
    "trace": "queries",
    "view": "queries",
    "StartMode": "starting",
    "enqueue": "starting",
    "failure_of": "starting",
    "launch": "starting",
    "start": "starting",
    "start_execution": "starting",
    "wait": "starting",
    "sweep": "sweeper",
}

__all__ = [
    "RunRequest",
    "StartMode",
    "answer",
    "caller_run",
    "cancel",
    "create",
    "end_run",
    "enqueue",
    "failure_of",
    "launch",
    "list_events",
    "list_runs",
    "list_traces",
    "run_of_app",
    "start",
    "start_execution",
    "sweep",
    "trace",
    "view",
    "wait",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
