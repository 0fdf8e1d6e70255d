"""Cron fields: their ranges and names, one parser for the standard and the Scheduler syntax, one renderer.

A field is a comma-separated list of items; an item is ``*``, a value, a range ``a-b``, or one of those with a
step: ``*/n``, ``a-b/n`` and ``a/n`` (from ``a`` to the end of the field). Values are numbers or, in the month
and day-of-week fields, three-letter names in any case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from itertools import pairwise
from types import MappingProxyType

from switchboard.domain.errors import ValidationFailed, problem

_NUMBER = re.compile(r"[0-9]+")
_SHORTEST_RANGE = 3


@dataclass(frozen=True)
class CronField:
    name: str
    low: int
    high: int
    names: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    range_end_names: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Names that mean another value where they would end a range backwards (``FRI-SUN`` is 5-7, not 5-0)."""

    @property
    def values(self) -> frozenset[int]:
        return frozenset(range(self.low, self.high + 1))


def _named(names: Iterable[str], first: int) -> Mapping[str, int]:
    return MappingProxyType({name: first + index for index, name in enumerate(names)})


MONTH_NAMES = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")

MINUTE = CronField("minute", 0, 59)
HOUR = CronField("hour", 0, 23)
DAY_OF_MONTH = CronField("day-of-month", 1, 31)
MONTH = CronField("month", 1, 12, _named(MONTH_NAMES, 1))
WEEKDAY = CronField("day-of-week", 0, 7, _named(WEEKDAY_NAMES, 0), MappingProxyType({"SUN": 7}))
"""Standard cron: SUN=0 … SAT=6, and 7 is Sunday again."""
SCHEDULER_WEEKDAY = CronField("day-of-week", 1, 7, _named(WEEKDAY_NAMES, 1))
"""EventBridge Scheduler: SUN=1 … SAT=7."""
YEAR = CronField("year", 1970, 2199)


def cron_error(message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[problem(["cron"], "invalid_cron", message)])


def field_error(cron_field: CronField, text: str, reason: str) -> ValidationFailed:
    return cron_error(f"{cron_field.name} field '{text}': {reason}")


def parse_field(text: str, cron_field: CronField) -> frozenset[int]:
    """The values a field selects; raises ``ValidationFailed`` naming the field and the reason."""
    values: set[int] = set()
    for item in text.split(","):
        values.update(_parse_item(item, text, cron_field))
    return frozenset(values)


def _parse_item(item: str, text: str, cron_field: CronField) -> range:
    if not item:
        raise field_error(cron_field, text, "a list item is empty")
    base, slash, step_text = item.partition("/")
    step = _step(step_text, text, cron_field) if slash else 1
    if base == "*":
        first, last = cron_field.low, cron_field.high
    elif "-" in base:
        first_text, _, last_text = base.partition("-")
        first = _value(first_text, text, cron_field)
        last = _value(last_text, text, cron_field)
        if first > last:
            last = cron_field.range_end_names.get(last_text.upper(), last)
        if first > last:
            raise field_error(cron_field, text, f"the range {base} is reversed")
    else:
        first = _value(base, text, cron_field)
        last = cron_field.high if slash else first
    return range(first, last + 1, step)


def _step(step_text: str, text: str, cron_field: CronField) -> int:
    if not _NUMBER.fullmatch(step_text):
        raise field_error(cron_field, text, f"the step '{step_text}' is not a whole number")
    step = int(step_text)
    if step < 1:
        raise field_error(cron_field, text, "the step must be at least 1")
    return step


def _value(token: str, text: str, cron_field: CronField) -> int:
    name = token.upper()
    if name in cron_field.names:
        return cron_field.names[name]
    if not _NUMBER.fullmatch(token):
        expected = f"a number or a name ({', '.join(cron_field.names)})" if cron_field.names else "a number"
        raise field_error(cron_field, text, f"'{token}' is not {expected}")
    value = int(token)
    if not cron_field.low <= value <= cron_field.high:
        raise field_error(cron_field, text, f"{value} is out of range {cron_field.low}-{cron_field.high}")
    return value


def runs(values: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted values as runs of consecutive numbers, each ``(first, last)``."""
    found: list[tuple[int, int]] = []
    for value in sorted(values):
        if found and found[-1][1] == value - 1:
            found[-1] = (found[-1][0], value)
        else:
            found.append((value, value))
    return found


def spell_runs(found: list[tuple[int, int]], spell: Mapping[int, str] | None = None) -> str:
    """Runs of three or more as ranges, shorter ones as single values: ``1-5,7,8``."""

    def word(value: int) -> str:
        return spell[value] if spell else str(value)

    parts: list[str] = []
    for first, last in found:
        if last - first + 1 >= _SHORTEST_RANGE:
            parts.append(f"{word(first)}-{word(last)}")
        else:
            parts.extend(word(value) for value in range(first, last + 1))
    return ",".join(parts)


def render(values: frozenset[int], cron_field: CronField) -> str:
    """Canonical text for values: ``*``, ``a/n`` for a step that runs to the field's end, else a list.

    A step is written from its first value (``0/5``, never ``*/5``), and a stepped range that stops early is
    written as its values, because Scheduler documents only the ``a/n`` form of the ``/`` wildcard.
    """
    if values == cron_field.values:
        return "*"
    ordered = sorted(values)
    steps = {later - earlier for earlier, later in pairwise(ordered)}
    if len(ordered) >= _SHORTEST_RANGE and len(steps) == 1:
        (step,) = steps
        if step > 1 and ordered[-1] + step > cron_field.high:
            return f"{ordered[0]}/{step}"
    return spell_runs(runs(ordered))
