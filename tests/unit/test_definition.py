"""The workflow definition language: valid examples, garbage, messages, references, JSON Schema export."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from switchboard.engine.definition import json_schema, main, render_json_schema
from switchboard.engine.nodes import ConnectionRef
from switchboard.engine.references import InvalidReferenceError, Reference, parse_reference
from switchboard.engine.validation import validate_definition
from tests.unit.workflow_examples import PROJECT, SHARED, codes, details_of, full_definition, node

ROOT = Path(__file__).resolve().parents[2]


def test_full_example_with_every_node_type_is_valid() -> None:
    # Given a definition using every node type, a requirement and a shared connection
    raw = full_definition()

    # When it is validated
    validated = validate_definition(raw, project_connections=PROJECT)

    # Then it parses into typed nodes and reports the connections and requirements it needs
    assert validated.connection_ids == [SHARED]
    assert validated.requirement_ids == ["crm"]
    assert validated.definition.connection_refs() == [
        ("lookup", ConnectionRef(requirement="crm")),
        ("answer", ConnectionRef(connection_id=SHARED)),
        ("summarize", ConnectionRef(connection_id=SHARED)),
    ]
    assert validated.definition.tool_node_ids() == {"search", "summarize"}
    assert validated.definition.input_node().id == "in"
    assert validated.definition.output_node().id == "out"
    assert {n.type for n in validated.definition.nodes} == {
        "input",
        "output",
        "transform",
        "http",
        "llm",
        "agent",
        "choice",
        "validator",
    }


def test_documented_complete_example_is_valid() -> None:
    # Given the complete example of docs/workflow-definition.md
    text = (ROOT / "docs" / "workflow-definition.md").read_text(encoding="utf-8")
    example = text.split("## Complete example", 1)[1].split("```json\n", 1)[1].split("```", 1)[0]

    # When it is validated against the project its closing sentence describes
    validated = validate_definition(json.loads(example), project_connections={"con-openai0shared": "openai"})

    # Then it is valid as documented
    assert validated.connection_ids == ["con-openai0shared"]
    assert validated.requirement_ids == ["crm"]


def test_all_graph_problems_are_reported_at_once() -> None:
    # Given a structurally valid definition with three unrelated graph problems
    raw = full_definition()
    node(raw, "sorry")["depends"].append("ghost")
    node(raw, "summarize").pop("connection")
    node(raw, "search")["config"] = {}

    # When it is validated
    details = details_of(raw)

    # Then every problem is listed, not only the first
    assert sorted(code for _, code in codes(details)) == [
        "dangling_reference",
        "missing_connection",
        "missing_url",
    ]


def test_a_cycle_names_its_nodes_in_order() -> None:
    # Given pick depends on sorry, and sorry on pick
    raw = full_definition()
    node(raw, "sorry")["depends"].append("pick")

    # When it is validated
    details = details_of(raw)

    # Then the message walks the cycle
    assert (
        details[0]["message"]
        == "depends forms a cycle: sorry -> pick -> sorry (each node depends on the next)"
    )


def test_unknown_node_type_message_lists_types_and_never_echoes_values() -> None:
    # Given wrong values that look like secrets
    raw = full_definition()
    node(raw, "sorry")["type"] = "sk-live-SECRET1"
    node(raw, "lookup")["error_handling"]["retries"] = "sk-live-SECRET2"
    node(raw, "summarize")["config"]["temperature"] = "sk-live-SECRET3"

    # When it is validated
    details = details_of(raw)

    # Then the details point at the fields without repeating what was sent
    assert "SECRET" not in json.dumps(details)
    assert [detail["code"] for detail in details] == ["int_type", "float_type", "unknown_node_type"]
    assert details[2]["message"].startswith("unknown node type; expected one of: input, output, transform")


def _nested(depth: int) -> list[Any]:
    root: list[Any] = []
    current = root
    for _ in range(depth):
        current.append([])
        current = current[0]
    return root


def _cyclic() -> list[Any]:
    loop: list[Any] = []
    loop.extend([loop, loop])
    return loop


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, [([], "model_type")]),
        ("a workflow", [([], "model_type")]),
        ([full_definition()], [([], "model_type")]),
        (42, [([], "model_type")]),
        ({}, [(["nodes"], "missing")]),
        ({"nodes": [1]}, [(["nodes", 0], "model_attributes_type")]),
        (
            {"nodes": [{"type": "input", "id": "in", "fields": [1.5]}]},
            [(["nodes", 0, "fields", 0], "model_type")],
        ),
        ({"nodes": [{"id": float("nan")}]}, [(["nodes", 0, "id"], "invalid_json_value")]),
        ({"nodes": [{1: "x"}]}, [(["nodes", 0], "invalid_json_value")]),
        ({"nodes": [object()]}, [(["nodes", 0], "invalid_json_value")]),
        ({"nodes": _cyclic()}, [([], "too_large")]),
        ({"nodes": list(range(100_001))}, [([], "too_large")]),
    ],
    ids=[
        "none",
        "string",
        "list",
        "number",
        "empty",
        "node_not_object",
        "wrong_types",
        "nan",
        "int_key",
        "object",
        "cyclic",
        "huge",
    ],
)
def test_garbage_input_fails_validation_and_nothing_else(raw: object, expected: list[Any]) -> None:
    # Given input that is not a workflow definition
    # When it is validated
    details = details_of(raw)

    # Then it fails with ValidationFailed details, never another exception
    assert codes(details) == expected


def test_deep_nesting_is_rejected_before_anything_recurses() -> None:
    # Given a value nested far deeper than Python's recursion limit
    raw = {"nodes": _nested(50_000)}

    # When it is validated
    details = details_of(raw)

    # Then one too_deep problem is reported at the depth limit
    assert [detail["code"] for detail in details] == ["too_deep"]
    assert len(details[0]["loc"]) == 65


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$.input", Reference(node_id=None, path=())),
        ("$.input.question", Reference(node_id=None, path=("question",))),
        ("$.lookup.output", Reference(node_id="lookup", path=())),
        (
            "$.lookup.output.body.items[2].first-name",
            Reference(node_id="lookup", path=("body", "items", 2, "first-name")),
        ),
    ],
)
def test_references_parse_into_node_and_path(text: str, expected: Reference) -> None:
    # Given a well-formed reference / When it is parsed / Then its node and path come out
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    "text",
    ["$.", "$.lookup", "$.lookup.result", "$.Lookup.output", "$.input[0]", "$.a.output.", "$.a.output[x]"],
)
def test_malformed_references_are_rejected(text: str) -> None:
    # Given a string that starts like a reference but breaks the grammar / When parsed / Then it is rejected
    with pytest.raises(InvalidReferenceError):
        parse_reference(text)


def test_committed_json_schema_matches_the_models() -> None:
    # Given the JSON Schema committed next to the docs
    committed = json.loads((ROOT / "docs" / "workflow-definition.schema.json").read_text(encoding="utf-8"))

    # When the models export theirs
    exported = json_schema()

    # Then they are the same; regenerate with `python -m switchboard.engine.definition <path>` if not
    assert committed == exported, (
        "run: python -m switchboard.engine.definition docs/workflow-definition.schema.json"
    )


def test_schema_command_writes_the_export(tmp_path: Path) -> None:
    # Given a target path
    target = tmp_path / "schema.json"

    # When the module's command runs with it
    main(["definition", str(target)])

    # Then the file holds the rendered export
    assert target.read_text(encoding="utf-8") == render_json_schema()
    assert json.loads(render_json_schema())["$schema"] == "https://json-schema.org/draft/2020-12/schema"
