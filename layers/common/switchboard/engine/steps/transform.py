"""``transform``: render a template, or evaluate a JMESPath expression, over the node's inputs (bounded:
``engine.bounded``).

A template is literal text (saving refuses a reference there): data is never rendered as template code. A
version saved before that rule may still hold one: its value is handed on as it is, never rendered.
"""

from __future__ import annotations

from typing import Any

from switchboard.engine.nodes import TransformNode
from switchboard.engine.references import is_reference
from switchboard.engine.steps.base import StepContext


def run_transform(step: StepContext, node: TransformNode) -> Any:
    if node.config.template is not None:
        if is_reference(node.config.template):
            return step.materialize(node.config.template)
        return step.render(node.config.template)
    payload = {
        "expression": node.config.jmespath or "",
        "data": step.inputs,
        "max_bytes": node.max_value_bytes,
    }
    return step.compute("search", payload)
