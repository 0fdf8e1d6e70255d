"""How the scheduler scales and where nodes run: linear scheduling, the scheduled order, compute-only
nodes on the scheduler thread (without holding up I/O branches), the default worker count, span ids."""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from switchboard.engine.contracts import RunContext
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.graph import runs_inline, scheduled_order
from switchboard.engine.nodes import StepNode
from switchboard.engine.runner import execute
from tests.support.fakes import HttpTarget, Reply
from tests.unit.engine.harness import INPUT, LOOPBACK_ALLOWED, Sink, Switch, output, run, workflow


def _copy(node_id: str, depends: list[str], source: str) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "transform",
        "depends": depends,
        "inputs": {"x": source},
        "config": {"jmespath": "x"},
    }


def _chain(length: int) -> WorkflowDefinition:
    nodes: list[dict[str, Any]] = [
        {"id": "in", "type": "input", "fields": [{"name": "x", "type": "integer", "default": 7}]}
    ]
    previous, source = "in", "$.input.x"
    for index in range(length):
        nodes.append(_copy(f"n{index}", [previous], source))
        previous, source = f"n{index}", f"$.n{index}.output"
    nodes.append({"id": "out", "type": "output", "depends": [previous], "mappings": {"x": source}})
    return workflow(*nodes)


class _Burst(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    """The default backlog (5) can drop the SYNs of a burst of parallel requests: 1 s retransmits."""


class _Slow(BaseHTTPRequestHandler):
    arrivals: list[float] = []

    def do_GET(self) -> None:
        _Slow.arrivals.append(time.monotonic())
        time.sleep(0.3)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_: Any) -> None:
        return


@contextmanager
def _slow_server() -> Iterator[str]:
    """A loopback server answering every GET after 300 ms, one thread per request."""
    server = _Burst(("127.0.0.1", 0), _Slow)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _calls_per_node(length: int) -> float:
    """Function calls (Python and C) made while a chain of ``length`` runs, per node: a count, not a time,
    so a loaded machine does not bend it."""
    definition = _chain(length)
    calls = 0

    def count(_frame: Any, event: str, _arg: Any) -> None:
        nonlocal calls
        if event in ("call", "c_call"):
            calls += 1

    threading.setprofile(count)
    sys.setprofile(count)
    try:
        result, _ = run(definition)
    finally:
        sys.setprofile(None)
        threading.setprofile(None)
    assert result.output == {"x": 7}
    return calls / length


def test_scheduling_cost_per_node_does_not_grow_with_the_chain() -> None:
    # Given chains of 50 and 500 no-op transforms
    # When each runs, counting the Python calls it makes
    short, long = _calls_per_node(50), _calls_per_node(500)

    # Then a node of the long chain costs about what a node of the short one does (a scheduler that
    # rescans every node after each completion makes about ten times more calls per node at 500)
    assert long < 1.5 * short, (short, long)


def test_nodes_are_considered_dependencies_first_then_in_definition_order() -> None:
    # Given a definition listed out of dependency order
    definition = workflow(
        output(c="$.c.output", d="$.d.output"),
        _copy("c", ["b"], "$.b.output"),
        _copy("b", ["a"], "$.a.output"),
        _copy("d", ["in"], "$.input.question"),
        _copy("a", ["in"], "$.input.question"),
        INPUT,
    )

    # Then the order is by rounds (no dependency; dependencies all in the previous rounds), each round in
    # definition order
    assert [node.id for node in scheduled_order(definition)] == ["in", "d", "a", "b", "c", "out"]

    # And the run follows it
    result, sink = run(definition, {"question": "q"})
    assert result.output == {"c": "q", "d": "q"}
    assert [data["node_id"] for data in sink.of("node.started")] == ["in", "d", "a", "b", "c", "out"]


