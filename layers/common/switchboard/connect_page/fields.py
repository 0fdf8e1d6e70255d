"""Form fields from a connection type's pydantic config model.

Secret fields (``SecretStr``, ``dict[str, SecretStr]``) become inputs that are never pre-filled. A string
field constrained to a fixed alternation (``pattern="^(A|B)$"``) or a ``Literal`` becomes a choice. A type
this module cannot enter in a form raises ``TypeError``, so a new connection type fails its test, not a user.
"""

from __future__ import annotations

import re
import types
from typing import Any, Literal, Union, get_args, get_origin

from pydantic import AnyUrl, BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from switchboard.connect_page.views import FieldKind, FormField

_ALTERNATION = re.compile(r"^\^\(([\w.-]+(?:\|[\w.-]+)*)\)\$$")
_ACRONYMS = {"api": "API", "url": "URL", "id": "ID", "json": "JSON", "http": "HTTP"}
_FORMAT_HELP = {
    FieldKind.lines: "One per line, as Name: value.",
    FieldKind.secret_lines: "One per line, as Name: value. Write-only: never shown again.",
    FieldKind.password: "Write-only: never shown again.",
    FieldKind.json: "A JSON object.",
}


def form_fields(model: type[BaseModel]) -> tuple[FormField, ...]:
    return tuple(_form_field(name, info) for name, info in model.model_fields.items())


def _form_field(name: str, info: FieldInfo) -> FormField:
    annotation, nullable = _without_none(info.annotation)
    kind, choices = _kind_of(name, annotation, _pattern(info))
    help_parts = [part for part in (info.description, _FORMAT_HELP.get(kind)) if part]
    return FormField(
        name=name,
        label=info.title or _label(name),
        kind=kind,
        required=info.is_required() and not nullable,
        help=" ".join(_sentence(part) for part in help_parts),
        default=_default(info, kind),
        choices=choices,
        minimum=_constraint(info, "ge"),
        maximum=_constraint(info, "le"),
        max_length=_constraint(info, "max_length"),
    )


def _kind_of(name: str, annotation: Any, pattern: str | None) -> tuple[FieldKind, tuple[str, ...]]:
    if annotation is SecretStr:
        return FieldKind.password, ()
    if get_origin(annotation) is Literal:
        return FieldKind.choice, tuple(str(choice) for choice in get_args(annotation))
    if isinstance(annotation, type) and issubclass(annotation, AnyUrl):
        return FieldKind.url, ()
    if annotation is int:
        return FieldKind.number, ()
    if annotation is str:
        alternation = _ALTERNATION.match(pattern or "")
        if alternation:
            return FieldKind.choice, tuple(alternation.group(1).split("|"))
        return FieldKind.text, ()
    if get_origin(annotation) is dict:
        key, value = get_args(annotation)
        if key is str and value is SecretStr:
            return FieldKind.secret_lines, ()
        if key is str and value is str:
            return FieldKind.lines, ()
        if key is str and value is Any:
            return FieldKind.json, ()
    raise TypeError(f"config field '{name}' has a type the connect page cannot enter: {annotation!r}")


def _without_none(annotation: Any) -> tuple[Any, bool]:
    if get_origin(annotation) in (Union, types.UnionType):
        members = [member for member in get_args(annotation) if member is not type(None)]
        if len(members) == 1:
            return members[0], True
    return annotation, False


def _pattern(info: FieldInfo) -> str | None:
    for item in info.metadata:
        pattern = getattr(item, "pattern", None)
        if isinstance(pattern, str):
            return pattern
    return None


def _constraint(info: FieldInfo, attribute: str) -> int | None:
    for item in info.metadata:
        value = getattr(item, attribute, None)
        if isinstance(value, int):
            return value
    return None


def _default(info: FieldInfo, kind: FieldKind) -> str:
    if kind in (FieldKind.password, FieldKind.secret_lines):
        return ""
    default = info.default
    if default is PydanticUndefined or default is None or isinstance(default, dict):
        return ""
    return str(default)


def _label(name: str) -> str:
    words = [_ACRONYMS.get(word, word) for word in name.split("_")]
    first = words[0]
    return " ".join([first if first.isupper() else first.capitalize(), *words[1:]])


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."
