"""A submitted connect form back into a connection config, and validation errors back onto its fields.

``form_config`` is the inverse of the rendered form: ``Name: value`` lines become a dict, numbers an int, a
JSON field its object; an empty optional field is left out so the model's default applies, except a text
field whose default is a non-empty string (a cleared ``scheme`` means "none", not "Bearer"). Its errors have
the shape ``parse_config`` gives, so one ``field_errors`` serves both. No message ever quotes a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel

from switchboard import json_limits
from switchboard.connect_page.fields import form_fields
from switchboard.connect_page.views import FieldKind, FormField
from switchboard.domain.errors import ValidationFailed, problem

Form = Mapping[str, Sequence[str]]


class _FieldError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def form_config(model: type[BaseModel], form: Form) -> dict[str, Any]:
    config: dict[str, Any] = {}
    problems: list[dict[str, Any]] = []
    for field in form_fields(model):
        raw = _first(form, field.name)
        if raw is None:
            continue
        if not raw.strip():
            if field.kind is FieldKind.text and field.default:
                config[field.name] = ""
            continue
        try:
            config[field.name] = _parsed(field, raw)
        except _FieldError as error:
            problems.append(problem(["config", field.name], error.code, error.message))
    if problems:
        raise ValidationFailed("invalid connection config", details=problems)
    return config


def refill_values(model: type[BaseModel], form: Form) -> dict[str, str]:
    """The submitted non-secret values, to show again after a failed submit."""
    values: dict[str, str] = {}
    for field in form_fields(model):
        raw = _first(form, field.name)
        if raw is not None and not field.secret:
            values[field.name] = raw
    return values


def field_errors(details: Iterable[Mapping[str, Any]] | None) -> dict[str, str]:
    """``ValidationFailed.details`` by field name (the first message per field); ``""`` for the whole form."""
    errors: dict[str, str] = {}
    for detail in details or ():
        loc = list(detail.get("loc") or ())
        name = str(loc[1]) if len(loc) > 1 and loc[0] == "config" else ""
        message = str(detail.get("message") or detail.get("code") or "invalid value")
        errors.setdefault(name, message)
    return errors


def _first(form: Form, name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _parsed(field: FormField, raw: str) -> Any:
    if field.kind is FieldKind.number:
        try:
            number = int(raw.strip())
        except ValueError:
            raise _FieldError("int_parsing", "Enter a whole number.") from None
        if not json_limits.storable_number(number):
            raise _FieldError("number_out_of_range", "Enter a whole number of at most 38 digits.")
        return number
    if field.kind in (FieldKind.lines, FieldKind.secret_lines):
        return _lines(raw)
    if field.kind is FieldKind.json:
        try:
            value = json_limits.loads(raw)
        except json_limits.UnsafeJson as unsafe:
            raise _FieldError(unsafe.code, f"Enter a JSON object: {unsafe.message}.") from None
        except ValueError:
            raise _FieldError("json_invalid", "Enter a valid JSON object.") from None
        if not isinstance(value, dict):
            raise _FieldError("json_invalid", 'Enter a JSON object, like {"name": "value"}.')
        return value
    return raw


def _lines(raw: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for number, line in enumerate(raw.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name:
            raise _FieldError("line_invalid", f"Line {number} is not in the form Name: value.")
        if name in pairs:
            raise _FieldError("line_duplicate", f"Line {number} repeats the name on an earlier line.")
        pairs[name] = value.strip()
    return pairs
