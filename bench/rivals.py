"""Measure 2, the comparison: the same no-op graphs in langgraph and dynamiq, next to Switchboard in the same
interpreter. Run as ``python -m bench.rivals OUT.json`` by the interpreter that has the comparison
libraries (``.bench-venv``: dynamiq pins pydantic and openai below the versions the project's venv uses).

The libraries are imported with ``importlib`` and used through ``Any``: they are not part of the typed code.

- langgraph: a ``StateGraph`` over ``{"x": int}``; the chain is 500 nodes each returning ``{"x": x}``; the
  fan-out is 100 nodes from ``START`` each appending ``x`` to a list (an ``operator.add`` reducer), joined
  by one no-op node; each also compiled with its in-memory checkpointer (``InMemorySaver``, a new thread
  per run: langgraph checkpoints after every superstep), for measure 7.
- dynamiq: ``Pass`` (its no-op operator) reading the previous node's output with an ``InputTransformer``
  selector (JSONPath), the way a dynamiq node reads another's output; and a ``function_tool`` no-op bound
  with an input mapping (no JSONPath). dynamiq hands every completed result to every node, so the
  function-tool chain grows quadratically: it is measured on the fan-out only.
"""

from __future__ import annotations

import importlib
import json
import logging
import operator
import os
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import metadata
from typing import Annotated, Any, TypedDict

from bench.engine import measure_switchboard
from bench.support import median

CHAIN_LENGTH = 500
FAN_OUT_WIDTH = 100
LANGGRAPH_REPETITIONS = {"chain_500": 7, "fan_out_100": 25}
DYNAMIQ_REPETITIONS = {"chain_500": 3, "fan_out_100": 5}
IMPORT_REPETITIONS = 3

Runner = Callable[[], Any]


class ChainState(TypedDict):
    x: int


class FanOutState(TypedDict):
    x: int
    out: Annotated[list[int], operator.add]


def _timed_per_node(
    run: Runner, nodes: int, repetitions: int, check: Callable[[Any], bool]
) -> dict[str, Any]:
    result = run()
    if not check(result):
        raise RuntimeError(f"the no-op run returned {str(result)[:200]}")
    samples = []
    for _ in range(repetitions):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000 / nodes)
    return {
        "median_ms": round(median(samples), 4),
        "min_ms": round(min(samples), 4),
        "max_ms": round(max(samples), 4),
        "repetitions": repetitions,
        "nodes": nodes,
    }


# ---------------------------------------------------------------- langgraph


