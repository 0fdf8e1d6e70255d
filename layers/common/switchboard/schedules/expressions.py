"""Scheduler's ``rate(value unit)`` and ``at(yyyy-mm-ddThh:mm:ss)`` expressions: written, checked, read."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from switchboard.domain.errors import ValidationFailed, problem

UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
# Scheduler documents no maximum; this one keeps every period and its firings representable datetimes.
LARGEST_VALUE = 1_000_000
_RATE = re.compile(r"([0-9]+)\s+([a-z]+)")
_RATE_EXPRESSION = re.compile(r"rate\(([0-9]+ [a-z]+)\)")
_AT_EXPRESSION = re.compile(r"at\(([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})\)")


def rate_error(message: str) -> ValidationFailed:
    return ValidationFailed(message, details=[problem(["rate"], "invalid_rate", message)])


def rate_expression(rate: str) -> str:
    """``"5 minutes"`` (or ``"rate(5 minutes)"``) → ``"rate(5 minutes)"``, with Scheduler's rules enforced:
    a whole number of at least 1, a singular unit for 1 and a plural one otherwise."""
    text = rate.strip().lower()
    if text.startswith("rate(") and text.endswith(")"):
        text = text[len("rate(") : -1].strip()
    value, unit = _value_and_unit(text)
    return f"rate({value} {unit})"


def _value_and_unit(text: str) -> tuple[int, str]:
    match = _RATE.fullmatch(text)
    if match is None:
        raise rate_error("write a rate as '<value> <unit>', e.g. '5 minutes', '1 hour' or '2 days'")
    value, unit = int(match.group(1)), match.group(2)
    singular = unit.removesuffix("s")
    if singular not in UNITS:
        raise rate_error(f"'{unit}' is not a rate unit; use minutes, hours or days")
    if not 1 <= value <= LARGEST_VALUE:
        raise rate_error(f"a rate's value must be from 1 to {LARGEST_VALUE}")
    expected = singular if value == 1 else f"{singular}s"
    if unit != expected:
        raise rate_error(f"write '{value} {expected}': the unit is singular for 1 and plural otherwise")
    return value, unit


def rate_period(expression: str) -> timedelta:
    """The period of a Scheduler ``rate(...)`` expression."""
    match = _RATE_EXPRESSION.fullmatch(expression.strip())
    if match is None:
        raise rate_error(f"'{expression}' is not a Scheduler rate expression")
    value, unit = _value_and_unit(match.group(1))
    return value * UNITS[unit.removesuffix("s")]


def at_expression(moment: datetime, zone: ZoneInfo) -> str:
    """A one-time ``at(...)``: the wall-clock time in ``zone`` (an aware moment is converted to it first,
    a naive one is taken as that wall-clock time), to the second."""
    local = moment.astimezone(zone) if moment.tzinfo is not None else moment
    return f"at({local.strftime('%Y-%m-%dT%H:%M:%S')})"


def at_wall_time(expression: str) -> datetime:
    """The naive wall-clock time of a Scheduler ``at(...)`` expression."""
    match = _AT_EXPRESSION.fullmatch(expression.strip())
    if match is None:
        raise ValidationFailed(f"'{expression}' is not a Scheduler at expression")
    try:
        return datetime.fromisoformat(match.group(1))
    except ValueError:
        raise ValidationFailed(f"'{expression}' is not a valid date and time") from None
