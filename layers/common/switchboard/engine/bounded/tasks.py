"""The computations a node asks for, by kind: what each does and how much work it may do.

A task runs the same in the executor's thread or in a worker process (``pool``); its payload and its
result are JSON values.

| kind           | payload                               | result                                        |
|----------------|---------------------------------------|-----------------------------------------------|
| `render`       | `source`, `variables`, `max_bytes`    | the rendered text                             |
| `search`       | `expression`, `data`, `max_bytes`     | the JMESPath result                           |
| `choose`       | `conditions`, `data`                  | the index of the first truthy condition, or null |
| `match`        | `pattern`, `text`                     | whether the whole text matches (RE2)          |
| `check_schema` | `schema`, `value`                     | null, or the node fails `validation_failed`   |
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from switchboard.engine import regexes
from switchboard.engine.bounded import cost
from switchboard.engine.bounded.sizes import too_large, value_bytes
from switchboard.engine.errors import StepError
from switchboard.engine.expressions import search, truthy
from switchboard.engine.schemas import check
from switchboard.engine.templating import render

Payload = Mapping[str, Any]

SCHEMA_UNIT = 10
"""A JSON Schema keyword applied to a value costs about ten times a template's or an expression's step
(``jsonschema`` is pure Python and does more per keyword)."""


def perform(kind: str, payload: Payload) -> Any:
    return _PERFORM[kind](payload)


def units(kind: str, payload: Payload, budget: int) -> int | None:
    """The most work the task may do, in units of about 30 ns; None when it is not bounded by its data.
    Measuring stops once past ``budget``: the answer is then only "over"."""
    return _UNITS[kind](payload, budget)


def _render(payload: Payload) -> str:
    return render(payload["source"], payload["variables"], payload["max_bytes"])


def _search(payload: Payload) -> Any:
    value = search(payload["expression"], payload["data"])
    if value_bytes(value, payload["max_bytes"]) > payload["max_bytes"]:
        raise too_large(payload["max_bytes"])
    return value


def _choose(payload: Payload) -> int | None:
    for index, condition in enumerate(payload["conditions"]):
        if truthy(search(condition, payload["data"])):
            return index
    return None


def _match(payload: Payload) -> bool:
    try:
        return regexes.fullmatch(payload["pattern"], payload["text"])
    except regexes.RegexError:
        raise unsupported_regex() from None


def _check_schema(payload: Payload) -> None:
    check(payload["schema"], payload["value"])


def unsupported_regex() -> StepError:
    """A pattern saved before regexes ran on RE2, which RE2 cannot run."""
    return StepError(
        "regex_unsupported",
        "the pattern cannot run on RE2 (backreferences and lookaround are not supported); save a new version",
        retryable=False,
    )


def _render_units(payload: Payload, budget: int) -> int | None:
    size = cost.template(payload["source"])
    return None if size is None else size.units(payload["variables"], budget)


def _search_units(payload: Payload, budget: int) -> int | None:
    size = cost.jmespath(payload["expression"])
    return None if size is None else size.units(payload["data"], budget)


def _choose_units(payload: Payload, budget: int) -> int | None:
    sizes = [cost.jmespath(condition) for condition in payload["conditions"]]
    if any(size is None for size in sizes):
        return None
    total = cost.Size(sum(size.nodes for size in sizes if size is not None))
    return total.units(payload["data"], budget)


def _match_units(payload: Payload, budget: int) -> int:
    del budget
    return cost.regex(payload["pattern"], payload["text"])


def _check_schema_units(payload: Payload, budget: int) -> int | None:
    size = cost.schema(payload["schema"])
    if size is None:
        return None
    return SCHEMA_UNIT * size.units(payload["value"], budget // SCHEMA_UNIT + 1)


_PERFORM: dict[str, Callable[[Payload], Any]] = {
    "render": _render,
    "search": _search,
    "choose": _choose,
    "match": _match,
    "check_schema": _check_schema,
}
_UNITS: dict[str, Callable[[Payload, int], int | None]] = {
    "render": _render_units,
    "search": _search_units,
    "choose": _choose_units,
    "match": _match_units,
    "check_schema": _check_schema_units,
}
KINDS = frozenset(_PERFORM)
