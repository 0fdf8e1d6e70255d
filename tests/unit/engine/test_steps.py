"""The transform, validator and choice steps: success and failure of each."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.engine.contracts import RunResult
from tests.support.fakes import HttpTarget, Reply
from tests.unit.engine.harness import INPUT, output, run, workflow


def _run_step(node: dict[str, Any], run_input: dict[str, Any] | None = None) -> RunResult:
    fields = [
        {"name": name, "type": "object" if isinstance(v, dict) else "string"}
        for name, v in (run_input or {}).items()
    ]
    definition = workflow(
        {"id": "in", "type": "input", "fields": fields}, {"id": "s", **node}, output(v="$.s.output")
    )
    result, _ = run(definition, run_input)
    return result


def _error_type(result: RunResult) -> str | None:
    error = result.nodes["s"].error
    return error.type if error is not None else None


def test_a_template_renders_inputs_and_objects_as_json() -> None:
    # Given a template over a string and a list input
    node = {
        "type": "transform",
        "inputs": {"name": "$.input.name", "items": [{"a": 1}]},
        "config": {"template": "{{ name | upper }} has {{ items | length }}: {{ items }}"},
    }

    # When it runs
    result = _run_step(node, {"name": "ada"})

    # Then the output is the rendered text
    assert result.output == {"v": 'ADA has 1: [{"a": 1}]'}


def test_a_referenced_value_is_not_rendered_as_a_template() -> None:
    # Given run input that looks like template code
    node = {"type": "transform", "inputs": {"name": "$.input.name"}, "config": {"template": "Hi {{ name }}"}}

    # When it runs
    result = _run_step(node, {"name": "{{ 7 * 7 }}"})

    # Then the text came through literally
    assert result.output == {"v": "Hi {{ 7 * 7 }}"}


@pytest.mark.parametrize(
    ("template", "message_part"),
    [
        ("{{ missing }}", "'missing' is undefined"),
        ("{{ name.__class__.__mro__ }}", "unsafe"),
        ("{{ name.__class__ }}", "unsafe"),
        ("{% for x in %}", "syntax error"),
        ("{{ items.append(1) }}", "unsafe"),
    ],
)
def test_template_errors_fail_the_node_clearly(template: str, message_part: str) -> None:
    # Given a template that is undefined, unsafe, invalid or mutating
    node = {"type": "transform", "inputs": {"name": "x", "items": []}, "config": {"template": template}}

    # When it runs
    result = _run_step(node)

    # Then the node fails with template_error and a message that says why
    error = result.nodes["s"].error
    assert error is not None
    assert error.type == "template_error"
    assert message_part in error.message
    assert result.status == "failed"


def test_a_jmespath_transform_reshapes_the_inputs() -> None:
    # Given a JMESPath transform
    node = {
        "type": "transform",
        "inputs": {"people": [{"name": "a", "age": 30}, {"name": "b", "age": 12}]},
        "config": {"jmespath": "people[?age > `18`].name"},
    }

    # When it runs / Then the output is the expression's result
    assert _run_step(node).output == {"v": ["a"]}


def test_a_jmespath_type_error_fails_without_quoting_the_value() -> None:
    # Given an expression applying length() to a number
    node = {"type": "transform", "inputs": {"secret": 1234567}, "config": {"jmespath": "length(secret)"}}

    # When it runs
    result = _run_step(node)

    # Then the node fails with expression_error, naming types, not the value
    error = result.nodes["s"].error
    assert error is not None
    assert error.type == "expression_error"
    assert "length" in error.message
    assert "1234567" not in error.message


def test_a_json_schema_validator_passes_its_input_through() -> None:
    # Given a validator of a referenced object
    schema = {"type": "object", "required": ["items"], "properties": {"items": {"type": "array"}}}
    node = {"type": "validator", "config": {"input": "$.input.doc", "json_schema": schema}}

    # When the value matches / Then the output is the value itself
    assert _run_step(node, {"doc": {"items": [1]}}).output == {"v": {"items": [1]}}


def test_a_json_schema_validator_fails_with_the_path_and_rule_only() -> None:
    # Given a schema and a value with a wrong nested type
    schema = {"type": "object", "properties": {"items": {"type": "array", "items": {"type": "integer"}}}}
    node = {"type": "validator", "config": {"input": "$.input.doc", "json_schema": schema}}

    # When it runs
    result = _run_step(node, {"doc": {"items": [1, "private-value"]}})

    # Then it fails with validation_failed at the JSON path, without repeating the value
    error = result.nodes["s"].error
    assert error is not None
    assert error.type == "validation_failed"
    assert error.message == "validation failed at $.items[1]: expected type integer"
    assert "private-value" not in str(error)


def test_a_missing_required_property_is_named() -> None:
    # Given a required property that is absent from the node's inputs
    node = {"type": "validator", "inputs": {"a": 1}, "config": {"json_schema": {"required": ["a", "b"]}}}

    # When it runs / Then the message names the missing property
    error = _run_step(node).nodes["s"].error
    assert error is not None
    assert error.message == "validation failed at $: missing required properties: b"


def test_a_regex_validator_requires_a_full_match() -> None:
    # Given a regex validator of a code
    node = {"type": "validator", "config": {"input": "$.input.code", "regex": "[A-Z]{3}-\\d+"}}

    # When values match fully, partly, or are not strings
    passed = _run_step(node, {"code": "ABC-12"})
    partial = _run_step(node, {"code": "ABC-12x"})

    # Then only the full match passes
    assert passed.output == {"v": "ABC-12"}
    assert _error_type(partial) == "validation_failed"
    assert partial.nodes["s"].error is not None
    assert "ABC-12x" not in partial.nodes["s"].error.message
    not_text = {"type": "validator", "inputs": {"n": 1}, "config": {"regex": ".*"}}
    assert _error_type(_run_step(not_text)) == "validation_failed"


def test_a_choice_whose_condition_cannot_be_evaluated_fails() -> None:
    # Given a condition that applies length() to null
    node = {
        "type": "choice",
        "inputs": {"items": None},
        "config": {"branches": [{"when": "length(items) > `0`", "next": ["t"]}]},
    }
    target = {"id": "t", "type": "transform", "depends": ["s"], "config": {"template": "t"}}
    definition = workflow(INPUT, {"id": "s", **node}, target, output(t="$.t.output"))

    # When it runs
    result, _ = run(definition)

    # Then the choice failed with expression_error and its target never ran
    assert _error_type(result) == "expression_error"
    assert result.nodes["t"].status == "skipped"


def test_a_schema_reference_outside_the_schema_is_never_fetched(target: HttpTarget) -> None:
    # Given a validator whose schema points at a URL the executor could reach
    target.respond("/schema.json", Reply(body={"type": "string"}))
    node = {
        "type": "validator",
        "inputs": {"value": "$.input.text"},
        "config": {"json_schema": {"$ref": f"{target.url}/schema.json"}},
    }
    # When it validates
    result = _run_step(node, {"text": "x"})
    # Then it fails without any request reaching the URL
    assert _error_type(result) == "validation_failed"
    assert target.requests == []
