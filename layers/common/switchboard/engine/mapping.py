"""Run state and references: the run input (defaults applied), each finished node's output, and how a
``$.input…`` or ``$.<node>.output…`` string is replaced by the value it points at.

A path that does not exist at run time, and any reference to a node without an output (skipped, or not
run), resolves to ``null``. Resolved values are copies: a step cannot change another node's output.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from typing import Any

from switchboard.engine.errors import StepError
from switchboard.engine.nodes import InputNode
from switchboard.engine.references import Reference, is_reference, parse_reference

_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "string": str,
    "number": (int, float),
    "integer": int,
    "boolean": bool,
    "object": dict,
    "array": list,
    "file": dict,
}


class RunState:
    """Outputs are written by the scheduler and read by workers: a lock keeps the map consistent."""

    def __init__(self, run_input: Mapping[str, Any]) -> None:
        self.run_input: dict[str, Any] = dict(run_input)
        self._outputs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def set_output(self, node_id: str, output: Any) -> None:
        with self._lock:
            self._outputs[node_id] = output

    def lookup(self, reference: Reference) -> Any:
        with self._lock:
            current = self.run_input if reference.is_input else self._outputs.get(reference.node_id or "")
        for segment in reference.path:
            if isinstance(segment, int):
                current = current[segment] if isinstance(current, list) and segment < len(current) else None
            else:
                current = current.get(segment) if isinstance(current, dict) else None
            if current is None:
                return None
        return copy.deepcopy(current)

    def resolve(self, text: str) -> Any:
        return self.lookup(parse_reference(text))


def materialize(value: Any, state: RunState, render: Callable[[str], str] | None = None) -> Any:
    """Replace every reference inside ``value`` (at any depth); with ``render``, also render every other
    string as a template. A referenced value is never rendered: data cannot inject template code.
    """
    if is_reference(value):
        return state.resolve(value)
    if isinstance(value, str):
        return render(value) if render is not None else value
    if isinstance(value, dict):
        return {key: materialize(item, state, render) for key, item in value.items()}
    if isinstance(value, list):
        return [materialize(item, state, render) for item in value]
    return value


def run_input_with_defaults(input_node: InputNode, given: Mapping[str, Any]) -> dict[str, Any]:
    """The input node's output. Raises ``StepError('invalid_input')``; messages name fields, never values."""
    run_input = dict(given)
    problems: list[str] = []
    for field in input_node.fields:
        value = run_input.get(field.name)
        if value is None:
            if field.required:
                problems.append(f"'{field.name}' is required")
            elif field.default is not None:
                run_input[field.name] = copy.deepcopy(field.default)
            continue
        if not _is_a(field.type, value):
            problems.append(f"'{field.name}' must be of type {field.type}")
    if problems:
        raise StepError(
            "invalid_input",
            "invalid run input: " + "; ".join(problems),
            {"problems": problems},
            retryable=False,
        )
    return run_input


def _is_a(field_type: str, value: Any) -> bool:
    if isinstance(value, bool):
        return field_type == "boolean"
    return isinstance(value, _JSON_TYPES[field_type])