def _langgraph() -> dict[str, Any]:
    started = time.perf_counter()
    graph: Any = importlib.import_module("langgraph.graph")
    import_seconds = time.perf_counter() - started
    start, end = graph.START, graph.END

    def passthrough(state: dict[str, Any]) -> dict[str, Any]:
        return {"x": state["x"]}

    def append(state: dict[str, Any]) -> dict[str, Any]:
        return {"out": [state["x"]]}

    def nothing(_: dict[str, Any]) -> dict[str, Any]:
        return {}

    sequential = graph.StateGraph(ChainState)
    previous = start
    for index in range(CHAIN_LENGTH):
        sequential.add_node(f"n{index}", passthrough)
        sequential.add_edge(previous, f"n{index}")
        previous = f"n{index}"
    sequential.add_edge(previous, end)
    compiled_chain = sequential.compile()
    limit = {"recursion_limit": CHAIN_LENGTH + 10}

    parallel = graph.StateGraph(FanOutState)
    ids = [f"n{index}" for index in range(FAN_OUT_WIDTH)]
    for node_id in ids:
        parallel.add_node(node_id, append)
        parallel.add_edge(start, node_id)
    parallel.add_node("join", nothing)
    parallel.add_edge(ids, "join")
    parallel.add_edge("join", end)
    compiled_fan_out = parallel.compile()
    saver: Any = importlib.import_module("langgraph.checkpoint.memory")
    saved_chain = sequential.compile(checkpointer=saver.InMemorySaver())
    saved_fan_out = parallel.compile(checkpointer=saver.InMemorySaver())
    threads = iter(range(1_000_000))

    def thread(extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """A new thread per run (each run checkpoints from scratch), with ``extra`` config."""
        return {**(extra or {}), "configurable": {"thread_id": f"bench-{next(threads)}"}}

    return {
        "checkpointed": {
            "chain_500": _timed_per_node(
                lambda: saved_chain.invoke({"x": 1}, thread(limit)),
                CHAIN_LENGTH,
                LANGGRAPH_REPETITIONS["chain_500"],
                lambda result: result == {"x": 1},
            ),
            "fan_out_100": _timed_per_node(
                lambda: saved_fan_out.invoke({"x": 1, "out": []}, thread()),
                FAN_OUT_WIDTH,
                LANGGRAPH_REPETITIONS["fan_out_100"],
                lambda result: result["out"] == [1] * FAN_OUT_WIDTH,
            ),
        },
        "version": metadata.version("langgraph"),
        "import_seconds": round(import_seconds, 3),
        "chain_500": _timed_per_node(
            lambda: compiled_chain.invoke({"x": 1}, limit),
            CHAIN_LENGTH,
            LANGGRAPH_REPETITIONS["chain_500"],
            lambda result: result == {"x": 1},
        ),
        "fan_out_100": _timed_per_node(
            lambda: compiled_fan_out.invoke({"x": 1, "out": []}),
            FAN_OUT_WIDTH,
            LANGGRAPH_REPETITIONS["fan_out_100"],
            lambda result: result["out"] == [1] * FAN_OUT_WIDTH,
        ),
    }


# ---------------------------------------------------------------- dynamiq


def _dynamiq() -> dict[str, Any]:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    started = time.perf_counter()
    workflow: Any = importlib.import_module("dynamiq.workflow")
    flows: Any = importlib.import_module("dynamiq.flows")
    operators: Any = importlib.import_module("dynamiq.nodes.operators")
    node_module: Any = importlib.import_module("dynamiq.nodes.node")
    tools: Any = importlib.import_module("dynamiq.nodes.tools.function_tool")
    import_seconds = time.perf_counter() - started
    # Its logger is at INFO with a line per node and state; the other engines log nothing per node.
    logging.getLogger("dynamiq.utils.logger").setLevel(logging.WARNING)

    def build(nodes: list[Any]) -> Any:
        return workflow.Workflow(flow=flows.Flow(nodes=nodes))

    def passing(node_id: str, source: str) -> Any:
        selector = node_module.InputTransformer(selector={"x": source})
        return operators.Pass(id=node_id, name=node_id, input_transformer=selector)

    chain_nodes: list[Any] = []
    for index in range(CHAIN_LENGTH):
        previous = chain_nodes[-1] if chain_nodes else None
        node = passing(f"n{index}", f"$.{previous.id}.output.x" if previous else "$.x")
        chain_nodes.append(node.depends_on(previous) if previous else node)
    pass_chain = build(chain_nodes)

    first = operators.Pass(id="start", name="start")
    spread = [passing(f"n{index}", "$.start.output.x").depends_on(first) for index in range(FAN_OUT_WIDTH)]
    pass_fan_out = build([first, *spread, operators.Pass(id="join", name="join").depends_on(spread)])

    def no_op(x: int = 0, **_: Any) -> int:
        return x

    tool = tools.function_tool(no_op)
    origin = tool(id="start", name="start")
    mapped = [
        tool(id=f"n{index}", name=f"n{index}").inputs(x=origin.outputs.content).depends_on(origin)
        for index in range(FAN_OUT_WIDTH)
    ]
    tool_fan_out = build([origin, *mapped, tool(id="join", name="join").depends_on(mapped)])

    def succeeded(result: Any) -> bool:
        return str(result.status.value) == "success"

    def run(graph: Any) -> Runner:
        return lambda: graph.run_sync(input_data={"x": 1})

    chain_runs, fan_out_runs = DYNAMIQ_REPETITIONS["chain_500"], DYNAMIQ_REPETITIONS["fan_out_100"]

    return {
        "version": metadata.version("dynamiq"),
        "import_seconds": round(import_seconds, 3),
        "pass_jsonpath": {
            "chain_500": _timed_per_node(run(pass_chain), CHAIN_LENGTH, chain_runs, succeeded),
            "fan_out_100": _timed_per_node(run(pass_fan_out), FAN_OUT_WIDTH, fan_out_runs, succeeded),
        },
        "function_tool": {
            "fan_out_100": _timed_per_node(run(tool_fan_out), FAN_OUT_WIDTH, fan_out_runs, succeeded),
        },
    }


def fresh_import_seconds(module: str) -> dict[str, Any]:
    """Import time of ``module`` in a fresh interpreter (nothing imported yet), median of several."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    environment = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    samples = []
    for _ in range(IMPORT_REPETITIONS):
        completed = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=True
        )
        samples.append(float(completed.stdout.strip().splitlines()[-1]))
    return {"median_s": round(median(samples), 3), "repetitions": IMPORT_REPETITIONS}


def main(out: str) -> None:
    results: dict[str, Any] = {
        "python": sys.version.split()[0],
        "pydantic": metadata.version("pydantic"),
        "switchboard": measure_switchboard(),
        "langgraph": _langgraph(),
        "dynamiq": _dynamiq(),
    }
    results["langgraph"]["fresh_import"] = fresh_import_seconds("langgraph.graph")
    results["dynamiq"]["fresh_import"] = fresh_import_seconds("dynamiq")
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main(sys.argv[1])
