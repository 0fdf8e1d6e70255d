"""JSON Schema checks (draft 2020-12) of the ``validator`` node; how long one may take is the caller's bound
(``engine.bounded``).

Failure messages name the JSON path and the rule, never the checked value: it may be user data. A schema
resolves ``$ref`` only inside itself: the validator is given a registry that never retrieves anything, so a
workflow author cannot make the executor fetch a URL (an internal address, say). ``pattern`` and
``patternProperties`` (and ``additionalProperties`` next to them) match with RE2 (``engine.regexes``), never
with Python's backtracking ``re``. ``jsonschema`` is imported by the first check, not with the engine (a
tenth of the executor's cold import, and regex checks and most runs never need it).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from switchboard.engine import regexes
from switchboard.engine.errors import StepError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator


def check(schema: Any, value: Any) -> None:
    """Raises ``validation_failed`` naming the first (most relevant) problem."""
    from jsonschema.exceptions import best_match
    from re2 import error as re2_error
    from referencing import Registry
    from referencing.exceptions import Unresolvable

    no_retrieval: Registry[Any] = Registry()
    try:
        error = best_match(_validator_class()(schema, registry=no_retrieval).iter_errors(value))
    except Unresolvable:
        raise failed("$", "$ref", "the schema refers to a document outside itself") from None
    except re2_error:
        raise failed("$", "pattern", "the schema has a pattern RE2 cannot run") from None
    if error is not None:
        raise failed(_json_path(error.absolute_path), error.validator, _rule(error))


def failed(path: str, keyword: object, rule: str) -> StepError:
    return StepError(
        "validation_failed",
        f"validation failed at {path}: {rule}",
        {"path": path, "keyword": str(keyword)},
        retryable=False,
    )


@lru_cache(maxsize=1)
def _validator_class() -> Any:
    from jsonschema import Draft202012Validator, validators

    return validators.extend(
        Draft202012Validator,
        {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
        },
    )


def _pattern(validator: Validator, pattern: str, instance: Any, _schema: Mapping[str, Any]) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not regexes.search(pattern, instance):
        yield ValidationError("does not match the pattern")


def _pattern_properties(
    validator: Any, patterns: Mapping[str, Any], instance: Any, _schema: Mapping[str, Any]
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, item in instance.items():
            if regexes.search(pattern, key):
                yield from validator.descend(item, subschema, path=key, schema_path=pattern)


def _additional_properties(
    validator: Any, additional: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[Any]:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    named = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    extras = [
        key
        for key in instance
        if key not in named and not any(regexes.search(pattern, key) for pattern in patterns)
    ]
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        yield ValidationError("additional properties are not allowed")


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
