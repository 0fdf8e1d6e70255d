"""A schedule trigger's config: validation, time zones, and what CreateSchedule receives (no AWS)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from switchboard.domain.errors import ValidationFailed
from switchboard.schedules import (
    ScheduleConfig,
    SchedulerSchedule,
    next_fire,
    parse_schedule_config,
    scheduler_expression,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def _problems(raw: Any, **options: Any) -> list[dict[str, Any]]:
    with pytest.raises(ValidationFailed) as raised:
        parse_schedule_config(raw, now=NOW, **options)
    assert raised.value.status == 422
    details: list[dict[str, Any]] = raised.value.details
    return details


def test_a_cron_config_defaults_to_utc() -> None:
    config = parse_schedule_config({"cron": " 0 9 * * 1-5 "}, now=NOW)

    assert config.timezone == "UTC"
    assert config.cron == "0 9 * * 1-5"
    assert scheduler_expression(config, now=NOW) == ("cron(0 9 ? * MON-FRI *)", "UTC", None, None)


def test_the_scheduler_schedule_names_each_part() -> None:
    config = parse_schedule_config(
        {
            "rate": "5 minutes",
            "timezone": "Europe/Berlin",
            "starts_at": "2025-06-01T09:00:00",
            "ends_at": "2025-12-01T09:00:00Z",
        },
        now=NOW,
    )

    schedule = scheduler_expression(config, now=NOW)

    assert schedule == SchedulerSchedule(
        expression="rate(5 minutes)",
        timezone="Europe/Berlin",
        start_date=datetime(2025, 6, 1, 7, 0, tzinfo=UTC),
        end_date=datetime(2025, 12, 1, 9, 0, tzinfo=UTC),
    )
    assert schedule.start_date is not None
    assert schedule.start_date.tzinfo is UTC


def test_a_one_time_schedule_is_an_at_expression_on_the_zones_wall_clock() -> None:
    # Given a run_at with an offset and a schedule in New York
    config = parse_schedule_config(
        {"run_at": "2025-07-04T16:00:00Z", "timezone": "America/New_York"}, now=NOW
    )

    # When it becomes a Scheduler schedule
    expression, timezone, start_date, end_date = scheduler_expression(config, now=NOW)

    # Then the at() is New York's wall-clock time, with no window
    assert (expression, timezone, start_date, end_date) == (
        "at(2025-07-04T12:00:00)",
        "America/New_York",
        None,
        None,
    )


@pytest.mark.parametrize(
    ("field", "wall", "utc"),
    [
        ("run_at", "2025-07-04T12:00:00", datetime(2025, 7, 4, 16, 0, tzinfo=UTC)),
        ("starts_at", "2025-01-15T09:00:00", datetime(2025, 1, 15, 14, 0, tzinfo=UTC)),
        ("ends_at", "2025-08-01T00:00:00", datetime(2025, 8, 1, 4, 0, tzinfo=UTC)),
    ],
)
def test_naive_datetimes_are_read_in_the_schedules_time_zone(field: str, wall: str, utc: datetime) -> None:
    kind = {"run_at": wall} if field == "run_at" else {"cron": "0 9 * * *", field: wall}

    config = parse_schedule_config({**kind, "timezone": "America/New_York"}, now=NOW)

    assert getattr(config, field) == utc


def test_a_naive_time_the_fall_back_repeats_is_its_first_occurrence() -> None:
    config = parse_schedule_config({"run_at": "2025-11-02T01:30:00", "timezone": "America/New_York"}, now=NOW)

    assert config.run_at == datetime(2025, 11, 2, 5, 30, tzinfo=UTC)


def test_a_naive_time_the_spring_forward_skips_is_rejected() -> None:
    problems = _problems({"run_at": "2025-03-09T02:30:00", "timezone": "America/New_York"})

    assert problems == [
        {
            "loc": ["config", "run_at"],
            "code": "nonexistent_time",
            "message": "2025-03-09T02:30:00 does not exist in America/New_York: the clocks skip it",
        }
    ]


@pytest.mark.parametrize(
    "timezone", ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Etc/GMT+5"]
)
def test_iana_time_zones_are_accepted(timezone: str) -> None:
    assert parse_schedule_config({"cron": "0 9 * * *", "timezone": timezone}, now=NOW).timezone == timezone


@pytest.mark.parametrize(
    "timezone", ["utc", "Mars/Olympus_Mons", "localtime", "Factory", "/etc/localtime", "../UTC", "", "+02:00"]
)
def test_other_time_zone_names_are_rejected(timezone: str) -> None:
    assert _problems({"cron": "0 9 * * *", "timezone": timezone}) == [
        {
            "loc": ["config", "timezone"],
            "code": "unknown_timezone",
            "message": f"'{timezone}' is not an IANA time zone name such as 'Europe/Berlin' or 'UTC'",
        }
    ]


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"timezone": "UTC"},
        {"cron": "0 9 * * *", "rate": "5 minutes"},
        {"cron": "0 9 * * *", "run_at": "2025-06-01T00:00:00Z"},
        {"rate": "5 minutes", "run_at": "2025-06-01T00:00:00Z"},
    ],
)
def test_exactly_one_of_cron_rate_and_run_at(raw: dict[str, Any]) -> None:
    assert _problems(raw) == [
        {"loc": ["config"], "code": "schedule_kind", "message": "give exactly one of cron, rate and run_at"}
    ]


def test_an_invalid_cron_says_which_field_and_why() -> None:
    assert _problems({"cron": "0 9 * * 8"}) == [
        {
            "loc": ["config", "cron"],
            "code": "invalid_cron",
            "message": "day-of-week field '8': 8 is out of range 0-7",
        }
    ]


def test_an_invalid_rate_says_what_to_write() -> None:
    problems = _problems({"rate": "1 hours"})

    assert problems == [
        {
            "loc": ["config", "rate"],
            "code": "invalid_rate",
            "message": "write '1 hour': the unit is singular for 1 and plural otherwise",
        }
    ]


@pytest.mark.parametrize("field", ["starts_at", "ends_at"])
def test_a_one_time_schedule_takes_no_window(field: str) -> None:
    problems = _problems({"run_at": "2025-06-01T00:00:00Z", field: "2025-07-01T00:00:00Z"})

    assert problems == [
        {
            "loc": ["config", field],
            "code": "one_time_window",
            "message": f"a one-time schedule (run_at) takes no {field}",
        }
    ]


@pytest.mark.parametrize(
    ("starts_at", "ends_at"),
    [
        ("2025-07-01T00:00:00", "2025-06-01T00:00:00"),
        ("2025-06-01T00:00:00", "2025-06-01T00:00:00"),
        ("2025-06-01T02:00:00", "2025-06-01T01:00:00+01:00"),
    ],
)
def test_the_window_must_end_after_it_starts(starts_at: str, ends_at: str) -> None:
    raw = {"cron": "0 9 * * *", "timezone": "Europe/Berlin", "starts_at": starts_at, "ends_at": ends_at}

    assert _problems(raw) == [
        {
            "loc": ["config", "ends_at"],
            "code": "ends_before_start",
            "message": "ends_at must be after starts_at",
        }
    ]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"run_at": "2024-12-31T23:59:59Z"}, "run_at"),
        ({"run_at": "2025-01-01T00:00:00Z"}, "run_at"),
        ({"run_at": "2024-12-31T19:00:00", "timezone": "America/New_York"}, "run_at"),
        ({"cron": "0 9 * * *", "ends_at": "2024-06-01T00:00:00Z"}, "ends_at"),
    ],
)
def test_a_submitted_run_at_or_end_must_be_in_the_future(raw: dict[str, Any], field: str) -> None:
    assert _problems(raw) == [
        {"loc": ["config", field], "code": f"{field}_in_past", "message": f"{field} must be in the future"}
    ]


def test_a_stored_config_whose_time_has_passed_still_loads() -> None:
    config = ScheduleConfig.model_validate({"run_at": "2020-01-01T00:00:00Z"})

    assert scheduler_expression(config, now=NOW).expression == "at(2020-01-01T00:00:00)"


def test_unknown_keys_are_rejected_under_the_given_location() -> None:
    problems = _problems({"cron": "0 9 * * *", "every": "day"}, location=("body", "config"))

    assert problems == [
        {
            "loc": ["body", "config", "every"],
            "code": "extra_forbidden",
            "message": "Extra inputs are not permitted",
        }
    ]


def test_the_error_message_lists_every_problem() -> None:
    with pytest.raises(ValidationFailed) as raised:
        parse_schedule_config({"cron": "0 9 * * 8", "timezone": "Nowhere"}, now=NOW)

    assert raised.value.message == (
        "the schedule is invalid: config.timezone: 'Nowhere' is not an IANA time zone name such as "
        "'Europe/Berlin' or 'UTC'; config.cron: day-of-week field '8': 8 is out of range 0-7"
    )


def test_a_past_start_is_left_out_of_a_cron_schedule() -> None:
    # Given a cron schedule whose start has passed (Scheduler refuses a start more than 5 minutes past)
    config = ScheduleConfig.model_validate({"cron": "0 9 * * *", "starts_at": "2024-06-01T00:00:00Z"})

    # When it becomes a Scheduler schedule
    schedule = scheduler_expression(config, now=NOW)

    # Then it has no start date
    assert schedule.start_date is None


def test_a_past_start_of_a_rate_moves_to_its_next_firing_keeping_the_phase() -> None:
    # Given every day from 09:00 EST on 2025-03-01 in New York, sent to Scheduler on 2025-03-20 at noon UTC
    config = ScheduleConfig.model_validate(
        {"rate": "1 day", "timezone": "America/New_York", "starts_at": "2025-03-01T09:00:00"}
    )
    now = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)

    # When it becomes a Scheduler schedule
    schedule = scheduler_expression(config, now=now)

    # Then the start is the rate's next firing from the original start, counted in elapsed days
    assert schedule.start_date == datetime(2025, 3, 20, 14, 0, tzinfo=UTC)
    assert schedule.start_date == next_fire("rate(1 day)", "America/New_York", now, start=config.starts_at)


def test_a_future_start_is_kept() -> None:
    config = ScheduleConfig.model_validate({"cron": "0 9 * * *", "starts_at": "2025-02-01T00:00:00+01:00"})

    assert scheduler_expression(config, now=NOW).start_date == datetime(2025, 1, 31, 23, 0, tzinfo=UTC)


def test_every_expression_given_to_scheduler_is_one_the_matcher_reads() -> None:
    for raw in ({"cron": "@weekly"}, {"rate": "2 hours"}, {"run_at": "2025-06-01T00:00:00Z"}):
        expression, timezone, _, _ = scheduler_expression(parse_schedule_config(raw, now=NOW), now=NOW)

        assert next_fire(expression, timezone, NOW, anchor=NOW) is not None
