"""References: strings that begin with ``$.`` and point at run input or at a node's output.

Grammar (see docs/workflow-definition.md)::

    reference := "$.input" path* | "$." node_id ".output" path*
    path      := "." key | "[" index "]"
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REFERENCE_PREFIX = "$."
INPUT_ROOT = "input"
MAX_REFERENCE_LENGTH = 512

_ROOT = re.compile(r"\$\.(?P<root>[a-z][a-z0-9_]{0,62})")
_SEGMENT = re.compile(r"\.(?P<key>[A-Za-z0-9_-]+)|\[(?P<index>\d{1,9})\]")


class InvalidReferenceError(ValueError):
    """The text starts with ``$.`` but does not follow the reference grammar."""


@dataclass(frozen=True)
class Reference:
    """``node_id`` is None for run input; ``path`` is what follows ``$.input`` or ``$.<node_id>.output``."""

    node_id: str | None
    path: tuple[str | int, ...]

    @property
    def is_input(self) -> bool:
        return self.node_id is None

    @property
    def input_field(self) -> str | None:
        """The run input field a ``$.input.<field>`` reference names; None for ``$.input`` itself."""
        if self.node_id is None and self.path and isinstance(self.path[0], str):
            return self.path[0]
        return None


def is_reference(value: object) -> bool:
    return isinstance(value, str) and value.startswith(REFERENCE_PREFIX)


def parse_reference(text: str) -> Reference:
    if len(text) > MAX_REFERENCE_LENGTH:
        raise InvalidReferenceError(f"a reference is at most {MAX_REFERENCE_LENGTH} characters")
    root = _ROOT.match(text)
    if root is None:
        raise InvalidReferenceError("a reference starts with '$.input' or '$.<node id>.output'")
    path = _parse_path(text, root.end())
    if root["root"] == INPUT_ROOT:
        if path and isinstance(path[0], int):
            raise InvalidReferenceError("'$.input' is an object: follow it with '.<field>', not an index")
        return Reference(node_id=None, path=path)
    if not path or path[0] != "output":
        raise InvalidReferenceError("a node reference has the form '$.<node id>.output[.<key>|[<index>]]...'")
    return Reference(node_id=root["root"], path=path[1:])


def _parse_path(text: str, position: int) -> tuple[str | int, ...]:
    segments: list[str | int] = []
    while position < len(text):
        segment = _SEGMENT.match(text, position)
        if segment is None:
            raise InvalidReferenceError(
                f"unexpected character at position {position}: "
                "path segments are '.<key>' (letters, digits, '_' or '-') or '[<index>]'"
            )
        segments.append(segment["key"] if segment["key"] is not None else int(segment["index"]))
        position = segment.end()
    return tuple(segments)
