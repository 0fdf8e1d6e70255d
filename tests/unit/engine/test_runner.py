"""The scheduler: dependency order, concurrency, events, input defaults, choice branches and skips."""

from __future__ import annotations

import contextvars
import time
from collections.abc import Mapping
from typing import Any

from tests.support.fakes import HttpTarget, Reply
from tests.unit.engine.harness import INPUT, Sink, output, run, spans_of, workflow

CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="unset")


def _template(node_id: str, template: str, depends: list[str], **inputs: object) -> dict[str, object]:
    return {
        "id": node_id,
        "type": "transform",
        "depends": depends,
        "inputs": inputs,
        "config": {"template": template},
    }


def test_a_simple_run_emits_events_in_causal_order() -> None:
    # Given input → transform → output
    definition = workflow(
        INPUT,
        _template("greet", "Hello {{ name }}!", ["in"], name="$.input.question"),
        output(text="$.greet.output"),
    )

    # When it runs
    result, sink = run(definition, {"question": "Ada"})

    # Then it completes with the mapped output, and the events tell the story in order
    assert result.status == "completed"
    assert result.output == {"text": "Hello Ada!"}
    assert result.error is None
    assert sink.types() == [
        "run.started",
        "node.started",
        "node.completed",
        "node.started",
        "node.completed",
        "node.started",
        "node.completed",
        "run.completed",
    ]
    assert [data["node_id"] for kind, data in sink.events if kind == "node.started"] == ["in", "greet", "out"]
    assert sink.of("node.started")[1] == {"node_id": "greet", "type": "transform"}
    assert sink.of("node.completed")[1] == {"node_id": "greet", "output": "Hello Ada!"}
    assert sink.of("run.completed") == [{"output": {"text": "Hello Ada!"}}]
    assert {node_id: node.status for node_id, node in result.nodes.items()} == {
        "in": "completed",
        "greet": "completed",
        "out": "completed",
    }


def test_dependencies_run_first_and_outputs_flow_through_references() -> None:
    # Given a chain where each node reads its dependency's output
    definition = workflow(
        INPUT,
        {
            "id": "first",
            "type": "transform",
            "inputs": {"q": "$.input.question"},
            "config": {"jmespath": "{words: [q, q]}"},
        },
        _template(
            "second",
            "{{ words[1] }}/{{ missing_is_null }}",
            ["first"],
            words="$.first.output.words",
            missing_is_null="$.first.output.nothing[3]",
        ),
        output(result="$.second.output", first_word="$.first.output.words[0]"),
    )

    # When it runs
    result, sink = run(definition, {"question": "hi"})

    # Then each node saw the value its reference points at (a missing path reads null)
    assert result.output == {"result": "hi/None", "first_word": "hi"}
    started = [data["node_id"] for kind, data in sink.events if kind == "node.started"]
    assert started.index("first") < started.index("second")


def test_independent_branches_run_concurrently(target: HttpTarget) -> None:
    # Given two independent http nodes, each answered after 300 ms
    target.respond("/slow", Reply(body={"ok": True}, delay_ms=300))
    slow = {"type": "http", "config": {"url": f"{target.url}/slow"}}
    definition = workflow(
        INPUT, {"id": "a", **slow}, {"id": "b", **slow}, output(a="$.a.output.body", b="$.b.output.body")
    )

    # When the run executes them
    result, _ = run(definition)

    # Then both were in flight at once: the second arrived before the first was answered
    assert result.status == "completed"
    assert result.output == {"a": {"ok": True}, "b": {"ok": True}}
    first, second = sorted(request.received_at for request in target.requests_to("/slow"))
    assert second - first < 0.3


def test_max_workers_bounds_concurrency(target: HttpTarget) -> None:
    # Given the same two slow nodes, and one worker
    target.respond("/slow", Reply(body={}, delay_ms=200))
    slow = {"type": "http", "config": {"url": f"{target.url}/slow"}}
    definition = workflow(INPUT, {"id": "a", **slow}, {"id": "b", **slow}, output(a="$.a.output"))

    # When the run executes them
    started = time.monotonic()
    result, _ = run(definition, max_workers=1)

    # Then they ran one after the other
    assert result.status == "completed"
    assert time.monotonic() - started >= 0.4


