"""Next firing times of Scheduler expressions for the local stack: cron, rate, at, windows, DST (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from switchboard.domain.errors import ValidationFailed
from switchboard.schedules import next_fire, scheduler_cron

NEW_YORK = ZoneInfo("America/New_York")
BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def new_york(year: int, month: int, day: int, hour: int, minute: int, *, fold: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=NEW_YORK, fold=fold)


@pytest.mark.parametrize(
    ("expression", "after", "expected"),
    [
        ("cron(0/15 * * * ? *)", utc(2025, 1, 1, 10, 7), utc(2025, 1, 1, 10, 15)),
        ("cron(0/15 * * * ? *)", utc(2025, 1, 1, 10, 15), utc(2025, 1, 1, 10, 30)),
        ("cron(* * * * ? *)", utc(2025, 1, 1, 10, 0, 30), utc(2025, 1, 1, 10, 1)),
        ("cron(0/15 * * * ? *)", utc(2025, 1, 1, 23, 50), utc(2025, 1, 2, 0, 0)),
        ("cron(0 9 ? * MON-FRI *)", utc(2025, 1, 3, 9, 0), utc(2025, 1, 6, 9, 0)),
        ("cron(0 9 ? * MON-FRI *)", utc(2025, 1, 3, 8, 59), utc(2025, 1, 3, 9, 0)),
        ("cron(0 12 ? * SUN,FRI,SAT *)", utc(2025, 1, 6), utc(2025, 1, 10, 12, 0)),
        ("cron(0 12 ? * 1,6-7 *)", utc(2025, 1, 6), utc(2025, 1, 10, 12, 0)),
        ("cron(0 12 ? * SUN *)", utc(2025, 1, 6), utc(2025, 1, 12, 12, 0)),
        ("cron(30 8 1 * ? *)", utc(2025, 1, 31), utc(2025, 2, 1, 8, 30)),
        ("cron(0 0 31 * ? *)", utc(2025, 4, 1), utc(2025, 5, 31)),
        ("cron(0 0 29 2 ? *)", utc(2025, 3, 1), utc(2028, 2, 29)),
        ("cron(0 0 1 1/3 ? *)", utc(2025, 2, 1), utc(2025, 4, 1)),
        ("cron(0 0 1 1 ? *)", utc(2025, 12, 31, 23, 59, 59), utc(2026, 1, 1)),
        ("cron(0 0 1 1 ? 2025)", utc(2025, 6, 1), None),
        ("cron(0 0 1 1 ? 2025-2027)", utc(2025, 6, 1), utc(2026, 1, 1)),
        ("cron(0 0 * * ? *)", utc(2199, 12, 31, 1), None),
    ],
)
def test_cron_in_utc(expression: str, after: datetime, expected: datetime | None) -> None:
    assert next_fire(expression, "UTC", after) == expected


def test_the_answer_is_in_utc() -> None:
    fire = next_fire("cron(0 9 * * ? *)", "Europe/Berlin", utc(2025, 1, 1))

    assert fire == utc(2025, 1, 1, 8, 0)
    assert fire is not None
    assert fire.tzinfo is UTC


def test_cron_follows_the_wall_clock_of_its_time_zone_across_dst() -> None:
    # Given 09:00 on weekdays in Berlin, around the spring-forward of 2025-03-30
    expression = "cron(0 9 ? * MON-FRI *)"

    # When the next firing after Friday's (09:00 CET = 08:00 UTC) is asked for
    fire = next_fire(expression, "Europe/Berlin", utc(2025, 3, 28, 8, 0))

    # Then it is Monday 09:00 CEST, an hour earlier in UTC
    assert fire == utc(2025, 3, 31, 7, 0)
    assert fire is not None
    assert fire.astimezone(BERLIN).hour == 9


def test_a_wall_clock_time_skipped_by_spring_forward_does_not_fire() -> None:
    # Given 02:30 every day in New York; on 2025-03-09 the clocks jump from 02:00 to 03:00
    expression = "cron(30 2 * * ? *)"

    # When the next firing after noon on the 8th is asked for
    fire = next_fire(expression, "America/New_York", new_york(2025, 3, 8, 12, 0))

    # Then the 9th is skipped: the next is 02:30 EDT on the 10th
    assert fire == new_york(2025, 3, 10, 2, 30)
    assert fire == utc(2025, 3, 10, 6, 30)


def test_hourly_cron_skips_the_missing_hour_without_losing_the_others() -> None:
    fires = [utc(2025, 3, 29, 23, 30)]
    for _ in range(3):
        fire = next_fire("cron(0 * * * ? *)", "Europe/Berlin", fires[-1])
        assert fire is not None
        fires.append(fire)

    # 01:00 CET, then 03:00 CEST (02:00 does not exist), then 04:00 CEST: consecutive hours in UTC
    assert fires[1:] == [utc(2025, 3, 30, 0, 0), utc(2025, 3, 30, 1, 0), utc(2025, 3, 30, 2, 0)]


def test_a_wall_clock_time_repeated_by_fall_back_fires_once() -> None:
    # Given 01:30 every day in New York; on 2025-11-02 01:00-02:00 happens twice (EDT, then EST)
    expression = "cron(30 1 * * ? *)"

    # When firings are chained from the evening before
    first = next_fire(expression, "America/New_York", new_york(2025, 11, 1, 20, 0))
    assert first is not None
    second = next_fire(expression, "America/New_York", first)

    # Then it fires at the first 01:30 (EDT) only, and next on the 3rd
    assert first == utc(2025, 11, 2, 5, 30)
    assert second == new_york(2025, 11, 3, 1, 30)
    assert second == utc(2025, 11, 3, 6, 30)


def test_frequent_cron_does_not_repeat_the_fall_back_hour() -> None:
    # Given every 30 minutes in New York, last fired at 01:30 EDT on the fall-back night
    after = new_york(2025, 11, 2, 1, 30)

    # When the next firing is asked for
    fire = next_fire("cron(0/30 * * * ? *)", "America/New_York", after)

    # Then the repeated 01:00 and 01:30 EST are not fired again: next is 02:00 EST, 90 minutes later
    assert fire == utc(2025, 11, 2, 7, 0)


def test_asked_from_inside_the_repeated_hour_it_waits_for_the_hour_after() -> None:
    after = new_york(2025, 11, 2, 1, 10, fold=1)  # 01:10 EST, the second pass

    assert next_fire("cron(0/30 * * * ? *)", "America/New_York", after) == new_york(2025, 11, 2, 2, 0)


@pytest.mark.parametrize(
    ("expression", "anchor", "after", "expected"),
    [
        ("rate(5 minutes)", utc(2025, 1, 1, 10, 0), utc(2025, 1, 1, 10, 7), utc(2025, 1, 1, 10, 10)),
        ("rate(5 minutes)", utc(2025, 1, 1, 10, 0), utc(2025, 1, 1, 10, 10), utc(2025, 1, 1, 10, 15)),
        ("rate(5 minutes)", utc(2025, 1, 1, 10, 0), utc(2025, 1, 1, 9, 0), utc(2025, 1, 1, 10, 0)),
        ("rate(1 minute)", utc(2025, 1, 1, 10, 0, 20), utc(2025, 1, 1, 10, 5), utc(2025, 1, 1, 10, 5, 20)),
        ("rate(1 hour)", utc(2025, 1, 1, 10, 30), utc(2025, 1, 1, 10, 30), utc(2025, 1, 1, 11, 30)),
        ("rate(2 hours)", utc(2025, 1, 1, 10, 30), utc(2025, 1, 2, 0, 0), utc(2025, 1, 2, 0, 30)),
        ("rate(3 days)", utc(2025, 1, 1), utc(2025, 1, 5), utc(2025, 1, 7)),
    ],
)
def test_rate_counts_from_its_anchor(
    expression: str, anchor: datetime, after: datetime, expected: datetime
) -> None:
    assert next_fire(expression, "UTC", after, anchor=anchor) == expected


def test_rate_counts_from_the_start_date_rather_than_the_anchor() -> None:
    # Given a rate created at 10:00 that starts at 12:05
    start, anchor = utc(2025, 1, 1, 12, 5), utc(2025, 1, 1, 10, 0)

    # When the firings after 10:00 and after 12:05 are asked for
    first = next_fire("rate(1 hour)", "UTC", anchor, start=start, anchor=anchor)
    second = next_fire("rate(1 hour)", "UTC", start, start=start, anchor=anchor)

    # Then the start is the first firing and the phase
    assert (first, second) == (start, utc(2025, 1, 1, 13, 5))


def test_rate_in_days_is_elapsed_time_across_dst() -> None:
    # Given every day from 09:00 EST on 2025-03-08, the day before the spring-forward
    start = new_york(2025, 3, 8, 9, 0)

    # When the firing after the first is asked for
    fire = next_fire("rate(1 day)", "America/New_York", start, start=start)

    # Then 24 hours later (not on the wall clock, where a day is 23 hours here) it is 10:00 EDT
    assert fire == start.astimezone(UTC) + timedelta(hours=24)
    assert fire == utc(2025, 3, 9, 14, 0)
    assert fire is not None
    assert fire.astimezone(NEW_YORK).hour == 10


def test_rate_without_start_or_anchor_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="start or its anchor"):
        next_fire("rate(5 minutes)", "UTC", utc(2025, 1, 1))


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (utc(2025, 3, 1), utc(2025, 3, 9, 7, 30)),
        (utc(2025, 3, 9, 7, 29, 59), utc(2025, 3, 9, 7, 30)),
        (utc(2025, 3, 9, 7, 30), None),
        (utc(2025, 4, 1), None),
    ],
)
def test_at_fires_once_at_its_wall_clock_time(after: datetime, expected: datetime | None) -> None:
    # 03:30 EDT on 2025-03-09 is 07:30 UTC
    assert next_fire("at(2025-03-09T03:30:00)", "America/New_York", after) == expected


def test_at_in_the_spring_forward_gap_fires_as_late_as_the_jump() -> None:
    fire = next_fire("at(2025-03-09T02:30:00)", "America/New_York", utc(2025, 3, 1))

    assert fire == new_york(2025, 3, 9, 3, 30)


def test_at_in_the_repeated_hour_fires_at_its_first_occurrence() -> None:
    fire = next_fire("at(2025-11-02T01:30:00)", "America/New_York", utc(2025, 11, 1))

    assert fire == utc(2025, 11, 2, 5, 30)


def test_the_start_is_inclusive_and_the_end_exclusive() -> None:
    hourly, start, end = "cron(0 * * * ? *)", utc(2025, 1, 1, 12), utc(2025, 1, 1, 14)

    assert next_fire(hourly, "UTC", utc(2025, 1, 1), start=start, end=end) == start
    assert next_fire(hourly, "UTC", start, start=start, end=end) == utc(2025, 1, 1, 13)
    assert next_fire(hourly, "UTC", utc(2025, 1, 1, 13), start=start, end=end) is None


def test_a_one_time_schedule_outside_its_window_never_fires() -> None:
    expression = "at(2025-01-01T10:00:00)"

    assert next_fire(expression, "UTC", utc(2024, 1, 1), start=utc(2025, 1, 1, 11)) is None
    assert next_fire(expression, "UTC", utc(2024, 1, 1), end=utc(2025, 1, 1, 10)) is None


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_fire("cron(0 * * * ? *)", "UTC", datetime(2025, 1, 1))


@pytest.mark.parametrize(
    ("expression", "fragment"),
    [
        ("cron(0 0 * * * *)", "exactly one of day-of-month and day-of-week must be ?"),
        ("cron(0 0 ? * ? *)", "exactly one of day-of-month and day-of-week must be ?"),
        ("cron(0 0 * * ?)", "has 6 fields, not 5"),
        ("cron(0 0 * * ? 2300)", "year field '2300': 2300 is out of range 1970-2199"),
        ("cron(0 0 ? * 0 *)", "day-of-week field '0': 0 is out of range 1-7"),
        ("rate(5 minute)", "write '5 minutes'"),
        ("rate(5)", "is not a Scheduler rate expression"),
        ("at(2025-02-30T10:00:00)", "is not a valid date and time"),
        ("at(2025-02-03 10:00:00)", "is not a Scheduler at expression"),
        ("0 9 * * *", "is not a Scheduler expression"),
    ],
)
def test_malformed_expressions_are_rejected(expression: str, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        next_fire(expression, "UTC", utc(2025, 1, 1), anchor=utc(2025, 1, 1))

    assert fragment in raised.value.message


# A reference for standard cron, written out independently of the code under test (numbers only): a day
# matches both day fields when either starts with *, and either of them otherwise.


def _values(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for item in text.split(","):
        base, _, step = item.partition("/")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first, last = (int(part) for part in base.split("-"))
        else:
            first = int(base)
            last = high if step else first
        values.update(range(first, last + 1, int(step or 1)))
    return values


def _reference_fires(cron: str, after: datetime, count: int) -> list[datetime]:
    minute, hour, day, month, weekday = cron.split()
    minutes, hours, days = _values(minute, 0, 59), _values(hour, 0, 23), _values(day, 1, 31)
    months, weekdays = _values(month, 1, 12), {value % 7 for value in _values(weekday, 0, 7)}
    both = day.startswith("*") or weekday.startswith("*")
    moment, fires = after.replace(second=0, microsecond=0), list[datetime]()
    while len(fires) < count:
        moment += timedelta(minutes=1)
        on_day, on_weekday = moment.day in days, moment.isoweekday() % 7 in weekdays
        day_matches = (on_day and on_weekday) if both else (on_day or on_weekday)
        if moment.minute in minutes and moment.hour in hours and moment.month in months and day_matches:
            fires.append(moment)
    return fires


@pytest.mark.parametrize(
    "cron",
    [
        "*/7 */5 * * *",
        "0 9 * * 1-5",
        "30 12 * * 5-7",
        "15 6 * * 0,7",
        "0 0 */3 * *",
        "15 6 * * */2",
        "0 22 1-31 * 1",
        "45 23 * 2 0",
        "0 12 1,15 * *",
        "5-10/5 1-3 * * 6",
        "0 0 * 1-3/2 1-7/3",
    ],
)
def test_converted_crons_fire_when_standard_cron_would(cron: str) -> None:
    # Given a standard cron and its Scheduler form
    expression = scheduler_cron(cron)
    after = utc(2025, 1, 30, 22, 13)

    # When the next firings are chained through the matcher
    fires: list[datetime] = []
    moment = after
    for _ in range(4):
        fire = next_fire(expression, "UTC", moment)
        assert fire is not None
        fires.append(fire)
        moment = fire

    # Then they are the ones the reference finds minute by minute
    assert fires == _reference_fires(cron, after, 4)
