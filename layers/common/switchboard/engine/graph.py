"""The DAG as the scheduler sees it: the order to consider nodes in, and when a node is skipped.

A node is skipped when a choice that targets it chose other nodes, or did not complete
(``branch_not_taken``), or when it has dependencies and every one of them was skipped
(``dependencies_skipped``). The output node is never skipped: it always resolves its mappings, reading
``null`` for what did not run.
"""

from __future__ import annotations

from collections.abc import Mapping

from switchboard.engine.contracts import NodeResult
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.nodes import ChoiceNode, Node, NodeBase, OutputNode


def scheduled_order(definition: WorkflowDefinition) -> list[Node]:
    """Every node but the tool nodes, dependencies first, otherwise in definition order."""
    tools = definition.tool_node_ids()
    ordered: list[Node] = []
    placed: set[str] = set()
    remaining = [node for node in definition.nodes if node.id not in tools]
    while remaining:
        ready = [node for node in remaining if all(dep in placed for dep in node.dependency_ids())]
        if not ready:
            raise RuntimeError("the definition's dependencies form a cycle")
        ordered.extend(ready)
        placed.update(node.id for node in ready)
        remaining = [node for node in remaining if node.id not in placed]
    return ordered


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
    results: Mapping[str, NodeResult],
    selected: Mapping[str, set[str]],
    chosen_by: Mapping[str, list[str]],
) -> str | None:
    """Why a node whose dependencies have all ended does not run, or None when it runs."""
    if isinstance(node, OutputNode):
        return None
    if any(node.id not in selected.get(choice, set()) for choice in chosen_by.get(node.id, [])):
        return "branch_not_taken"
    dependencies = node.dependency_ids()
    if dependencies and all(results[dep].status == "skipped" for dep in dependencies):
        return "dependencies_skipped"
    return None
