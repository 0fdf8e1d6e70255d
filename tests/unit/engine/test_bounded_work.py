"""Bounded node work: CPU-heavy templates, JMESPath, regexes and JSON Schema checks end with the node's
``timeout`` within its timeout plus a second, values over ``max_value_bytes`` fail ``output_too_large``, and
the legitimate use next to each attack still works (real worker processes, no AWS)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from switchboard.engine.bounded import tasks
from switchboard.engine.contracts import RunResult
from switchboard.engine.errors import StepError
from tests.unit.engine.harness import Switch, output, run, workflow

HUGE_STRING = "{{ 'x' * 100000000 }}"


def _node(node_type: str, config: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"id": "s", "type": node_type, "config": config, **extra}


def _run(node: dict[str, Any], run_input: dict[str, Any] | None = None) -> tuple[RunResult, float]:
    """The run of ``in → s → out`` and how long it took, in seconds."""
    fields = [{"name": name, "type": "object"} for name in run_input or {}]
    definition = workflow({"id": "in", "type": "input", "fields": fields}, node, output(v="$.s.output"))
    started = time.monotonic()
    result, _ = run(definition, run_input)
    return result, time.monotonic() - started


def _error(result: RunResult) -> str | None:
    error = result.nodes["s"].error
    return error.type if error is not None else None


def _quick(seconds: int = 1) -> dict[str, Any]:
    return {"error_handling": {"timeout_seconds": seconds}}


def test_big_int_arithmetic_in_a_template_ends_at_the_nodes_timeout() -> None:
    # Given a template whose arithmetic would hold a CPU for many seconds, on a node with a 1 s timeout
    heavy = _node("transform", {"template": "{{ (3**30000000) % 7 }}"}, **_quick())
    # When it runs
    result, elapsed = _run(heavy)
    # Then the node fails timeout within its timeout plus one second
    assert result.status == "failed"
    assert _error(result) == "timeout"
    assert result.nodes["s"].error is not None
    assert result.nodes["s"].error.message == "node 's' timed out after 1 s"
    assert elapsed < 2
    # And arithmetic of a normal size still computes, in the same process
    normal, _ = _run(_node("transform", {"template": "{{ (2**1000) % 7 }}"}, **_quick()))
    assert normal.status == "completed"
    assert normal.output == {"v": "2"}


def test_a_template_loop_without_end_ends_at_the_nodes_timeout() -> None:
    # Given loops inside loops that write nothing (so no size cap stops them)
    loops = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}done"
    # When it runs with a 1 s timeout
    result, elapsed = _run(_node("transform", {"template": loops}, **_quick()))
    # Then it fails timeout within two seconds
    assert _error(result) == "timeout"
    assert elapsed < 2
    # And a loop over the data renders
    names = "{% for c in contacts %}{{ c.name }};{% endfor %}"
    contacts = {"doc": {"contacts": [{"name": "Ada"}, {"name": "Grace"}]}}
    loop = _node("transform", {"template": names}, inputs={"contacts": "$.input.doc.contacts"})
    legit, _ = _run(loop, contacts)
    assert legit.status == "completed"
    assert legit.output == {"v": "Ada;Grace;"}


def test_a_huge_rendered_string_fails_output_too_large() -> None:
    # Given a template that builds a 100 MB string
    # When it runs
    result, _ = _run(_node("transform", {"template": HUGE_STRING}))
    # Then the node fails output_too_large, not the process
    assert result.status == "failed"
    assert _error(result) == "output_too_large"
    # And the next node's work still runs
    after, _ = _run(_node("transform", {"template": "{{ 'ab' * 3 }}"}))
    assert after.output == {"v": "ababab"}


def test_a_string_over_the_process_memory_fails_output_too_large_and_the_next_heavy_node_runs() -> None:
    # Given a template that asks for a 10 GB string, far over a worker's memory
    result, _ = _run(_node("transform", {"template": "{{ 'x' * 10000000000 }}"}))
    # Then the node fails output_too_large with the memory named
    assert _error(result) == "output_too_large"
    assert result.nodes["s"].error is not None
    assert "MiB of memory" in result.nodes["s"].error.message
    # And a heavy node after it runs on a fresh worker
    after, _ = _run(_node("transform", {"template": "{{ 7 ** 3 }}"}))
    assert after.status == "completed"
    assert after.output == {"v": "343"}


def test_max_value_bytes_is_the_nodes_own_cap() -> None:
    # Given a 2 KB text rendered by nodes capped at 1 KB and at 4 KB
    text = {"doc": {"text": "y" * 2048}}
    inputs = {"inputs": {"text": "$.input.doc.text"}}
    small = _node("transform", {"template": "{{ text }}"}, max_value_bytes=1024, **inputs)
    large = _node("transform", {"template": "{{ text }}"}, max_value_bytes=4096, **inputs)
    # When each runs
    refused, _ = _run(small, text)
    rendered, _ = _run(large, text)
    # Then the 1 KB node fails output_too_large naming its cap, and the 4 KB one renders it
    assert _error(refused) == "output_too_large"
    assert refused.nodes["s"].error is not None
    assert refused.nodes["s"].error.details == {"max_value_bytes": 1024}
    assert rendered.status == "completed"
    assert rendered.output == {"v": "y" * 2048}


def test_a_jmespath_result_over_the_cap_fails_output_too_large() -> None:
    # Given a JMESPath transform that returns its 3 KB input, capped at 1 KB
    data = {"doc": {"items": ["z" * 100] * 30}}
    capped = _node(
        "transform", {"jmespath": "items"}, inputs={"items": "$.input.doc.items"}, max_value_bytes=1024
    )
    # When it runs
    result, _ = _run(capped, data)
    # Then it fails output_too_large; uncapped, the same expression returns the items
    assert _error(result) == "output_too_large"
    legit, _ = _run({**capped, "max_value_bytes": 8192}, data)
    assert legit.output == {"v": ["z" * 100] * 30}


def test_a_jmespath_expression_that_doubles_its_data_ends_at_the_timeout() -> None:
    # Given an expression that doubles a list forty times over
    doubling = "[@, @][]" + "| [@, @][]" * 40
    heavy = _node("transform", {"jmespath": doubling}, inputs={"x": 1}, **_quick())
    # When it runs with a 1 s timeout
    result, elapsed = _run(heavy)
    # Then it ends within two seconds, failed by its timeout or by a worker's memory
    assert _error(result) in {"timeout", "output_too_large"}
    assert elapsed < 2
    # And one doubling is fine
    legit, _ = _run(_node("transform", {"jmespath": "[x, x]"}, inputs={"x": 1}))
    assert legit.output == {"v": [1, 1]}


def test_quadratic_json_schema_work_ends_at_the_timeout() -> None:
    # Given uniqueItems over 20,000 objects (jsonschema compares them pairwise)
    schema = {"type": "array", "uniqueItems": True}
    heavy = _node("validator", {"input": "$.input.rows.items", "json_schema": schema}, **_quick())
    rows = {"rows": {"items": [{"k": index} for index in range(20000)]}}
    # When it runs with a 1 s timeout
    result, elapsed = _run(heavy, rows)
    # Then it fails timeout within two seconds
    assert _error(result) == "timeout"
    assert elapsed < 2
    # And the same schema over a few rows checks them
    few = {"rows": {"items": [{"k": 1}, {"k": 1}]}}
    duplicate, _ = _run(heavy, few)
    assert _error(duplicate) == "validation_failed"
    assert duplicate.nodes["s"].error is not None
    assert duplicate.nodes["s"].error.details == {"path": "$", "keyword": "uniqueItems"}


def test_a_catastrophic_regex_runs_in_linear_time() -> None:
    # Given the pattern ^(a+)+$ (exponential on a backtracking engine) on a 2 s node
    check = _node("validator", {"input": "$.input.doc.text", "regex": "^(a+)+$"}, **_quick(2))
    # When it checks 100,000 a's and a b, then 30 a's
    attack, _ = _run(check, {"doc": {"text": "a" * 100000 + "b"}})
    legit, _ = _run(check, {"doc": {"text": "a" * 30}})
    # Then the attack fails validation (never timeout), and the match passes
    assert _error(attack) == "validation_failed"
    assert legit.status == "completed"
    assert legit.output == {"v": "a" * 30}


def test_a_schema_pattern_runs_on_re2() -> None:
    # Given a schema whose pattern is catastrophic for a backtracking engine
    schema = {"type": "object", "properties": {"code": {"type": "string", "pattern": "^(a|aa)+$"}}}
    check = _node("validator", {"input": "$.input.doc", "json_schema": schema}, **_quick(2))
    # When it checks a long non-matching code and a matching one
    attack, _ = _run(check, {"doc": {"code": "a" * 5000 + "b"}})
    legit, _ = _run(check, {"doc": {"code": "aaa"}})
    # Then the first fails validation at the property, the second passes
    assert _error(attack) == "validation_failed"
    assert attack.nodes["s"].error is not None
    assert attack.nodes["s"].error.details == {"path": "$.code", "keyword": "pattern"}
    assert legit.output == {"v": {"code": "aaa"}}


def test_a_choice_condition_that_doubles_its_data_ends_at_the_timeout() -> None:
    # Given a choice whose condition doubles its data forty times
    doubling = "length([@, @][]" + "| [@, @][]" * 40 + ") > `0`"
    branches = [{"when": doubling, "next": ["t"]}]
    choice = _node("choice", {"branches": branches}, inputs={"x": 1}, **_quick())
    target = {"id": "t", "type": "transform", "depends": ["s"], "config": {"template": "t"}}
    definition = workflow({"id": "in", "type": "input"}, choice, target, output(t="$.t.output"))
    # When it runs
    started = time.monotonic()
    result, _ = run(definition)
    # Then it ends within two seconds and its branch never ran
    assert _error(result) in {"timeout", "output_too_large"}
    assert time.monotonic() - started < 2
    assert result.nodes["t"].status == "skipped"


def test_a_run_canceled_while_a_worker_computes_ends_canceled_without_waiting_for_the_timeout() -> None:
    # Given a heavy template on a node with a 30 s timeout, and a run canceled half a second in
    heavy = _node("transform", {"template": "{{ (3**30000000) % 7 }}"}, **_quick(30))
    definition = workflow({"id": "in", "type": "input"}, heavy, output(v="$.s.output"))
    started = time.monotonic()
    cancellation = Switch(when=lambda: time.monotonic() - started > 0.5)
    # When it runs
    result, _ = run(definition, cancellation=cancellation)
    # Then the node and the run end canceled within about a second of the cancellation
    assert result.status == "canceled"
    assert result.nodes["s"].status == "canceled"
    assert time.monotonic() - started < 3


def test_a_stored_pattern_re2_cannot_run_fails_regex_unsupported() -> None:
    # Given a backreference (a version saved before patterns were checked for RE2), and a pattern RE2 runs
    # When each is matched as the validator's task
    with pytest.raises(StepError) as refused:
        tasks.perform("match", {"pattern": "(a)\\1", "text": "aa"})
    matched = tasks.perform("match", {"pattern": "(a)a", "text": "aa"})
    # Then the first fails regex_unsupported without retry, the second matches
    assert refused.value.type == "regex_unsupported"
    assert refused.value.retryable is False
    assert matched is True
