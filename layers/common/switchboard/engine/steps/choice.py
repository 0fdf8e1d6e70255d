"""``choice``: the first branch whose ``when`` is truthy over the node's inputs selects its ``next`` nodes.

Truthiness is JMESPath's: ``false``, ``null``, ``""``, ``[]`` and ``{}`` are false; every number
(``0`` included) is true.
"""

from __future__ import annotations

from typing import Any

from switchboard.engine.nodes import ChoiceNode
from switchboard.engine.steps.base import StepContext
from switchboard.engine.steps.transform import search


def run_choice(step: StepContext, node: ChoiceNode) -> dict[str, Any]:
    for index, branch in enumerate(node.config.branches):
        if _truthy(search(branch.when, step.inputs)):
            return {"branch": index, "next": list(branch.next)}
    return {"branch": "default", "next": list(node.config.default)}


def _truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, str | list | dict):
        return len(value) > 0
    return True