def test_input_defaults_apply_and_required_fields_are_enforced() -> None:
    # Given an input node with a required field and a defaulted one
    fields = [{"name": "question", "required": True}, {"name": "limit", "type": "integer", "default": 5}]
    definition = workflow(
        {"id": "in", "type": "input", "fields": fields},
        output(question="$.input.question", limit="$.input.limit"),
    )

    # When it runs with the required field only, and then without it
    completed, _ = run(definition, {"question": "why"})
    failed, sink = run(definition, {"limit": 3})

    # Then the default fills the gap; a missing required field fails the run before any node runs
    assert completed.output == {"question": "why", "limit": 5}
    assert completed.nodes["in"].output == {"question": "why", "limit": 5}
    assert failed.status == "failed"
    assert failed.error is not None
    assert failed.error.type == "invalid_input"
    assert "'question' is required" in failed.error.message
    assert failed.nodes["in"].status == "failed"
    assert failed.nodes["out"].status == "skipped"
    assert failed.output is None
    assert sink.types()[-1] == "run.failed"
    assert "node.completed" not in sink.types()


def test_choice_runs_only_the_matching_branch_and_records_the_skipped_ones() -> None:
    # Given a choice between two branches, a node after the skipped branch only, and a join
    definition = workflow(
        {"id": "in", "type": "input", "fields": [{"name": "n", "type": "integer"}]},
        {
            "id": "route",
            "type": "choice",
            "inputs": {"n": "$.input.n"},
            "config": {
                "branches": [{"when": "n > `10`", "next": ["big"]}, {"when": "n > `0`", "next": ["small"]}],
                "default": ["none"],
            },
        },
        _template("big", "big", ["route"]),
        _template("small", "small", ["route"]),
        _template("none", "none", ["route"]),
        _template("after_big", "after", ["big"]),
        _template("join", "{{ b }}|{{ s }}", ["big", "small", "none"], b="$.big.output", s="$.small.output"),
        output(joined="$.join.output", route="$.route.output"),
    )

    # When n selects the second branch
    result, sink = run(definition, {"n": 3})

    # Then only "small" ran; the others are recorded as skipped, and the join read null for "big"
    assert result.status == "completed"
    assert result.output == {"joined": "None|small", "route": {"branch": 1, "next": ["small"]}}
    statuses = {node_id: node.status for node_id, node in result.nodes.items()}
    assert statuses["small"] == statuses["join"] == "completed"
    assert statuses["big"] == statuses["none"] == statuses["after_big"] == "skipped"
    skipped = {data["node_id"]: data["reason"] for data in sink.of("node.skipped")}
    assert skipped == {
        "big": "branch_not_taken",
        "none": "branch_not_taken",
        "after_big": "dependencies_skipped",
    }


def test_choice_takes_the_default_when_no_branch_matches() -> None:
    # Given a choice whose only branch does not match (0 is truthy in JMESPath, an empty list is not)
    definition = workflow(
        INPUT,
        {
            "id": "route",
            "type": "choice",
            "inputs": {"items": []},
            "config": {"branches": [{"when": "items", "next": ["yes"]}], "default": ["no"]},
        },
        _template("yes", "yes", ["route"]),
        _template("no", "no", ["route"]),
        output(yes="$.yes.output", no="$.no.output"),
    )

    # When it runs
    result, _ = run(definition)

    # Then the default branch ran and the output node still resolved (null for the skipped branch)
    assert result.output == {"yes": None, "no": "no"}
    assert result.nodes["route"].output == {"branch": "default", "next": ["no"]}


def test_spans_form_a_tree_under_the_run() -> None:
    # Given a two-node run
    definition = workflow(INPUT, _template("t", "x", ["in"]), output(t="$.t.output"))

    # When it runs
    result, _ = run(definition)

    # Then there is one run span, a node span per node under it, and an attempt under the step node
    [root] = spans_of(result, "run")
    assert root.parent_id is None
    assert root.status == "completed"
    nodes = spans_of(result, "node")
    assert {span.name for span in nodes} == {"in", "t", "out"}
    assert all(span.parent_id == root.id for span in nodes)
    [attempt] = spans_of(result, "attempt")
    assert attempt.parent_id == next(span.id for span in nodes if span.name == "t")
    assert attempt.outputs == "x"
    assert all(span.ended_at is not None and span.ended_at >= span.started_at for span in result.spans)


def test_worker_threads_see_the_callers_context_variables(target: HttpTarget) -> None:
    # Given a context variable set by the caller, and a node whose retry is announced from its worker
    target.respond("/flaky", Reply(status=500, body={}), Reply(body={}))
    seen: list[str] = []

    def remember(event_type: str, data: Mapping[str, Any]) -> None:
        if event_type == "node.retrying":
            seen.append(CALLER.get())

    node = {
        "id": "call",
        "type": "http",
        "config": {"url": f"{target.url}/flaky"},
        "error_handling": {"retries": 1},
    }
    definition = workflow(INPUT, node, output(x="$.call.output.status"))
    token = CALLER.set("executor")

    # When it runs
    try:
        result, _ = run(definition, sink=Sink(on_emit=remember))
    finally:
        CALLER.reset(token)

    # Then the worker thread ran in a copy of the caller's context
    assert result.status == "completed"
    assert seen == ["executor"]
