"""``validator``: check a value against a JSON Schema (draft 2020-12, ``engine.schemas``) or a regular
expression (a full match on RE2, ``engine.regexes``), as bounded tasks (``engine.bounded``).

The checked value is ``config.input`` when set, else the node's resolved inputs; it passes through
unchanged. Failure messages name the JSON path and the rule, never the checked value: it may be user data.
"""

from __future__ import annotations

from typing import Any

from switchboard.engine.nodes import ValidatorNode
from switchboard.engine.schemas import failed
from switchboard.engine.steps.base import StepContext


def run_validator(step: StepContext, node: ValidatorNode) -> Any:
    value = step.materialize(node.config.input) if node.config.input is not None else step.inputs
    if node.config.json_schema is not None:
        schema = step.materialize(node.config.json_schema)
        step.compute("check_schema", {"schema": schema, "value": value})
    elif node.config.regex is not None:
        if not isinstance(value, str):
            raise failed("$", "regex", "expected a string")
        if not step.compute("match", {"pattern": node.config.regex, "text": value}):
            raise failed("$", "regex", "does not match the pattern")
    return value
