"""Measure 7: engine overhead per no-op node with checkpointing on: the same no-op graphs as measure 2, run
as the executor runs them on AWS (a durable execution of the executor's handler on the local durable
execution service, its run, events and trace stored in DynamoDB on moto).

Cheap nodes (transforms, choices, validators) run inline and are checkpointed together with the next step
(the run's begin and finish here), so checkpoints do not grow with the number of no-op nodes. Per node: the
executor's time for the N-node graph less its time for the empty graph (input → output), over N, counted
from the program's start in an invocation to the run's end (not the SDK's teardown of the invocation, a
fixed cost that polls) and outside the calls to DynamoDB and S3 (the SDK's work of each call and moto's,
which grows with moto's tables; the durable service's in-memory checkpoint calls count as the platform's
own). Two figures: all of it (``own``: the engine, plus storing each node's two events, span and result),
and the engine phase alone (``engine``: the supersteps with the durable driver). The verdict compares both
to langgraph's per-node overhead in the same ``make bench`` (measure 2), with and without its in-memory
checkpointer.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto import mock_aws

from bench.aws_calls import _World, create_stack
from bench.support import LambdaContextStub, load_function, median
from bench.workflows import Definition, chain, fan_out
from switchboard import aws
from switchboard.invoker import get_invoker, set_invoker
from switchboard.runtime.runs import program
from switchboard.runtime.runs.creation import RunRequest, create
from switchboard.settings import get_settings
from switchboard.store import apps
from switchboard_cli.local.durable import DurableService
from switchboard_cli.local.moto_dynamodb import guard_writes

SHAPES: dict[str, tuple[int, Any]] = {"chain_500": (500, chain), "fan_out_100": (100, fan_out)}
REPETITIONS = 5
TARGET_RATIO = 5.0
"""Switchboard's own time per no-op node, checkpointing on, must stay this many times below langgraph's."""
SERVICES = ("dynamodb", "s3", "sqs", "secretsmanager")
FILES_BUCKET = "bench-files"
"""A 500-node run's trace is bigger than a step's checkpoint: its biggest parts go to S3."""


class _Clock:
    """Seconds inside AWS calls on the executor's own threads (not the event flusher's, which overlaps): from
    the call into the SDK (``provide-client-params``, before parameters are validated and serialized) to its
    answer (``after-call``)."""

    def __init__(self) -> None:
        self._started = threading.local()
        self.seconds = 0.0
        self._lock = threading.Lock()

    def before(self, **_: Any) -> None:
        self._started.at = time.perf_counter()

    def after(self, **_: Any) -> None:
        started = getattr(self._started, "at", None)
        self._started.at = None
        if started is None or threading.current_thread().name.startswith("events-"):
            return
        with self._lock:
            self.seconds += time.perf_counter() - started


class _TimedInvoker:
    """Runs the executor's executions on the local durable execution service and times the program in each
    invocation (``program._Program.run``: from the handler's replay to the run's end, its steps and their
    checkpoints included; not the SDK's teardown of an invocation, which polls at 0.1 s)."""

    def __init__(self, clock: _Clock) -> None:
        self.clock = clock
        self.totals = {"own": 0.0, "engine": 0.0}
        self.durable = DurableService(self._invoke, execution_timeouts={"ExecutorFunction": 90_000})

    def start_execution(self, function_name: str, execution_name: str, payload: dict[str, Any]) -> str:
        return self.durable.start(function_name.split(":", 1)[0], execution_name, payload)

    def invoke(self, function_name: str, payload: dict[str, Any]) -> Any:
        del function_name  # the executor invokes only the credentials function
        return load_function("credentials").lambda_handler(payload, LambdaContextStub())

    def _invoke(self, function_id: str, invocation: Any) -> Any:
        del function_id  # the executor is the only durable function
        return load_function("executor").lambda_handler(invocation, LambdaContextStub())

    @contextmanager
    def timing(self) -> Iterator[None]:
        """While it lasts, each run of the program adds its own time (outside AWS calls) to ``own``, and
        its engine phase (``_execute``: the supersteps with the durable driver) to ``engine``."""
        originals = {name: getattr(program._Program, name) for name in ("run", "_execute")}
        clock = self.clock
        totals = self.totals

        def timed(name: str, key: str) -> Any:
            original = originals[name]

            def wrapper(*arguments: Any) -> Any:
                started, aws_before = time.perf_counter(), clock.seconds
                try:
                    return original(*arguments)
                finally:
                    totals[key] += (time.perf_counter() - started) - (clock.seconds - aws_before)

            return wrapper

        program._Program.run = timed("run", "own")  # type: ignore[method-assign]
        program._Program._execute = timed("_execute", "engine")  # type: ignore[method-assign]
        try:
            yield
        finally:
            for name, original in originals.items():
                setattr(program._Program, name, original)

    def take(self) -> dict[str, float]:
        """Seconds of ``own`` and ``engine`` time since the last take."""
        taken = dict(self.totals)
        self.totals.update({"own": 0.0, "engine": 0.0})
        return taken


def _run(world: _World, invoker: _TimedInvoker, app_id: str) -> dict[str, float]:
    app = apps.get_app(app_id)
    assert app is not None
    run = create(app, RunRequest(input={"x": 1}), world.principal)
    invoker.take()
    arn = invoker.start_execution("ExecutorFunction:live", run.id, {"run_id": run.id})
    while invoker.durable.status(arn) == "RUNNING":
        time.sleep(0.002)
    if invoker.durable.status(arn) != "SUCCEEDED":
        raise RuntimeError(f"the durable no-op run ended {invoker.durable.status(arn)}")
    return invoker.take()


def _shape(
    world: _World, invoker: _TimedInvoker, definition: Definition, nodes: int, empty: str
) -> dict[str, Any]:
    app_id = world.deployed_app(definition)
    _run(world, invoker, app_id)
    samples: dict[str, list[float]] = {"own": [], "engine": []}
    for _ in range(REPETITIONS):
        base = _run(world, invoker, empty)
        measured = _run(world, invoker, app_id)
        for key, values in samples.items():
            values.append((measured[key] - base[key]) * 1000 / nodes)
    return {
        "own_per_node_ms": round(median(samples["own"]), 4),
        "own_min_ms": round(min(samples["own"]), 4),
        "own_max_ms": round(max(samples["own"]), 4),
        "engine_per_node_ms": round(median(samples["engine"]), 4),
        "nodes": nodes,
        "repetitions": REPETITIONS,
    }


def measure() -> dict[str, Any]:
    os.environ["FILES_BUCKET"] = FILES_BUCKET
    get_settings.cache_clear()
    previous = get_invoker()
    clock = _Clock()
    with mock_aws():
        aws.reset()
        guard_writes()  # the executor's threads and the caller's read and write the tables together
        create_stack()
        aws.client("s3").create_bucket(Bucket=FILES_BUCKET)
        for service in SERVICES:
            events = aws.client(service).meta.events
            events.register("provide-client-params", clock.before)
            events.register("after-call", clock.after)
        resource = aws.dynamodb_resource().meta.client.meta.events
        resource.register("provide-client-params", clock.before)
        resource.register("after-call", clock.after)
        invoker = _TimedInvoker(clock)
        set_invoker(invoker)  # type: ignore[arg-type]
        try:
            world = _World("http://127.0.0.1:9")
            empty = world.deployed_app(chain(0))
            with invoker.timing():
                _run(world, invoker, empty)
                shapes = {
                    shape: _shape(world, invoker, build(nodes), nodes, empty)
                    for shape, (nodes, build) in SHAPES.items()
                }
        finally:
            invoker.durable.close()
            set_invoker(previous)
            aws.reset()
            del os.environ["FILES_BUCKET"]
            get_settings.cache_clear()
    return {"shapes": shapes, "target_ratio": TARGET_RATIO}


def verdicts(durable: dict[str, Any], rivals: dict[str, Any]) -> dict[str, Any]:
    """Per shape: Switchboard's time per node with checkpointing on (all of its own time, and its engine
    phase) against langgraph's, plain and with its in-memory checkpointer; the target is met when all of
    Switchboard's own time is at least ``TARGET_RATIO`` times below both."""
    found: dict[str, Any] = {}
    langgraph = rivals.get("langgraph") or {}
    for shape, measured in durable["shapes"].items():
        theirs = {
            "langgraph": (langgraph.get(shape) or {}).get("median_ms"),
            "langgraph_checkpointed": ((langgraph.get("checkpointed") or {}).get(shape) or {}).get(
                "median_ms"
            ),
        }
        ratios = {
            kind: {name: _ratio(value, measured[f"{kind}_per_node_ms"]) for name, value in theirs.items()}
            for kind in ("own", "engine")
        }
        found[shape] = {
            "langgraph_ms": theirs,
            "ratios": ratios,
            "pass": all(ratio is not None and ratio >= TARGET_RATIO for ratio in ratios["own"].values()),
        }
    return found


def _ratio(theirs: float | None, mine: float) -> float | None:
    return round(theirs / mine, 1) if theirs and mine > 0 else None
