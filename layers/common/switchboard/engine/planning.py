"""Planning: which nodes are ready, in what order, and which of them are skipped.

``Planner`` holds what changes while a run goes (the static DAG is ``graph.Plan``): per node, how many of
its dependencies have not ended; a heap of the nodes whose dependencies have all ended, by scheduled
position; and what each choice selected. ``release`` is O(dependents): a node that ends only touches the
nodes that wait on it.
"""

from __future__ import annotations

import heapq
from collections.abc import Container, Iterable, Mapping

from switchboard.engine.contracts import NodeResult
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.graph import plan, skip_reason
from switchboard.engine.nodes import Node


class Planner:
    def __init__(self, definition: WorkflowDefinition) -> None:
        self.plan = plan(definition)
        self.order = self.plan.order
        # Per position: how many of the node's dependencies have not ended yet.
        self._waiting = [len(dependencies) for dependencies in self.plan.dependencies]
        # A heap of the positions of the nodes whose dependencies have all ended, not yet considered.
        self._ready: list[int] = []
        self._selected: dict[str, set[str]] = {}

    def start(self, ended: Container[str]) -> None:
        """The nodes without dependencies are ready, but for those that have ``ended`` already (the input)."""
        for position, dependencies in enumerate(self.plan.dependencies):
            if not dependencies and self.order[position].id not in ended:
                heapq.heappush(self._ready, position)

    def next_ready(self) -> Node | None:
        """The ready node first in scheduled order (taken off the ready ones), or None."""
        return self.order[heapq.heappop(self._ready)] if self._ready else None

    def skip_reason(self, node: Node, results: Mapping[str, NodeResult]) -> str | None:
        """Why a ready node does not run (``graph.skip_reason``), or None when it runs."""
        position = self.plan.position[node.id]
        dependencies = self.plan.dependencies[position]
        return skip_reason(node, dependencies, results, self._selected, self.plan.choosers)

    def choose(self, choice_id: str, targets: Iterable[str]) -> None:
        """A choice completed, selecting ``targets`` among its branch targets."""
        self._selected[choice_id] = set(targets)

    def release(self, node_id: str) -> None:
        """``node_id`` ended: its dependents have one dependency less to wait for."""
        position = self.plan.position.get(node_id)
        if position is None:
            return
        for dependent in self.plan.dependents[position]:
            self._waiting[dependent] -= 1
            if self._waiting[dependent] == 0:
                heapq.heappush(self._ready, dependent)

    def dependencies(self, node_id: str) -> tuple[str, ...]:
        position = self.plan.position.get(node_id)
        return self.plan.dependencies[position] if position is not None else ()
