"""Validation of a workflow definition: structure (pydantic), then the graph, references and connections.

``validate_definition`` is the one entry point. It reports every problem it finds as
``{"loc": [...], "code": "...", "message": "..."}`` inside one ``ValidationFailed``; the graph checks run
once the structure is valid, because they need typed nodes to reason about.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from switchboard.domain.errors import ValidationFailed, problem
from switchboard.egress import EgressPolicy, EgressRefused, check_saved_url
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.nodes import (
    NODE_TYPES,
    TOOL_NODE_TYPES,
    AgentNode,
    ChoiceNode,
    ConnectableNode,
    HttpNode,
    InputNode,
    Node,
    OutputNode,
    TransformNode,
)
from switchboard.engine.owned_headers import connection_header_names, owned_by_connection
from switchboard.engine.references import InvalidReferenceError, is_reference, parse_reference

MAX_DEPTH = 64
MAX_VALUES = 100_000

Loc = list[str | int]


@dataclass(frozen=True)
class ValidatedDefinition:
    definition: WorkflowDefinition
    connection_ids: list[str]
    """Project connections the nodes name directly, sorted and unique."""
    requirement_ids: list[str]
    """Declared requirements, in declaration order."""


def validate_definition(
    raw: object,
    *,
    project_connections: Mapping[str, str],
    connection_headers: Mapping[str, Collection[str]] | None = None,
    egress: EgressPolicy | None = None,
) -> ValidatedDefinition:
    """Parse and check ``raw``; ``project_connections`` maps each connection id of the project to its type,
    ``connection_headers`` to the header names its config sets (``owned_headers.connection_header_names``).
    With ``egress``, every literal URL is also checked by the egress guard (resolving its host: saving)."""
    problems = _json_problems(raw)
    if problems:
        raise _failed(problems)
    try:
        definition = WorkflowDefinition.model_validate(raw)
    except ValidationError as error:
        raise _failed(_pydantic_problems(error)) from None
    problems = _GraphCheck(definition, project_connections, connection_headers or {}).run()
    if egress is not None:
        problems += _destination_problems(definition, egress)
    if problems:
        raise _failed(problems)
    connection_ids = {ref.connection_id for _, ref in definition.connection_refs() if ref.connection_id}
    return ValidatedDefinition(
        definition=definition,
        connection_ids=sorted(connection_ids),
        requirement_ids=[requirement.id for requirement in definition.requirements],
    )


def _failed(problems: list[dict[str, Any]]) -> ValidationFailed:
    return ValidationFailed("invalid workflow definition", details=problems)


def _json_problems(raw: object) -> list[dict[str, Any]]:
    """Reject what JSON cannot carry and bound depth and size before pydantic or any walk recurses."""
    problems: list[dict[str, Any]] = []
    pending: list[tuple[Loc, object]] = [([], raw)]
    seen = 0
    while pending:
        loc, value = pending.pop()
        seen += 1
        if seen > MAX_VALUES:
            return [problem([], "too_large", f"a definition holds at most {MAX_VALUES} values")]
        if len(loc) > MAX_DEPTH:
            problems.append(problem(loc, "too_deep", f"values nest at most {MAX_DEPTH} levels deep"))
        elif isinstance(value, dict):
            if not all(isinstance(key, str) for key in value):
                problems.append(problem(loc, "invalid_json_value", "object keys must be strings"))
                continue
            pending.extend(([*loc, key], item) for key, item in value.items())
        elif isinstance(value, list):
            pending.extend(([*loc, index], item) for index, item in enumerate(value))
        elif isinstance(value, float) and not math.isfinite(value):
            problems.append(problem(loc, "invalid_json_value", "numbers must be finite"))
        elif value is not None and not isinstance(value, str | int | float | bool):
            problems.append(problem(loc, "invalid_json_value", "not a JSON value"))
    return problems


def _pydantic_problems(error: ValidationError) -> list[dict[str, Any]]:
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        loc: Loc = list(item["loc"])
        # A discriminated union puts the tag after the node index; the client never wrote it there.
        if len(loc) > 2 and loc[0] == "nodes" and loc[2] in NODE_TYPES:
            del loc[2]
        code, message = item["type"], item["msg"]
        if code == "union_tag_invalid":
            code, message = (
                "unknown_node_type",
                f"unknown node type; expected one of: {', '.join(NODE_TYPES)}",
            )
            loc.append("type")
        elif code == "union_tag_not_found":
            code, message = "missing", "Field required"
            loc.append("type")
        elif code == "extra_forbidden":
            code, message = "unknown_field", "unknown field"
        problems.append(problem(loc, code, message))
    return problems


class _GraphCheck:
    def __init__(
        self,
        definition: WorkflowDefinition,
        project_connections: Mapping[str, str],
        connection_headers: Mapping[str, Collection[str]],
    ) -> None:
        self.definition = definition
        self.project_connections = project_connections
        self.connection_headers = connection_headers
        self.problems: list[dict[str, Any]] = []
        self.index: dict[str, int] = {}
        for i, node in enumerate(definition.nodes):
            self.index.setdefault(node.id, i)
        self.tools: set[str] = set()
        self.ancestors: dict[str, set[str]] = {}

    def run(self) -> list[dict[str, Any]]:
        self._unique_ids()
        self._single("input", InputNode)
        self._single("output", OutputNode)
        self._input_fields()
        self._requirements()
        self._tools()
        self._depends()
        self._cycles()
        self.ancestors = {node.id: self._ancestors_of(node.id) for node in self.definition.nodes}
        self._references()
        self._literal_templates()
        self._branches()
        self._connections()
        self._owned_headers()
        return self.problems

    def _add(self, loc: Loc, code: str, message: str) -> None:
        self.problems.append(problem(loc, code, message))

    def _node(self, node_id: str) -> Node | None:
        index = self.index.get(node_id)
        return None if index is None else self.definition.nodes[index]

    def _unique_ids(self) -> None:
        for i, node in enumerate(self.definition.nodes):
            if self.index[node.id] != i:
                self._add(
                    ["nodes", i, "id"], "duplicate_node_id", f"node id '{node.id}' is used more than once"
                )

    def _single(self, kind: str, model: type[InputNode | OutputNode]) -> None:
        positions = [i for i, node in enumerate(self.definition.nodes) if isinstance(node, model)]
        if not positions:
            self._add(["nodes"], f"missing_{kind}_node", f"a workflow needs exactly one {kind} node")
        for i in positions[1:]:
            self._add(["nodes", i, "type"], f"duplicate_{kind}_node", f"a workflow has only one {kind} node")

    def _input_fields(self) -> None:
        for i, node in enumerate(self.definition.nodes):
            if not isinstance(node, InputNode):
                continue
            names: set[str] = set()
            for f, field in enumerate(node.fields):
                if field.name in names:
                    self._add(
                        ["nodes", i, "fields", f, "name"],
                        "duplicate_field_name",
                        f"field '{field.name}' repeats",
                    )
                names.add(field.name)

    def _requirements(self) -> None:
        used = {ref.requirement for _, ref in self.definition.connection_refs()}
        declared: set[str] = set()
        for r, requirement in enumerate(self.definition.requirements):
            loc: Loc = ["requirements", r, "id"]
            if requirement.id in declared:
                self._add(loc, "duplicate_requirement_id", f"requirement id '{requirement.id}' repeats")
            elif requirement.id not in used:
                self._add(loc, "unused_requirement", f"no node uses requirement '{requirement.id}'")
            declared.add(requirement.id)
            if requirement.oauth2 is not None:
                app_loc: Loc = ["requirements", r, "oauth2", "app_connection_id"]
                app_type = self.project_connections.get(requirement.oauth2.app_connection_id)
                if app_type is None:
                    self._add(app_loc, "connection_not_in_project", "no such connection in this project")
                elif app_type != "oauth2_app":
                    self._add(
                        app_loc,
                        "not_an_oauth2_app",
                        f"the connection is of type '{app_type}', not 'oauth2_app'",
                    )

    def _tools(self) -> None:
        """Tool nodes run only when an agent calls them: they stay out of the DAG entirely."""
        for i, node in enumerate(self.definition.nodes):
            if not isinstance(node, AgentNode):
                continue
            for t, tool_id in enumerate(node.config.tools):
                loc: Loc = ["nodes", i, "config", "tools", t]
                tool = self._node(tool_id)
                if tool is None:
                    self._add(loc, "dangling_reference", f"tool '{tool_id}' is not a node of this workflow")
                elif tool.type not in TOOL_NODE_TYPES:
                    allowed = ", ".join(sorted(TOOL_NODE_TYPES))
                    self._add(loc, "tool_type_not_allowed", f"a tool is a node of type {allowed}")
                else:
                    self.tools.add(tool_id)
        for tool_id in sorted(self.tools):
            if self.definition.nodes[self.index[tool_id]].dependency_ids():
                self._add(
                    ["nodes", self.index[tool_id], "depends"],
                    "tool_node_in_graph",
                    f"tool node '{tool_id}' runs when an agent calls it and cannot have depends",
                )

    def _depends(self) -> None:
        for i, node in enumerate(self.definition.nodes):
            for d, dependency in enumerate(node.dependency_ids()):
                loc: Loc = ["nodes", i, "depends", d]
                if dependency not in self.index:
                    self._add(loc, "dangling_reference", f"depends on unknown node '{dependency}'")
                elif dependency in self.tools:
                    self._add(
                        loc,
                        "tool_node_in_graph",
                        f"'{dependency}' is an agent's tool and cannot be depended on",
                    )

    def _cycles(self) -> None:
        state: dict[str, str] = {}
        reported: set[frozenset[str]] = set()

        def visit(node_id: str, path: list[str]) -> None:
            state[node_id] = "visiting"
            path.append(node_id)
            for dependency in self.definition.nodes[self.index[node_id]].dependency_ids():
                if dependency not in self.index:
                    continue
                if state.get(dependency) == "visiting":
                    cycle = path[path.index(dependency) :]
                    if frozenset(cycle) not in reported:
                        reported.add(frozenset(cycle))
                        chain = " -> ".join([*cycle, dependency])
                        self._add(
                            ["nodes", self.index[dependency], "depends"],
                            "cycle",
                            f"depends forms a cycle: {chain} (each node depends on the next)",
                        )
                elif dependency not in state:
                    visit(dependency, path)
            path.pop()
            state[node_id] = "done"

        for node_id in self.index:
            if node_id not in state:
                visit(node_id, [])

    def _ancestors_of(self, node_id: str) -> set[str]:
        found: set[str] = set()
        pending = list(self.definition.nodes[self.index[node_id]].dependency_ids())
        while pending:
            current = pending.pop()
            if current in found or current not in self.index:
                continue
            found.add(current)
            pending.extend(self.definition.nodes[self.index[current]].dependency_ids())
        return found

    def _references(self) -> None:
        input_nodes = [node for node in self.definition.nodes if isinstance(node, InputNode)]
        # Without exactly one input node its fields are unknown; that is reported once, elsewhere.
        input_fields = {field.name for field in input_nodes[0].fields} if len(input_nodes) == 1 else None
        for i, node in enumerate(self.definition.nodes):
            data = node.model_dump(mode="json", include={"inputs", "config", "mappings"})
            for loc, text in _reference_strings(data, ["nodes", i]):
                self._reference(node, loc, text, input_fields)

    def _reference(self, node: Node, loc: Loc, text: str, input_fields: set[str] | None) -> None:
        try:
            reference = parse_reference(text)
        except InvalidReferenceError as error:
            self._add(loc, "invalid_reference", str(error))
            return
        if reference.node_id is None:
            field = reference.input_field
            if field is not None and input_fields is not None and field not in input_fields:
                self._add(loc, "dangling_reference", f"the input node has no field '{field}'")
        elif reference.node_id not in self.index:
            self._add(loc, "dangling_reference", f"reference to unknown node '{reference.node_id}'")
        elif reference.node_id in self.tools:
            self._add(
                loc,
                "tool_node_in_graph",
                f"'{reference.node_id}' is an agent's tool; its output is the agent's",
            )
        elif reference.node_id not in self.ancestors[node.id]:
            self._add(
                loc,
                "reference_not_a_dependency",
                f"reference to a node that is not a dependency: add '{reference.node_id}' to depends"
                " (directly or through another node)",
            )

    def _literal_templates(self) -> None:
        """A template is code: written by the builder, never taken from data (a referenced value would be
        rendered, and the run's caller or an upstream could inject template code)."""
        for i, node in enumerate(self.definition.nodes):
            if isinstance(node, TransformNode) and is_reference(node.config.template):
                self._add(
                    ["nodes", i, "config", "template"],
                    "template_not_literal",
                    "a template is literal text, not a reference: bind values in inputs and write {{ name }}",
                )

    def _owned_headers(self) -> None:
        """With a connection, the headers it owns are its own (``engine.owned_headers``): literal names are
        refused here, names that come through references fail the node when it runs. An ``oauth2``
        requirement's headers are known before any link: its Authorization."""
        oauth2_requirements = {r.id for r in self.definition.requirements if r.connection_type == "oauth2"}
        for i, node in enumerate(self.definition.nodes):
            if not isinstance(node, HttpNode) or node.connection is None:
                continue
            connection_id = node.connection.connection_id
            owned = set(self.connection_headers.get(connection_id, ())) if connection_id else set()
            if node.connection.requirement in oauth2_requirements:
                owned = connection_header_names("oauth2", {})
            named: list[tuple[Loc, str]] = [
                (["nodes", i, "config", "headers", name], name) for name in node.config.headers
            ]
            literal_inputs = node.inputs.get("headers")
            if isinstance(literal_inputs, dict):
                named += [(["nodes", i, "inputs", "headers", name], name) for name in literal_inputs]
            for loc, name in named:
                if owned_by_connection(name, owned):
                    self._add(
                        loc,
                        "header_not_allowed",
                        "the connection sets this header: node config and run input cannot",
                    )

    def _branches(self) -> None:
        for i, node in enumerate(self.definition.nodes):
            if not isinstance(node, ChoiceNode):
                continue
            for path, target_id in node.branch_targets():
                loc: Loc = ["nodes", i, "config", *path]
                target = self._node(target_id)
                if target is None:
                    self._add(loc, "dangling_reference", f"branch target '{target_id}' is not a node")
                elif node.id not in target.dependency_ids():
                    self._add(
                        loc,
                        "invalid_branch_target",
                        f"branch target '{target_id}' must depend on '{node.id}'",
                    )

    def _connections(self) -> None:
        requirements = {requirement.id: requirement for requirement in self.definition.requirements}
        for i, node in enumerate(self.definition.nodes):
            if not isinstance(node, ConnectableNode):
                continue
            loc: Loc = ["nodes", i, "connection"]
            if isinstance(node, HttpNode):
                self._http_target(i, node)
            ref = node.connection
            if ref is None:
                if node.connection_required:
                    self._add(loc, "missing_connection", f"a node of type {node.type} needs a connection")
                continue
            if ref.connection_id is not None:
                connection_type = self.project_connections.get(ref.connection_id)
                if connection_type is None:
                    self._add(
                        [*loc, "connection_id"],
                        "connection_not_in_project",
                        "no such connection in this project",
                    )
                    continue
                self._accepts(node, [*loc, "connection_id"], connection_type)
            elif ref.requirement is not None:
                requirement = requirements.get(ref.requirement)
                if requirement is None:
                    self._add(
                        [*loc, "requirement"],
                        "undeclared_requirement",
                        f"requirement '{ref.requirement}' is not declared in requirements",
                    )
                    continue
                self._accepts(node, [*loc, "requirement"], requirement.connection_type)

    def _accepts(self, node: ConnectableNode, loc: Loc, connection_type: str) -> None:
        if connection_type not in node.accepted_connection_types:
            accepted = ", ".join(sorted(node.accepted_connection_types))
            self._add(
                loc,
                "connection_type_not_accepted",
                f"a {node.type} node accepts connections of type {accepted}, not {connection_type}",
            )

    def _http_target(self, i: int, node: HttpNode) -> None:
        """The connection owns the base URL, so its credentials are only ever sent to its own host."""
        loc: Loc = ["nodes", i, "config", "url"]
        if node.connection is None and node.config.url is None:
            self._add(loc, "missing_url", "an http node without a connection needs a url")
        elif node.connection is not None and node.config.url is not None:
            self._add(loc, "url_not_allowed", "with a connection, the connection's url is used: give a path")


def _destination_problems(definition: WorkflowDefinition, policy: EgressPolicy) -> list[dict[str, Any]]:
    problems = []
    for i, node in enumerate(definition.nodes):
        if isinstance(node, HttpNode) and node.config.url and not is_reference(node.config.url):
            try:
                check_saved_url(node.config.url, policy)
            except EgressRefused as refused:
                problems.append(problem(["nodes", i, "config", "url"], refused.code, refused.message))
    return problems


def _reference_strings(value: object, loc: Loc) -> Iterator[tuple[Loc, str]]:
    pending: list[tuple[Loc, object]] = [(loc, value)]
    while pending:
        current_loc, current = pending.pop()
        if is_reference(current):
            yield current_loc, str(current)
        elif isinstance(current, dict):
            pending.extend(([*current_loc, key], item) for key, item in reversed(current.items()))
        elif isinstance(current, list):
            pending.extend(
                ([*current_loc, index], item) for index, item in reversed(list(enumerate(current)))
            )
