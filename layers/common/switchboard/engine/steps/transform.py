"""``transform``: render a template, or evaluate a JMESPath expression, over the node's inputs.

A template is literal text (saving refuses a reference there): data is never rendered as template code. A
version saved before that rule may still hold one: its value is handed on as it is, never rendered.
"""

from __future__ import annotations

from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError, JMESPathTypeError

from switchboard.engine.errors import StepError
from switchboard.engine.nodes import TransformNode
from switchboard.engine.references import is_reference
from switchboard.engine.steps.base import StepContext
from switchboard.engine.templating import render


def run_transform(step: StepContext, node: TransformNode) -> Any:
    if node.config.template is not None:
        if is_reference(node.config.template):
            return step.materialize(node.config.template)
        return render(node.config.template, step.inputs)
    return search(node.config.jmespath or "", step.inputs)


def search(expression: str, data: Any) -> Any:
    """JMESPath over ``data``; a run-time failure (a type mismatch in a function) is ``expression_error``."""
    try:
        return jmespath.search(expression, data)
    except JMESPathTypeError as error:
        # Its own message repeats the offending value: name the types instead.
        expected = ", ".join(error.expected_types)
        message = f"in {error.function_name}(): expected {expected}, got {error.actual_type}"
        raise StepError("expression_error", message, retryable=False) from None
    except JMESPathError as error:
        raise StepError(
            "expression_error", f"JMESPath evaluation failed: {type(error).__name__}", retryable=False
        ) from None
