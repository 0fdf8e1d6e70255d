"""The metrics' arithmetic, without AWS: which intervals are accepted, and the documented percentile error of
the fixed duration histogram (never below the exact nearest-rank value, at most 25% above it)."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from switchboard.domain.errors import ValidationFailed
from switchboard.runtime.runs.run_metrics import interval_seconds, percentile
from switchboard.store.run_metrics import DURATION_BOUNDS_MS, HISTOGRAM_SIZE, duration_bucket

DAY_MS = 86_400_000


@pytest.mark.parametrize(
    ("interval", "seconds"),
    [
        ("1m", 60),
        ("15m", 900),
        ("1d", 86_400),
        ("PT1M", 60),
        ("PT1H30M", 5400),
        ("PT24H", 86_400),
        ("P1D", 86_400),
    ],
)
def test_named_and_iso_8601_intervals_from_a_minute_to_a_day_are_accepted(
    interval: str, seconds: int
) -> None:
    # Given an interval within the limits / When it is read / Then its length in seconds
    assert interval_seconds(interval) == seconds


@pytest.mark.parametrize(
    "interval", ["", "P", "PT", "P1DT", "PT0M", "PT30S", "PT1M30S", "P1DT1M", "2m", "1w", "60"]
)
def test_other_intervals_are_refused(interval: str) -> None:
    # Given an interval outside the limits or not of whole minutes / When it is read / Then 422
    with pytest.raises(ValidationFailed) as refused:
        interval_seconds(interval)
    assert (refused.value.status, refused.value.error_code) == (422, "invalid_interval")


def test_the_histogram_bounds_grow_by_a_quarter_from_10_ms_past_a_day() -> None:
    # Given the fixed bounds / Then they start at 10 ms, each 25% above the last, and reach beyond a day
    assert DURATION_BOUNDS_MS[0] == 10
    assert all(math.isclose(b / a, 1.25) for a, b in itertools.pairwise(DURATION_BOUNDS_MS))
    assert DURATION_BOUNDS_MS[-2] < DAY_MS < DURATION_BOUNDS_MS[-1]
    assert len(DURATION_BOUNDS_MS) + 1 == HISTOGRAM_SIZE


def test_percentiles_are_never_below_the_exact_value_and_at_most_a_quarter_above() -> None:
    # Given many samples of durations spread from 10 ms to a day
    generator = random.Random(16)  # noqa: S311 (reproducible samples, nothing secret)
    for _ in range(200):
        durations = [10 * 1.25 ** generator.uniform(0, 71) for _ in range(generator.randint(1, 60))]
        histogram = [0] * HISTOGRAM_SIZE
        for duration in durations:
            histogram[duration_bucket(duration)] += 1
        for rank in (50, 95, 99):
            # When a percentile is read from the histogram
            estimate = percentile(histogram, rank)
            # Then it is within the documented error of the exact nearest-rank value
            exact = sorted(durations)[math.ceil(rank / 100 * len(durations)) - 1]
            assert estimate is not None
            assert exact <= estimate * (1 + 1e-9)
            assert estimate <= exact * 1.25 * (1 + 1e-9)


def test_short_durations_report_the_first_bound_and_an_empty_histogram_none() -> None:
    # Given durations under 10 ms / When their median is read / Then 10 ms; and none for no duration
    histogram = [0] * HISTOGRAM_SIZE
    histogram[duration_bucket(0)] += 2
    assert percentile(histogram, 50) == 10
    assert percentile([0] * HISTOGRAM_SIZE, 99) is None
