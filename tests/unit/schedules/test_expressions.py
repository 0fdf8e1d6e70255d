"""Scheduler's rate(...) and at(...) expressions: written from a trigger's config, checked, read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from switchboard.domain.errors import ValidationFailed
from switchboard.schedules import at_expression, rate_expression
from switchboard.schedules.expressions import at_wall_time, rate_period


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        ("5 minutes", "rate(5 minutes)"),
        ("1 minute", "rate(1 minute)"),
        ("1 hour", "rate(1 hour)"),
        ("12 hours", "rate(12 hours)"),
        ("1 day", "rate(1 day)"),
        ("2 days", "rate(2 days)"),
        ("  10   Minutes ", "rate(10 minutes)"),
        ("05 minutes", "rate(5 minutes)"),
        ("rate(15 minutes)", "rate(15 minutes)"),
    ],
)
def test_rates_scheduler_accepts(rate: str, expected: str) -> None:
    assert rate_expression(rate) == expected


@pytest.mark.parametrize(
    ("rate", "fragment"),
    [
        ("1 minutes", "write '1 minute': the unit is singular for 1 and plural otherwise"),
        ("1 hours", "write '1 hour'"),
        ("1 days", "write '1 day'"),
        ("5 minute", "write '5 minutes'"),
        ("2 hour", "write '2 hours'"),
        ("0 minutes", "a rate's value must be from 1 to 1000000"),
        ("0 minute", "from 1 to 1000000"),
        ("1000001 days", "from 1 to 1000000"),
        ("99999999999999 days", "from 1 to 1000000"),
        ("5 seconds", "'seconds' is not a rate unit; use minutes, hours or days"),
        ("2 weeks", "'weeks' is not a rate unit"),
        ("5", "write a rate as '<value> <unit>'"),
        ("minutes", "write a rate as '<value> <unit>'"),
        ("five minutes", "write a rate as"),
        ("-1 minutes", "write a rate as"),
        ("1.5 hours", "write a rate as"),
        ("5minutes", "write a rate as"),
        ("", "write a rate as"),
        ("every 5 minutes", "write a rate as"),
    ],
)
def test_rates_scheduler_refuses_are_rejected(rate: str, fragment: str) -> None:
    with pytest.raises(ValidationFailed) as raised:
        rate_expression(rate)

    assert fragment in raised.value.message
    assert raised.value.details == [
        {"loc": ["rate"], "code": "invalid_rate", "message": raised.value.message}
    ]


@pytest.mark.parametrize(
    ("expression", "period"),
    [
        ("rate(1 minute)", timedelta(minutes=1)),
        ("rate(90 minutes)", timedelta(minutes=90)),
        ("rate(2 hours)", timedelta(hours=2)),
        ("rate(7 days)", timedelta(days=7)),
    ],
)
def test_a_rate_reads_back_as_its_period(expression: str, period: timedelta) -> None:
    assert rate_period(expression) == period


def test_at_writes_an_aware_moment_as_the_wall_clock_of_the_zone() -> None:
    moment = datetime(2025, 7, 1, 16, 30, 15, 123456, tzinfo=UTC)

    assert at_expression(moment, ZoneInfo("America/New_York")) == "at(2025-07-01T12:30:15)"
    assert at_expression(moment, ZoneInfo("Europe/Berlin")) == "at(2025-07-01T18:30:15)"
    assert at_expression(moment, ZoneInfo("UTC")) == "at(2025-07-01T16:30:15)"


def test_at_takes_a_naive_moment_as_the_wall_clock_already() -> None:
    assert at_expression(datetime(2025, 1, 2, 3, 4, 5), ZoneInfo("Asia/Tokyo")) == "at(2025-01-02T03:04:05)"


def test_at_reads_back_as_its_wall_clock_time() -> None:
    assert at_wall_time("at(2025-01-02T03:04:05)") == datetime(2025, 1, 2, 3, 4, 5)
