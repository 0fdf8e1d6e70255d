"""``transform``: render a template, or evaluate a JMESPath expression, over the node's inputs (bounded:
``engine.bounded``)."""

from __future__ import annotations

from typing import Any

from switchboard.engine.nodes import TransformNode
from switchboard.engine.steps.base import StepContext


def run_transform(step: StepContext, node: TransformNode) -> Any:
    if node.config.template is not None:
        template = step.materialize(node.config.template)
        return step.render(template) if isinstance(template, str) else template
    payload = {
        "expression": node.config.jmespath or "",
        "data": step.inputs,
        "max_bytes": node.max_value_bytes,
    }
    return step.compute("search", payload)
