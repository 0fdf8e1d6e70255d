"""Standard 5-field cron, as users write it, converted to EventBridge Scheduler's 6-field ``cron(...)``.

Input: ``minute hour day-of-month month day-of-week`` with numbers, ``*``, ranges, steps, lists, JAN-DEC and
SUN-SAT in any case, day-of-week 0-7 (0 and 7 are Sunday; a range ending in SUN, such as FRI-SUN, ends on 7),
and the macros @yearly (@annually), @monthly, @weekly, @daily (@midnight) and @hourly, expanded to their usual
five fields.

Output: ``cron(minutes hours day-of-month month day-of-week year)`` in a canonical form: numbers for minutes,
hours, days and months, names for the day of the week (SUN-SAT read the same in both numberings, where 0-6
and 1-7 do not), exactly one ``?`` in the day fields, and year ``*``.

Standard cron matches a day on both day fields when one of them starts with ``*`` and on either of them when
both are restricted. Scheduler needs one day field to be ``?``, so it can express only the cases where one
field selects every day; the others are rejected with a ``ValidationFailed`` that says what to change, as is
anything else Scheduler cannot express (L, W, #, ?, @reboot, a day that none of the months has).
"""

from __future__ import annotations

import re

from switchboard.schedules.fields import (
    DAY_OF_MONTH,
    HOUR,
    MINUTE,
    MONTH,
    WEEKDAY,
    WEEKDAY_NAMES,
    CronField,
    cron_error,
    field_error,
    parse_field,
    render,
    runs,
    spell_runs,
)

MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
FIELDS = (MINUTE, HOUR, DAY_OF_MONTH, MONTH, WEEKDAY)
_LONGEST_MONTH = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}
_SCHEDULER_ONLY = re.compile(r"[?#]|(?<![A-Z])[0-9]*(?:LW|L|W)(?![A-Z])")
_SCHEDULER_EXPRESSION = re.compile(r"(?:cron|rate|at)\(", re.IGNORECASE)
_SCHEDULER_WEEKDAY_NAMES = dict(enumerate(WEEKDAY_NAMES, start=1))


def scheduler_cron(expression: str) -> str:
    """The Scheduler form of a standard cron expression: ``"0 9 * * 1-5"`` → ``"cron(0 9 ? * MON-FRI *)"``."""
    texts = _fields(expression)
    for cron_field, text in zip(FIELDS, texts, strict=True):
        _reject_extensions(cron_field, text)
    minute_text, hour_text, day_text, month_text, weekday_text = texts
    minutes = parse_field(minute_text, MINUTE)
    hours = parse_field(hour_text, HOUR)
    days = parse_field(day_text, DAY_OF_MONTH)
    months = parse_field(month_text, MONTH)
    weekdays = frozenset(value % 7 for value in parse_field(weekday_text, WEEKDAY))
    day_field, weekday_field = _day_fields(day_text, days, weekday_text, weekdays)
    if day_field not in ("*", "?"):
        _check_day_exists(day_text, days, months)
    return (
        f"cron({render(minutes, MINUTE)} {render(hours, HOUR)} {day_field} "
        f"{render(months, MONTH)} {weekday_field} *)"
    )


def _fields(expression: str) -> list[str]:
    text = expression.strip()
    if text.startswith("@"):
        if text.lower() not in MACROS:
            raise cron_error(f"'{text}' is not a supported macro; use one of {', '.join(MACROS)}")
        text = MACROS[text.lower()]
    if _SCHEDULER_EXPRESSION.match(text):
        raise cron_error(
            "write the five standard cron fields (minute hour day-of-month month day-of-week), "
            "not a Scheduler expression"
        )
    texts = text.split()
    if len(texts) != len(FIELDS):
        raise cron_error(
            f"a cron expression has 5 fields (minute hour day-of-month month day-of-week), not {len(texts)}"
        )
    return texts


def _reject_extensions(cron_field: CronField, text: str) -> None:
    found = _SCHEDULER_ONLY.search(text.upper())
    if found:
        hint = "; write * and the ? is added where Scheduler needs it" if found.group() == "?" else ""
        raise field_error(cron_field, text, f"'{found.group()}' is not standard cron{hint}")


def _day_fields(
    day_text: str, days: frozenset[int], weekday_text: str, weekdays: frozenset[int]
) -> tuple[str, str]:
    every_day = days == DAY_OF_MONTH.values
    every_weekday = len(weekdays) == len(WEEKDAY_NAMES)
    if day_text.startswith("*") or weekday_text.startswith("*"):
        # Standard cron needs both fields to match: one of them must select every day.
        if every_weekday:
            return render(days, DAY_OF_MONTH), "?"
        if every_day:
            return "?", _weekday_names(weekdays)
        raise cron_error(
            f"day-of-month '{day_text}' and day-of-week '{weekday_text}' both narrow the days, which "
            "EventBridge Scheduler cannot combine; restrict only one of them and set the other to *"
        )
    # Standard cron runs on days matching either field: Scheduler can only say "every day" of that.
    if every_day or every_weekday:
        return "*", "?"
    raise cron_error(
        f"day-of-month '{day_text}' and day-of-week '{weekday_text}' are both set, which in standard cron "
        "means days matching either one; EventBridge Scheduler cannot express that, so set one of them to *"
    )


def _weekday_names(weekdays: frozenset[int]) -> str:
    """Standard weekdays (SUN=0) as Scheduler names in Scheduler's order (SUN=1 … SAT=7)."""
    return spell_runs(runs(day + 1 for day in weekdays), _SCHEDULER_WEEKDAY_NAMES)


def _check_day_exists(day_text: str, days: frozenset[int], months: frozenset[int]) -> None:
    longest = max(_LONGEST_MONTH[month] for month in months)
    if min(days) > longest:
        raise field_error(DAY_OF_MONTH, day_text, "none of the selected months has that day")
