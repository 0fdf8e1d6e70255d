"""The DAG as the scheduler sees it: the order to consider nodes in, who waits on whom, and when a node is
skipped.

A node is skipped when a choice that targets it chose other nodes, or did not complete
(``branch_not_taken``), or when it has dependencies and every one of them was skipped
(``dependencies_skipped``). The output node is never skipped: it always resolves its mappings, reading
``null`` for what did not run.

Everything here is computed once per run in O(nodes + edges), so that the scheduler only touches the
dependents of a node when it ends, never the whole graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from switchboard.engine.contracts import NodeResult
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.nodes import ChoiceNode, Node, NodeBase, OutputNode, StepNode
from switchboard.engine.step_kinds import kind_of


@dataclass(frozen=True)
class Plan:
    """The scheduled nodes (every node but the tool nodes), indexed by their position in ``order``."""

    order: tuple[Node, ...]
    """Dependencies first, otherwise in definition order (see ``scheduled_order``)."""
    position: Mapping[str, int]
    dependencies: tuple[tuple[str, ...], ...]
    """Each node's dependency ids, by position."""
    dependents: tuple[tuple[int, ...], ...]
    """The positions of the nodes that depend on each node, by position."""
    choosers: Mapping[str, list[str]]


def plan(definition: WorkflowDefinition) -> Plan:
    tools = definition.tool_node_ids()
    nodes = [node for node in definition.nodes if node.id not in tools]
    index = {node.id: i for i, node in enumerate(nodes)}
    dependencies = [tuple(dict.fromkeys(node.dependency_ids())) for node in nodes]
    dependents: list[list[int]] = [[] for _ in nodes]
    for i, deps in enumerate(dependencies):
        for dep in deps:
            if dep not in index:  # a tool or an unknown node: it never ends, so neither does this one
                raise RuntimeError("the definition's dependencies form a cycle")
            dependents[index[dep]].append(i)
    layers = _layers([len(deps) for deps in dependencies], dependents)
    order = [i for layer in layers for i in layer]
    position = {nodes[i].id: p for p, i in enumerate(order)}
    return Plan(
        order=tuple(nodes[i] for i in order),
        position=position,
        dependencies=tuple(dependencies[i] for i in order),
        dependents=tuple(tuple(sorted(position[nodes[j].id] for j in dependents[i])) for i in order),
        choosers=choosers(definition),
    )


def _layers(waiting: list[int], dependents: list[list[int]]) -> list[list[int]]:
    """Kahn's algorithm by rounds: round ``r`` holds, in definition order, the nodes whose last
    dependency was placed in round ``r - 1``."""
    layer = [i for i, count in enumerate(waiting) if count == 0]
    layers: list[list[int]] = []
    placed = 0
    while layer:
        layers.append(layer)
        placed += len(layer)
        following: list[int] = []
        for i in layer:
            for j in dependents[i]:
                waiting[j] -= 1
                if waiting[j] == 0:
                    following.append(j)
        layer = sorted(following)
    if placed != len(waiting):
        raise RuntimeError("the definition's dependencies form a cycle")
    return layers


def scheduled_order(definition: WorkflowDefinition) -> list[Node]:
    """Every node but the tool nodes, dependencies first, otherwise in definition order: the nodes with no
    dependency, then those whose dependencies are all among them, and so on, each round in definition
    order."""
    return list(plan(definition).order)


def runs_inline(node: StepNode) -> bool:
    """A step that only computes (no I/O, no backoff sleep: no retries) runs on the scheduler thread: its
    kind is placed ``inline_without_retries`` (``engine/step_kinds.py``).

    Handing it to a worker thread would cost more than the step itself, and gain nothing: it holds the GIL
    for as long as it runs. (A validator never fetches a ``$ref``: see steps/validator.py.)
    """
    return kind_of(node).runs_inline(node)


def choosers(definition: WorkflowDefinition) -> dict[str, list[str]]:
    """Each branch target, with the choice nodes that can select it."""
    found: dict[str, list[str]] = {}
    for node in definition.nodes:
        if isinstance(node, ChoiceNode):
            for _, target in node.branch_targets():
                if node.id not in found.setdefault(target, []):
                    found[target].append(node.id)
    return found


def skip_reason(
    node: NodeBase,
    dependencies: tuple[str, ...],
    results: Mapping[str, NodeResult],
    selected: Mapping[str, set[str]],
    chosen_by: Mapping[str, list[str]],
) -> str | None:
    """Why a node whose ``dependencies`` have all ended does not run, or None when it runs."""
    if isinstance(node, OutputNode):
        return None
    if any(node.id not in selected.get(choice, set()) for choice in chosen_by.get(node.id, [])):
        return "branch_not_taken"
    if dependencies and all(results[dep].status == "skipped" for dep in dependencies):
        return "dependencies_skipped"
    return None