def test_compute_only_nodes_do_not_hold_up_a_slow_io_branch(target: HttpTarget) -> None:
    # Given a slow http node next to a chain of transforms
    target.respond("/slow", Reply(body={"ok": True}, delay_ms=300))
    definition = workflow(
        INPUT,
        {"id": "fetch", "type": "http", "config": {"url": f"{target.url}/slow"}},
        _copy("a", [], "$.input.question"),
        _copy("b", ["a"], "$.a.output"),
        _copy("c", ["b"], "$.b.output"),
        output(fetched="$.fetch.output.body", copied="$.c.output"),
    )

    # When it runs
    result, sink = run(definition, {"question": "q"})

    # Then the transforms ran while the request was waiting
    assert result.output == {"fetched": {"ok": True}, "copied": "q"}
    completed = [data["node_id"] for data in sink.of("node.completed")]
    assert completed.index("c") < completed.index("fetch")


def test_only_steps_that_only_compute_and_never_back_off_run_inline(target: HttpTarget) -> None:
    schema_with = {"type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}, "$defs": {"a": {}}}
    remote = {"type": "object", "properties": {"a": {"$ref": "https://schemas.example.test/a.json"}}}
    definition = workflow(
        INPUT,
        _copy("transform", [], "$.input.question"),
        {**_copy("retried", [], "$.input.question"), "error_handling": {"retries": 1}},
        {
            "id": "choose",
            "type": "choice",
            "inputs": {"q": "$.input.question"},
            "config": {"branches": [{"when": "q", "next": ["picked"]}]},
        },
        _copy("picked", ["choose"], "$.input.question"),
        {"id": "regex", "type": "validator", "inputs": {"q": 1}, "config": {"regex": "a+"}},
        {"id": "local_ref", "type": "validator", "config": {"json_schema": schema_with}},
        {"id": "remote_ref", "type": "validator", "config": {"json_schema": remote}},
        {"id": "fetch", "type": "http", "config": {"url": f"{target.url}/x"}},
        output(q="$.input.question"),
    )
    steps = {node.id: node for node in definition.nodes if isinstance(node, StepNode)}

    inline = {node_id for node_id, node in steps.items() if runs_inline(node)}

    # A validator whose schema points outside itself may be fetched by jsonschema: not inline
    assert inline == {"transform", "choose", "picked", "regex", "local_ref", "remote_ref"}


def test_the_default_workers_run_a_wide_http_fan_out_at_once() -> None:
    # Given 16 independent http nodes, each answered after 300 ms, and the engine's default worker count
    ids = [f"call_{index}" for index in range(16)]
    context = RunContext(
        run_id="run-test",
        input={},
        credentials={},
        events=Sink(),
        cancellation=Switch(),
        egress=LOOPBACK_ALLOWED,
    )
    with _slow_server() as url:
        nodes = [{"id": node_id, "type": "http", "config": {"url": f"{url}/slow"}} for node_id in ids]
        mappings = {node_id: f"$.{node_id}.output.status" for node_id in ids}
        definition = workflow(INPUT, *nodes, output(**mappings))

        # When it runs
        _Slow.arrivals.clear()
        result = execute(definition, context)

    # Then all requests were in flight together: every one arrived before the first was answered (8 workers
    # would take two rounds, and a new SSL context per request would add 20 to 35 ms of CPU each, in turn)
    assert result.status == "completed", result.error
    assert result.output == dict.fromkeys(ids, 200)
    assert len(_Slow.arrivals) == 16
    assert max(_Slow.arrivals) - min(_Slow.arrivals) < 0.3


def test_span_ids_are_unique_within_a_trace() -> None:
    # Given a run with many spans
    result, _ = run(_chain(100))

    # Then every span id is 16 hex digits and none repeats
    ids = [span.id for span in result.spans]
    assert len(ids) == len(set(ids)) == 1 + 102 + 100
    assert all(re.fullmatch(r"[0-9a-f]{16}", span_id) for span_id in ids)
    assert {span.parent_id for span in result.spans} - {None} <= set(ids)
