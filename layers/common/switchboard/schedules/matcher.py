"""When a Scheduler expression fires next, for the local stack's in-process scheduler (no AWS).

Times follow EventBridge Scheduler's documented behaviour:

- ``cron(...)`` is evaluated on the wall clock of the schedule's time zone. A wall-clock time that a
  daylight-saving jump skips does not fire (02:30 on the spring-forward night is skipped, not moved), and a
  wall-clock time that the fall-back repeats fires once, at its first occurrence.
- ``rate(...)`` counts elapsed time, not wall-clock time: ``rate(1 day)`` is every 24 hours, so across a
  daylight-saving change it fires an hour earlier or later on the wall clock. It fires first at ``start``,
  else at ``anchor`` (the schedule's creation time, where Scheduler starts a rate without a start date).
- ``at(...)`` fires once at that wall-clock time; one that a spring-forward jump skips fires as late as the
  jump (02:30 becomes 03:30), one that the fall-back repeats fires at its first occurrence.

``start`` is inclusive and ``end`` exclusive, for every kind. Every datetime given must be aware; the answer
is aware, in UTC.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from switchboard.domain.errors import ValidationFailed
from switchboard.schedules.expressions import at_wall_time, rate_period
from switchboard.schedules.fields import (
    DAY_OF_MONTH,
    HOUR,
    MINUTE,
    MONTH,
    SCHEDULER_WEEKDAY,
    YEAR,
    cron_error,
    parse_field,
)

_INSTANT = timedelta(microseconds=1)


@dataclass(frozen=True)
class SchedulerCron:
    """A parsed 6-field Scheduler cron; ``days`` or ``weekdays`` (SUN=1 … SAT=7) is None for ``?``."""

    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int] | None
    months: tuple[int, ...]
    weekdays: frozenset[int] | None
    years: frozenset[int]

    def matches(self, day: date) -> bool:
        if self.days is not None:
            return day.day in self.days
        return self.weekdays is not None and day.isoweekday() % 7 + 1 in self.weekdays


def parse_scheduler_cron(expression: str) -> SchedulerCron:
    text = expression.strip()
    if not (text.startswith("cron(") and text.endswith(")")):
        raise cron_error(f"'{expression}' is not a Scheduler cron expression")
    texts = text[len("cron(") : -1].split()
    if len(texts) != 6:
        raise cron_error(f"a Scheduler cron expression has 6 fields, not {len(texts)}")
    minute_text, hour_text, day_text, month_text, weekday_text, year_text = texts
    if (day_text == "?") == (weekday_text == "?"):
        raise cron_error("exactly one of day-of-month and day-of-week must be ?")
    return SchedulerCron(
        minutes=tuple(sorted(parse_field(minute_text, MINUTE))),
        hours=tuple(sorted(parse_field(hour_text, HOUR))),
        days=None if day_text == "?" else parse_field(day_text, DAY_OF_MONTH),
        months=tuple(sorted(parse_field(month_text, MONTH))),
        weekdays=None if weekday_text == "?" else parse_field(weekday_text, SCHEDULER_WEEKDAY),
        years=parse_field(year_text, YEAR),
    )


def next_fire(
    expression: str,
    timezone: str,
    after: datetime,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    anchor: datetime | None = None,
) -> datetime | None:
    """The first firing strictly after ``after`` within ``[start, end)``, or None if there is none."""
    after = _instant(after)
    start, end, anchor = (None if moment is None else _instant(moment) for moment in (start, end, anchor))
    zone = ZoneInfo(timezone)
    floor = after if start is None else max(after, start - _INSTANT)
    text = expression.strip()
    if text.startswith("cron("):
        fire = _next_cron(parse_scheduler_cron(text), zone, floor)
    elif text.startswith("rate("):
        origin = start or anchor
        if origin is None:
            raise ValueError("a rate schedule fires from its start or its anchor: give one")
        fire = _next_rate(rate_period(text), origin, floor)
    elif text.startswith("at("):
        moment = at_wall_time(text).replace(tzinfo=zone)
        fire = moment if moment > floor else None
    else:
        raise ValidationFailed(f"'{expression}' is not a Scheduler expression")
    if fire is None or (end is not None and fire >= end):
        return None
    return fire.astimezone(UTC)


def _instant(moment: datetime) -> datetime:
    """``moment`` in UTC: aware datetimes that share a time zone compare and add on its wall clock."""
    if moment.tzinfo is None:
        raise ValueError("next_fire needs timezone-aware datetimes")
    return moment.astimezone(UTC)


def _next_rate(period: timedelta, origin: datetime, floor: datetime) -> datetime:
    if floor < origin:
        return origin
    return origin + ((floor - origin) // period + 1) * period


def _next_cron(cron: SchedulerCron, zone: ZoneInfo, floor: datetime) -> datetime | None:
    """Walks the wall clock from ``floor``'s local day; the first existing time later than ``floor`` wins
    (wall-clock times at their first occurrence only grow with the instant, so none later can be earlier)."""
    first_day = floor.astimezone(zone).date()
    for year in range(first_day.year, YEAR.high + 1):
        if year not in cron.years:
            continue
        for month in cron.months:
            if (year, month) < (first_day.year, first_day.month):
                continue
            first = first_day.day if (year, month) == (first_day.year, first_day.month) else 1
            for day_number in range(first, calendar.monthrange(year, month)[1] + 1):
                day = date(year, month, day_number)
                if not cron.matches(day):
                    continue
                fire = _first_time_on(cron, day, zone, floor)
                if fire is not None:
                    return fire
    return None


def _first_time_on(cron: SchedulerCron, day: date, zone: ZoneInfo, floor: datetime) -> datetime | None:
    for hour in cron.hours:
        for minute in cron.minutes:
            wall = datetime(day.year, day.month, day.day, hour, minute)
            moment = existing_moment(wall, zone)
            if moment is not None and moment > floor:
                return moment
    return None


def existing_moment(wall: datetime, zone: ZoneInfo) -> datetime | None:
    """``wall`` in ``zone`` at its first occurrence, or None if a daylight-saving jump skips it."""
    moment = wall.replace(tzinfo=zone)
    if moment.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return moment
