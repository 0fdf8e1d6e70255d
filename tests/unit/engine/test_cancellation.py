"""Cooperative cancellation: between nodes, before a tool call, during a retry backoff."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.support.fakes import Completion, FakeOpenAI, HttpTarget, Reply
from tests.unit.engine.harness import INPUT, OPENAI, Sink, Switch, openai_credential, output, run, workflow


def _step(node_id: str, depends: list[str]) -> dict[str, Any]:
    return {"id": node_id, "type": "transform", "depends": depends, "config": {"template": node_id}}


def test_cancellation_between_nodes_stops_the_run_before_the_next_node() -> None:
    # Given a chain a → b → c, canceled as soon as a completes
    switch = Switch()

    def cancel_after_a(event_type: str, data: Mapping[str, Any]) -> None:
        if event_type == "node.completed" and data["node_id"] == "a":
            switch.cancel()

    definition = workflow(INPUT, _step("a", []), _step("b", ["a"]), _step("c", ["b"]), output(c="$.c.output"))

    # When it runs
    result, sink = run(definition, cancellation=switch, sink=Sink(on_emit=cancel_after_a))

    # Then a completed, nothing else started, and the run ended canceled (never completed)
    assert result.status == "canceled"
    assert result.output is None
    assert result.error is not None
    assert result.error.type == "canceled"
    assert {node_id: node.status for node_id, node in result.nodes.items()} == {
        "in": "completed",
        "a": "completed",
        "b": "canceled",
        "c": "canceled",
        "out": "canceled",
    }
    assert [data["node_id"] for data in sink.of("node.started")] == ["in", "a"]
    assert sink.types()[-1] == "run.canceled"
    assert "run.completed" not in sink.types()
    assert [span.status for span in result.spans if span.kind == "run"] == ["canceled"]


def test_cancellation_is_checked_before_a_tool_call(llm: FakeOpenAI, target: HttpTarget) -> None:
    # Given an agent whose model asks for an http tool, and a run canceled while the model was answering
    target.respond("/search", Reply(body={}))
    llm.script(
        Completion(tool_calls=[{"name": "search", "arguments": {"q": "x"}}]), Completion(content="done")
    )
    switch = Switch(when=lambda: len(llm.requests) >= 1)
    definition = workflow(
        INPUT,
        {
            "id": "agent",
            "type": "agent",
            "connection": {"connection_id": OPENAI},
            "config": {"model": "m", "instructions": "go", "tools": ["search"]},
        },
        {"id": "search", "type": "http", "inputs": {"q": None}, "config": {"url": f"{target.url}/search"}},
        output(a="$.agent.output"),
    )

    # When it runs
    result, sink = run(definition, credentials=[openai_credential(llm)], cancellation=switch)

    # Then the tool was never called, no second model request was made, and the run ended canceled
    assert target.requests == []
    assert len(llm.requests) == 1
    assert result.status == "canceled"
    assert result.nodes["agent"].status == "canceled"
    assert result.nodes["out"].status == "canceled"
    assert sink.of("node.canceled")[0] == {"node_id": "agent"}
    assert "agent.tool_call.started" not in sink.types()
    assert sink.types()[-1] == "run.canceled"


def test_cancellation_during_a_backoff_prevents_the_retry(target: HttpTarget) -> None:
    # Given a failing target, a node allowed retries, and a cancellation that arrives during the wait
    target.respond("/down", Reply(status=500, body={}))
    switch = Switch()
    node = {
        "id": "call",
        "type": "http",
        "config": {"url": f"{target.url}/down"},
        "error_handling": {"retries": 3},
    }
    definition = workflow(INPUT, node, output(x="$.call.output"))

    # When it runs, the injected sleep being where the cancellation lands
    result, _ = run(definition, cancellation=switch, sleep=lambda _seconds: switch.cancel())

    # Then there was one request only, and the node and run are canceled
    assert len(target.requests_to("/down")) == 1
    assert result.nodes["call"].status == "canceled"
    assert result.status == "canceled"
