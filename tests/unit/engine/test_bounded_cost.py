"""Where node work runs: a computation whose work is linear in small data runs inline (cheap nodes stay
cheap, no process round trip); one whose work can grow faster than its data, or that is big, goes to a
worker process (no AWS)."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.engine.bounded import tasks
from switchboard.engine.bounded.pool import INLINE_UNITS

CONTACTS = {"contacts": [{"name": f"person {index}", "age": index} for index in range(100)], "title": "List"}
CAP = 1024 * 1024

INLINE: list[tuple[str, dict[str, Any]]] = [
    ("render", {"source": "Hello {{ title }}!", "variables": CONTACTS, "max_bytes": CAP}),
    (
        "render",
        {"source": "{{ contacts | length }} {{ title | upper }}", "variables": CONTACTS, "max_bytes": CAP},
    ),
    (
        "render",
        {
            "source": "{% for c in contacts %}{{ loop.index }}. {{ c.name | title }}{% endfor %}",
            "variables": CONTACTS,
            "max_bytes": CAP,
        },
    ),
    ("render", {"source": "{{ contacts }}", "variables": CONTACTS, "max_bytes": CAP}),
    ("search", {"expression": "contacts[?age > `30`].name", "data": CONTACTS, "max_bytes": CAP}),
    (
        "search",
        {"expression": "{names: contacts[].name, n: length(contacts)}", "data": CONTACTS, "max_bytes": CAP},
    ),
    ("choose", {"conditions": ["length(contacts) > `0`", "title == 'x'"], "data": CONTACTS}),
    ("match", {"pattern": "[A-Z]{3}-\\d+", "text": "ABC-123"}),
    ("check_schema", {"schema": {"type": "object", "required": ["title"]}, "value": CONTACTS["contacts"][0]}),
]

OUT_OF_PROCESS: list[tuple[str, dict[str, Any]]] = [
    ("render", {"source": "{{ (3**30000000) % 7 }}", "variables": {}, "max_bytes": CAP}),
    ("render", {"source": "{{ 'x' * 100000000 }}", "variables": {}, "max_bytes": CAP}),
    ("render", {"source": "{% for i in range(10) %}{% endfor %}", "variables": {}, "max_bytes": CAP}),
    (
        "render",
        {
            "source": "{% for c in contacts %}{% for d in contacts %}{% endfor %}{% endfor %}",
            "variables": CONTACTS,
            "max_bytes": CAP,
        },
    ),
    ("render", {"source": "{% set x = title %}{{ x }}", "variables": CONTACTS, "max_bytes": CAP}),
    ("render", {"source": "{{ title | center(100000000) }}", "variables": CONTACTS, "max_bytes": CAP}),
    ("search", {"expression": "[@, @][] | [@, @][]", "data": CONTACTS, "max_bytes": CAP}),
    ("check_schema", {"schema": {"type": "array", "uniqueItems": True}, "value": []}),
    ("check_schema", {"schema": {"$defs": {"a": {}}, "$ref": "#/$defs/a"}, "value": {}}),
    ("match", {"pattern": "^(a+)+$", "text": "a" * 1_000_000}),
    (
        "render",
        {
            "source": "{% for c in contacts %}{{ title }}{% endfor %}",
            "variables": {**CONTACTS, "title": "t" * 5000},
            "max_bytes": CAP,
        },
    ),
]


@pytest.mark.parametrize(("kind", "payload"), INLINE)
def test_linear_work_over_small_data_runs_inline(kind: str, payload: dict[str, Any]) -> None:
    # Given a node's everyday computation over 100 contacts
    # When its work is estimated
    units = tasks.units(kind, payload, INLINE_UNITS)
    # Then it is known and small enough to run in the caller's thread
    assert units is not None
    assert units <= INLINE_UNITS


@pytest.mark.parametrize(("kind", "payload"), OUT_OF_PROCESS)
def test_unbounded_or_big_work_goes_to_a_worker(kind: str, payload: dict[str, Any]) -> None:
    # Given a computation whose work can outgrow its data (or is big)
    # When its work is estimated
    units = tasks.units(kind, payload, INLINE_UNITS)
    # Then it is unknown or over the inline budget
    assert units is None or units > INLINE_UNITS
