"""A run input checked against its version's input node, before the run exists.

Each problem becomes one 422 detail ``{"loc": ["input", field], "code", "message"}``; messages name fields and
types, never submitted values. A ``file`` field takes a file reference of this App (uploaded with a
multipart request, or one returned by an earlier run of the same App).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from switchboard import json_limits
from switchboard.domain.errors import ValidationFailed, problem
from switchboard.domain.models import App
from switchboard.engine.nodes import InputField, InputNode
from switchboard.runtime.building.versions import version_definition
from switchboard.runtime.runs.uploads import FileReference, UploadedFile, app_prefix

FILES_FIELD = "files"
_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "number": (int, float),
    "integer": int,
    "object": dict,
    "array": list,
}


def check_input(input_node: InputNode, given: Mapping[str, Any], app_id: str, bucket: str) -> None:
    declared = {f.name: f for f in input_node.fields}
    problems = [
        problem(["input", name], "unknown_field", "the input node declares no such field")
        for name in given
        if name not in declared
    ]
    for name, input_field in declared.items():
        value = given.get(name)
        if value is None:
            if input_field.required:
                problems.append(problem(["input", name], "missing", "the field is required"))
            continue
        mismatch = _type_problem(input_field, value, app_id, bucket)
        if mismatch:
            problems.append(problem(["input", name], *mismatch))
    if problems:
        raise ValidationFailed("the input does not match the App's input fields", details=problems)


def deployed_input_schema(app: App) -> dict[str, Any] | None:
    """``input_schema`` of the version deployed to ``app`` (None before its first deploy)."""
    if app.deployment is None:
        return None
    _, definition = version_definition(app.workflow_id, app.deployment.version)
    return input_schema(definition.input_node())


def input_schema(input_node: InputNode) -> dict[str, Any]:
    """The JSON Schema of the input ``check_input`` accepts: each declared field with its type, description
    and default, the required ones listed, no other field (a ``file`` field takes a file reference)."""
    properties: dict[str, Any] = {}
    for input_field in input_node.fields:
        schema: dict[str, Any] = (
            FileReference.model_json_schema() if input_field.type == "file" else {"type": input_field.type}
        )
        if input_field.description is not None:
            schema["description"] = input_field.description
        if input_field.default is not None:
            schema["default"] = input_field.default
        properties[input_field.name] = schema
    required = [input_field.name for input_field in input_node.fields if input_field.required]
    return {
        "type": "object",
        "properties": properties,
        **({"required": required} if required else {}),
        "additionalProperties": False,
    }


def _type_problem(input_field: InputField, value: Any, app_id: str, bucket: str) -> tuple[str, str] | None:
    if input_field.type == "file":
        return None if is_app_file(value, app_id, bucket) else ("invalid_file", _FILE_MESSAGE)
    if isinstance(value, bool):
        valid = input_field.type == "boolean"
    else:
        valid = input_field.type in _TYPES and isinstance(value, _TYPES[input_field.type])
    return None if valid else ("invalid_type", f"must be of type {input_field.type}")


_FILE_MESSAGE = "must be a file reference {name, content_type, size, bucket, key} of a file of this App"


def is_app_file(value: Any, app_id: str, bucket: str) -> bool:
    try:
        reference = FileReference.model_validate(value)
    except ValidationError:
        return False
    return bool(bucket) and reference.bucket == bucket and reference.key.startswith(app_prefix(app_id))


def check_file_references(references: Sequence[FileReference], app_id: str, bucket: str) -> None:
    problems = [
        problem(["files", index], "invalid_file", _FILE_MESSAGE)
        for index, reference in enumerate(references)
        if not is_app_file(reference.model_dump(), app_id, bucket)
    ]
    if problems:
        raise ValidationFailed("the files are not files of this App", details=problems)


def coerce_form_fields(input_node: InputNode, fields: Mapping[str, Any]) -> dict[str, Any]:
    """Multipart text fields as the declared types: numbers, booleans, and JSON for objects and arrays."""
    declared = {f.name: f.type for f in input_node.fields}
    converted: dict[str, Any] = {}
    problems: list[dict[str, Any]] = []
    for name, text in fields.items():
        field_type = declared.get(name)
        try:
            converted[name] = _converted(field_type, text) if isinstance(text, str) else text
        except ValueError:
            problems.append(problem(["input", name], "invalid_type", f"must be of type {field_type}"))
    if problems:
        raise ValidationFailed("the input does not match the App's input fields", details=problems)
    return converted


def _converted(field_type: str | None, text: str) -> Any:
    """A form field's text as ``field_type``: ``ValueError`` when it is not one, or not one the run record
    can store (``json_limits``)."""
    if field_type in ("integer", "number"):
        number = int(text) if text.strip().lstrip("+-").isdigit() else float(text)
        if (field_type == "integer" and not isinstance(number, int)) or not json_limits.storable_number(
            number
        ):
            raise ValueError(text)
        return number
    if field_type == "boolean":
        lowered = text.strip().lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ValueError(text)
        return lowered in ("true", "1")
    if field_type in ("object", "array"):
        value = json_limits.loads(text)
        if not isinstance(value, dict if field_type == "object" else list):
            raise ValueError(text)
        return value
    return text


def place_files(
    input_node: InputNode,
    given: Mapping[str, Any],
    uploaded: Sequence[tuple[FileReference, UploadedFile]],
    references: Sequence[FileReference],
) -> dict[str, Any]:
    """Put each uploaded file into the field of its part's name (a ``file`` field, or appended to an ``array``
    field), else into the ``files`` array field; ``references`` (the request's ``files``) go to ``files``."""
    declared = {f.name: f.type for f in input_node.fields}
    run_input = dict(given)
    problems: list[dict[str, Any]] = []
    placed = [(upload.field, reference) for reference, upload in uploaded]
    placed += [(FILES_FIELD, reference) for reference in references]
    for name, reference in placed:
        target = name if declared.get(name) in ("file", "array") else FILES_FIELD
        document = reference.model_dump()
        if declared.get(target) == "file" and target not in run_input:
            run_input[target] = document
        elif declared.get(target) == "array" and isinstance(run_input.setdefault(target, []), list):
            run_input[target].append(document)
        else:
            problems.append(
                problem(["files", name], "unplaceable_file", "no free file or array input field takes it")
            )
    if problems:
        raise ValidationFailed("the files do not match the App's input fields", details=problems)
    return run_input
