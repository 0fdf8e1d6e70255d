"""``validator``: check a value against a JSON Schema (draft 2020-12) or a regular expression (full match).

The checked value is ``config.input`` when set, else the node's resolved inputs; it passes through
unchanged. Failure messages name the JSON path and the rule, never the checked value: it may be user data.
A schema resolves ``$ref`` only inside itself: the validator is given a registry that never retrieves
anything, so a workflow author cannot make the executor fetch a URL (an internal address, say).
``jsonschema`` is imported by the first schema check, not with the engine (a tenth of the executor's cold
import, and regex checks and most runs never need it).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from switchboard.engine.errors import StepError
from switchboard.engine.nodes import ValidatorNode
from switchboard.engine.steps.base import StepContext

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError


def run_validator(step: StepContext, node: ValidatorNode) -> Any:
    value = step.materialize(node.config.input) if node.config.input is not None else step.inputs
    if node.config.json_schema is not None:
        _check_schema(step.materialize(node.config.json_schema), value)
    elif node.config.regex is not None:
        if not isinstance(value, str):
            raise _failed("$", "regex", "expected a string")
        if re.fullmatch(node.config.regex, value) is None:
            raise _failed("$", "regex", "does not match the pattern")
    return value


def _failed(path: str, keyword: object, rule: str) -> StepError:
    return StepError(
        "validation_failed",
        f"validation failed at {path}: {rule}",
        {"path": path, "keyword": str(keyword)},
        retryable=False,
    )


def _check_schema(schema: Any, value: Any) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match
    from referencing import Registry
    from referencing.exceptions import Unresolvable

    no_retrieval: Registry[Any] = Registry()
    try:
        error = best_match(Draft202012Validator(schema, registry=no_retrieval).iter_errors(value))
    except Unresolvable:
        raise _failed("$", "$ref", "the schema refers to a document outside itself") from None
    if error is not None:
        raise _failed(_json_path(error.absolute_path), error.validator, _rule(error))


def _rule(error: ValidationError) -> str:
    """What the schema asked for, from the schema's side only."""
    keyword, expected = error.validator, error.validator_value
    if keyword == "type":
        names = expected if isinstance(expected, list) else [expected]
        return f"expected type {' or '.join(map(str, names))}"
    if keyword == "required" and isinstance(error.instance, dict) and isinstance(expected, list):
        missing = [name for name in expected if name not in error.instance]
        return f"missing required properties: {', '.join(map(str, missing))}"
    if keyword in {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength"}:
        return f"violates {keyword} {expected}"
    if keyword in {"minItems", "maxItems", "minProperties", "maxProperties", "multipleOf"}:
        return f"violates {keyword} {expected}"
    return f"does not satisfy '{keyword}'"


def _json_path(path: Iterable[str | int]) -> str:
    text = "$"
    for segment in path:
        text += f"[{segment}]" if isinstance(segment, int) else f".{segment}"
    return text
