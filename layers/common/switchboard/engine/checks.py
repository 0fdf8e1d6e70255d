"""Field-level checks used by the definition models. Each raises ``PydanticCustomError`` with a stable code.

Messages never repeat the checked text: a definition may be echoed back to other members of a project.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic_core import PydanticCustomError

from switchboard.engine import regexes
from switchboard.engine.references import InvalidReferenceError, is_reference, parse_reference

JSON_SCHEMA_TYPES = frozenset({"string", "number", "integer", "boolean", "object", "array", "null"})
_SUBSCHEMA = (
    "additionalItems",
    "additionalProperties",
    "contains",
    "else",
    "if",
    "items",
    "not",
    "propertyNames",
    "then",
    "unevaluatedItems",
    "unevaluatedProperties",
)
_SUBSCHEMA_MAPS = ("$defs", "definitions", "dependentSchemas", "patternProperties", "properties")
_SUBSCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems")


def unique_items(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise PydanticCustomError("duplicate_value", "each value may appear only once")
    return values


def reference_string(value: str) -> str:
    if not is_reference(value):
        raise PydanticCustomError("invalid_reference", "a reference starts with '$.'")
    try:
        parse_reference(value)
    except InvalidReferenceError as error:
        raise PydanticCustomError("invalid_reference", str(error)) from None
    return value


def jmespath_expression(expression: str) -> str:
    try:
        jmespath.compile(expression)
    except JMESPathError as error:
        position = getattr(error, "lex_position", None)
        where = f" (near position {position})" if isinstance(position, int) else ""
        raise PydanticCustomError("invalid_jmespath", f"not a valid JMESPath expression{where}") from None
    return expression


def regex_pattern(pattern: str) -> str:
    """A pattern RE2 runs (``engine.regexes``): ``invalid_regex``, ``regex_unsupported`` or
    ``regex_too_large`` otherwise."""
    problem = regexes.pattern_problem(pattern)
    if problem is not None:
        raise PydanticCustomError(*problem)
    return pattern


def json_schema_document(schema: dict[str, Any]) -> dict[str, Any]:
    """A structural check of a JSON Schema: subschemas are objects or booleans and type names are known.

    It is not a full meta-schema validation (that would need the ``jsonschema`` package, which the layer
    does not ship); it catches the mistakes a builder actually makes.
    """
    for pointer, problem in _json_schema_problems(schema):
        raise PydanticCustomError("invalid_json_schema", f"{problem} at '{pointer or '/'}'")
    for pointer, pattern in _schema_patterns(schema):
        regex_problem = regexes.pattern_problem(pattern)
        if regex_problem is not None:
            code, message = regex_problem
            raise PydanticCustomError(code, f"{message} at '{pointer}'")
    return schema


def _schema_patterns(root: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """Every ``pattern`` and ``patternProperties`` key in a schema, with its JSON Pointer."""
    pending: list[tuple[str, Any]] = [("", root)]
    while pending:
        pointer, item = pending.pop()
        if isinstance(item, list):
            pending.extend((f"{pointer}/{i}", value) for i, value in enumerate(item))
        if not isinstance(item, dict):
            continue
        if isinstance(item.get("pattern"), str):
            yield f"{pointer}/pattern", item["pattern"]
        if isinstance(item.get("patternProperties"), dict):
            yield from ((f"{pointer}/patternProperties", str(key)) for key in item["patternProperties"])
        pending.extend((f"{pointer}/{_escape(str(key))}", value) for key, value in item.items())


def _json_schema_problems(root: dict[str, Any]) -> Iterator[tuple[str, str]]:
    pending: list[tuple[str, Any]] = [("", root)]
    while pending:
        pointer, schema = pending.pop()
        if isinstance(schema, bool):
            continue
        if not isinstance(schema, dict):
            yield pointer, "a schema must be an object or a boolean"
            continue
        if "type" in schema:
            yield from _type_problems(pointer, schema["type"])
        required = schema.get("required", [])
        if not isinstance(required, list) or not all(isinstance(name, str) for name in required):
            yield f"{pointer}/required", "'required' must be a list of property names"
        for keyword in _SUBSCHEMA:
            if keyword not in schema:
                continue
            value = schema[keyword]
            if keyword == "items" and isinstance(value, list):
                pending.extend((f"{pointer}/items/{i}", item) for i, item in enumerate(value))
            else:
                pending.append((f"{pointer}/{keyword}", value))
        for keyword in _SUBSCHEMA_MAPS:
            if keyword not in schema:
                continue
            if not isinstance(schema[keyword], dict):
                yield f"{pointer}/{keyword}", f"'{keyword}' must be an object of schemas"
                continue
            pending.extend(
                (f"{pointer}/{keyword}/{_escape(name)}", sub) for name, sub in schema[keyword].items()
            )
        for keyword in _SUBSCHEMA_LISTS:
            if keyword not in schema:
                continue
            if not isinstance(schema[keyword], list) or not schema[keyword]:
                yield f"{pointer}/{keyword}", f"'{keyword}' must be a non-empty list of schemas"
                continue
            pending.extend((f"{pointer}/{keyword}/{i}", sub) for i, sub in enumerate(schema[keyword]))


def _type_problems(pointer: str, declared: object) -> Iterator[tuple[str, str]]:
    names = declared if isinstance(declared, list) else [declared]
    if not names or not all(isinstance(name, str) and name in JSON_SCHEMA_TYPES for name in names):
        yield (
            f"{pointer}/type",
            f"'type' must be one of {', '.join(sorted(JSON_SCHEMA_TYPES))} or a list of them",
        )


def _escape(name: str) -> str:
    """JSON Pointer escaping (RFC 6901)."""
    return name.replace("~", "~0").replace("/", "~1")
