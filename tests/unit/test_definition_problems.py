"""Each validation problem of a workflow definition: its code and where it is reported."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from switchboard.domain.errors import ValidationFailed
from switchboard.egress import EgressPolicy
from switchboard.engine.validation import validate_definition
from tests.unit.workflow_examples import PROJECT, at, codes, details_of, full_definition, node

Mutation = Callable[[dict[str, Any]], object]


def _drop_input_node(d: dict[str, Any]) -> None:
    d["nodes"].pop(0)
    node(d, "lookup")["depends"] = []


EXTRA_INPUT = {"id": "in2", "type": "input"}
EXTRA_OUTPUT = {"id": "out2", "type": "output", "mappings": {"x": "$.input"}}

# (what is wrong, how to break the full example, where the problem is reported, its code)
CASES: list[tuple[str, Mutation, str, str]] = [
    ("unknown type", lambda d: node(d, "sorry").update(type="sql"), "nodes/7/type", "unknown_node_type"),
    ("missing type", lambda d: node(d, "sorry").pop("type"), "nodes/7/type", "missing"),
    ("unknown top field", lambda d: d.update(owner="x"), "owner", "unknown_field"),
    (
        "unknown config field",
        lambda d: node(d, "answer")["config"].update(colour="red"),
        "nodes/4/config/colour",
        "unknown_field",
    ),
    (
        "transform with connection",
        lambda d: node(d, "sorry").update(connection={}),
        "nodes/7/connection",
        "unknown_field",
    ),
    (
        "input node with depends",
        lambda d: node(d, "in").update(depends=[]),
        "nodes/0/depends",
        "unknown_field",
    ),
    (
        "timeout over 900",
        lambda d: node(d, "lookup")["error_handling"].update(timeout_seconds=901),
        "nodes/1/error_handling/timeout_seconds",
        "less_than_equal",
    ),
    (
        "no coercion",
        lambda d: node(d, "lookup")["error_handling"].update(retries="2"),
        "nodes/1/error_handling/retries",
        "int_type",
    ),
    ("bad node id", lambda d: node(d, "out").update(id="Out"), "nodes/9/id", "string_pattern_mismatch"),
    (
        "llm without model",
        lambda d: node(d, "summarize")["config"].pop("model"),
        "nodes/6/config/model",
        "missing",
    ),
    ("node named input", lambda d: node(d, "out").update(id="input"), "nodes/9/id", "reserved_node_id"),
    (
        "repeated depends",
        lambda d: node(d, "sorry").update(depends=["route", "route"]),
        "nodes/7/depends",
        "duplicate_value",
    ),
    (
        "connection id and requirement",
        lambda d: node(d, "answer")["connection"].update(requirement="crm"),
        "nodes/4/connection",
        "exactly_one_of",
    ),
    (
        "template and jmespath",
        lambda d: node(d, "sorry")["config"].update(jmespath="a"),
        "nodes/7/config",
        "exactly_one_of",
    ),
    (
        "mapping without output",
        lambda d: node(d, "out")["mappings"].update(answer="$.pick"),
        "nodes/9/mappings/answer",
        "invalid_reference",
    ),
    (
        "index on input",
        lambda d: node(d, "lookup")["config"]["params"].update(q="$.input[0]"),
        "nodes/1/config/params/q",
        "invalid_reference",
    ),
    (
        "bad jmespath",
        lambda d: node(d, "route")["config"]["branches"][0].update(when="length("),
        "nodes/3/config/branches/0/when",
        "invalid_jmespath",
    ),
    (
        "bad regex",
        lambda d: node(d, "check").update(config={"regex": "(unclosed"}),
        "nodes/2/config/regex",
        "invalid_regex",
    ),
    (
        "regex with a backreference (RE2 cannot run it)",
        lambda d: node(d, "check").update(config={"regex": "(a)\\1"}),
        "nodes/2/config/regex",
        "regex_unsupported",
    ),
    (
        "regex with lookahead",
        lambda d: node(d, "check").update(config={"regex": "(?=a)a"}),
        "nodes/2/config/regex",
        "regex_unsupported",
    ),
    (
        "regex repeating over 1000 times",
        lambda d: node(d, "check").update(config={"regex": "a{1001}"}),
        "nodes/2/config/regex",
        "regex_too_large",
    ),
    (
        "json schema pattern with lookbehind",
        lambda d: node(d, "check")["config"].update(json_schema={"pattern": "(?<=a)b"}),
        "nodes/2/config/json_schema",
        "regex_unsupported",
    ),
    (
        "bad json schema type",
        lambda d: node(d, "check")["config"].update(json_schema={"properties": {"a": {"type": "text"}}}),
        "nodes/2/config/json_schema",
        "invalid_json_schema",
    ),
    (
        "unregistered connection type",
        lambda d: d["requirements"][0].update(connection_type="ftp"),
        "requirements/0/connection_type",
        "unknown_connection_type",
    ),
    (
        "default of wrong type",
        lambda d: node(d, "in")["fields"][1].update(default="five"),
        "nodes/0/fields/1",
        "default_type_mismatch",
    ),
    (
        "default on required field",
        lambda d: node(d, "in")["fields"][0].update(default="hi"),
        "nodes/0/fields/0",
        "default_on_required_field",
    ),
    (
        "same node id twice",
        lambda d: d["nodes"].append(copy.deepcopy(node(d, "sorry"))),
        "nodes/10/id",
        "duplicate_node_id",
    ),
    (
        "same field name twice",
        lambda d: node(d, "in")["fields"].append({"name": "limit"}),
        "nodes/0/fields/2/name",
        "duplicate_field_name",
    ),
    ("no input node", _drop_input_node, "nodes", "missing_input_node"),
    ("two input nodes", lambda d: d["nodes"].append(EXTRA_INPUT), "nodes/10/type", "duplicate_input_node"),
    ("no output node", lambda d: d["nodes"].pop(), "nodes", "missing_output_node"),
    ("two output nodes", lambda d: d["nodes"].append(EXTRA_OUTPUT), "nodes/10/type", "duplicate_output_node"),
    ("cycle", lambda d: node(d, "sorry")["depends"].append("pick"), "nodes/7/depends", "cycle"),
    (
        "depends on unknown node",
        lambda d: node(d, "sorry")["depends"].append("ghost"),
        "nodes/7/depends/1",
        "dangling_reference",
    ),
    (
        "nested reference to unknown node",
        lambda d: node(d, "sorry").update(inputs={"x": {"deep": ["$.ghost.output"]}}),
        "nodes/7/inputs/x/deep/0",
        "dangling_reference",
    ),
    (
        "unknown input field",
        lambda d: node(d, "sorry").update(inputs={"x": "$.input.nope"}),
        "nodes/7/inputs/x",
        "dangling_reference",
    ),
    (
        "unknown tool",
        lambda d: node(d, "answer")["config"]["tools"].append("ghost"),
        "nodes/4/config/tools/2",
        "dangling_reference",
    ),
    (
        "unknown branch target",
        lambda d: node(d, "route")["config"].update(default=["ghost"]),
        "nodes/3/config/default/0",
        "dangling_reference",
    ),
    (
        "reference to a sibling",
        lambda d: node(d, "sorry").update(inputs={"x": "$.answer.output"}),
        "nodes/7/inputs/x",
        "reference_not_a_dependency",
    ),
    (
        "config reference to a descendant",
        lambda d: node(d, "lookup")["config"]["params"].update(q="$.check.output"),
        "nodes/1/config/params/q",
        "reference_not_a_dependency",
    ),
    (
        "validator as a tool",
        lambda d: node(d, "answer")["config"]["tools"].append("check"),
        "nodes/4/config/tools/2",
        "tool_type_not_allowed",
    ),
    (
        "tool with depends",
        lambda d: node(d, "search").update(depends=["in"]),
        "nodes/5/depends",
        "tool_node_in_graph",
    ),
    (
        "depends on a tool",
        lambda d: node(d, "pick")["depends"].append("search"),
        "nodes/8/depends/2",
        "tool_node_in_graph",
    ),
    (
        "reference to a tool",
        lambda d: node(d, "out")["mappings"].update(raw="$.summarize.output"),
        "nodes/9/mappings/raw",
        "tool_node_in_graph",
    ),
    (
        "target not depending on choice",
        lambda d: node(d, "route")["config"]["default"].append("pick"),
        "nodes/3/config/default/1",
        "invalid_branch_target",
    ),
    (
        "llm without connection",
        lambda d: node(d, "summarize").pop("connection"),
        "nodes/6/connection",
        "missing_connection",
    ),
    (
        "connection of another project",
        lambda d: node(d, "answer").update(connection={"connection_id": "con-other"}),
        "nodes/4/connection/connection_id",
        "connection_not_in_project",
    ),
    (
        "postgres connection on agent",
        lambda d: node(d, "answer").update(connection={"connection_id": "con-pg0"}),
        "nodes/4/connection/connection_id",
        "connection_type_not_accepted",
    ),
    (
        "openai requirement on http",
        lambda d: d["requirements"][0].update(connection_type="openai"),
        "nodes/1/connection/requirement",
        "connection_type_not_accepted",
    ),
    (
        "undeclared requirement",
        lambda d: d["requirements"].clear(),
        "nodes/1/connection/requirement",
        "undeclared_requirement",
    ),
    (
        "unused requirement",
        lambda d: d["requirements"].append({**d["requirements"][0], "id": "spare"}),
        "requirements/1/id",
        "unused_requirement",
    ),
    (
        "same requirement id twice",
        lambda d: d["requirements"].append(d["requirements"][0]),
        "requirements/1/id",
        "duplicate_requirement_id",
    ),
    (
        "http without url or connection",
        lambda d: node(d, "search").update(config={}),
        "nodes/5/config/url",
        "missing_url",
    ),
    (
        "url next to a connection",
        lambda d: node(d, "lookup")["config"].update(url="https://x.example.com"),
        "nodes/1/config/url",
        "url_not_allowed",
    ),
    (
        "referenced template",
        lambda d: node(d, "sorry")["config"].update(template="$.input.question"),
        "nodes/7/config/template",
        "template_not_literal",
    ),
    (
        "Host next to a connection",
        lambda d: node(d, "lookup")["config"].update(headers={"Host": "attacker.example"}),
        "nodes/1/config/headers/Host",
        "header_not_allowed",
    ),
    (
        "forwarding header in the inputs next to a connection",
        lambda d: node(d, "lookup").update(inputs={"headers": {"X-Forwarded-Host": "attacker.example"}}),
        "nodes/1/inputs/headers/X-Forwarded-Host",
        "header_not_allowed",
    ),
]


@pytest.mark.parametrize(
    ("mutate", "loc", "code"), [case[1:] for case in CASES], ids=[case[0] for case in CASES]
)
def test_each_problem_is_reported_with_its_code_and_location(mutate: Mutation, loc: str, code: str) -> None:
    # Given the valid full example with exactly one thing wrong
    raw = full_definition()
    mutate(raw)

    # When it is validated
    details = details_of(raw)

    # Then exactly that problem is reported, at the path the client wrote
    assert codes(details) == [(at(loc), code)]


def test_a_literal_template_and_ordinary_headers_next_to_a_connection_are_accepted() -> None:
    # Given the full example with a literal template that binds an input, and an ordinary header on the
    # node that uses a connection
    raw = full_definition()
    node(raw, "sorry").update(inputs={"q": "$.input.question"}, config={"template": "Sorry about {{ q }}."})
    node(raw, "lookup")["config"].update(headers={"X-Request-Id": "{{ q }}", "Accept": "application/json"})

    # When it is validated / Then it is accepted
    validate_definition(raw, project_connections=PROJECT, egress=EgressPolicy())


def test_the_headers_a_project_connection_sets_are_its_own() -> None:
    # Given an http connection of the project whose config sets X-Tenant, and a node using it that sets
    # X-Tenant too
    raw = full_definition()
    node(raw, "search").update(
        connection={"connection_id": "con-web0"}, config={"headers": {"x-tenant": "b"}}
    )

    # When it is validated with the connection's header names
    with pytest.raises(ValidationFailed) as refused:
        validate_definition(raw, project_connections=PROJECT, connection_headers={"con-web0": {"x-tenant"}})

    # Then that header is refused where it was written
    assert codes(refused.value.details) == [(at("nodes/5/config/headers/x-tenant"), "header_not_allowed")]


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://169.254.169.254/latest/meta-data/", "address_not_allowed"),
        ("http://10.0.0.5/", "address_not_allowed"),
        ("http://127.0.0.1:9001/2018-06-01/runtime/invocation/next", "address_not_allowed"),
        ("http://2130706433/", "address_not_allowed"),
    ],
)
def test_a_literal_url_to_a_non_public_address_is_refused_at_save(url: str, code: str) -> None:
    # Given a workflow whose http node has a literal URL to the metadata service, a private host or the
    # Lambda Runtime API
    raw = full_definition()
    node(raw, "search")["config"].update(url=url)

    # When it is saved (validated with the deployment's egress policy)
    with pytest.raises(ValidationFailed) as refused:
        validate_definition(raw, project_connections=PROJECT, egress=EgressPolicy())

    # Then the URL is refused, where it was written
    assert codes(refused.value.details) == [(at("nodes/5/config/url"), code)]


def test_public_referenced_and_allowed_urls_are_accepted_at_save() -> None:
    # Given a public literal URL, a URL taken from the run input (checked when sending) and a private URL in
    # the deployment's allowed CIDR
    for url, policy in [
        ("https://93.184.215.14/search", EgressPolicy()),
        ("$.input.question", EgressPolicy()),
        ("http://10.20.0.9/search", EgressPolicy.parse("10.20.0.0/16")),
    ]:
        raw = full_definition()
        node(raw, "search")["config"].update(url=url)
        # When it is saved / Then it is accepted
        validate_definition(raw, project_connections=PROJECT, egress=policy)
