"""``choice``: the first branch whose ``when`` is truthy over the node's inputs selects its ``next`` nodes.

Truthiness is JMESPath's (``engine.expressions.truthy``); the conditions are evaluated as one bounded task
(``engine.bounded``).
"""

from __future__ import annotations

from typing import Any

from switchboard.engine.nodes import ChoiceNode
from switchboard.engine.steps.base import StepContext


def run_choice(step: StepContext, node: ChoiceNode) -> dict[str, Any]:
    conditions = [branch.when for branch in node.config.branches]
    index = step.compute("choose", {"conditions": conditions, "data": step.inputs})
    if index is None:
        return {"branch": "default", "next": list(node.config.default)}
    return {"branch": index, "next": list(node.config.branches[index].next)}
