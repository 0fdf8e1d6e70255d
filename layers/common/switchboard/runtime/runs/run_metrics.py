"""An App's metrics over a time range: buckets summed from the per-minute aggregates the end of each run
writes (``store.run_metrics``); no run is read.

The range starts at ``start_time`` truncated to the minute and ends at ``end_time`` (exclusive); a bucket is
``interval`` long (the last one may be cut short by ``end_time``). ``interval`` is one of ``INTERVALS`` or an
ISO 8601 duration of whole minutes (``PT5M``, ``PT2H``, ``P1D``) from one minute to one day; at most
``MAX_BUCKETS`` buckets and ``MAX_RANGE`` are asked at once (422 ``too_many_buckets``, ``range_too_long``).
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import Any

from switchboard.api.views.metrics import (
    AppMetricsOut,
    DurationsOut,
    MetricsBucketOut,
    RunCountsOut,
    TokensOut,
)
from switchboard.domain.errors import ValidationFailed
from switchboard.domain.runs import TERMINAL, RunSource
from switchboard.settings import get_settings
from switchboard.store import run_metrics
from switchboard.store.table import Item

INTERVALS = {"1m": 60, "5m": 300, "15m": 900, "1h": 3600, "6h": 21_600, "1d": 86_400}
MAX_BUCKETS = 1440
MAX_RANGE = timedelta(days=7)
"""Minute items read at most by one request: 10,080 (they exist only for minutes with activity)."""
PERCENTILES = (50, 95, 99)
_ISO_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?")


def interval_seconds(interval: str) -> int:
    """The length of ``interval`` in seconds; 422 ``invalid_interval`` unless it is a whole number of
    minutes from one minute to one day."""
    if interval in INTERVALS:
        return INTERVALS[interval]
    matched = _ISO_DURATION.fullmatch(interval)
    if matched and interval not in ("P", "PT") and not interval.endswith("T"):
        days, hours, minutes = (int(part or 0) for part in matched.groups())
        seconds = ((days * 24 + hours) * 60 + minutes) * 60
        if 60 <= seconds <= 86_400:
            return seconds
    raise ValidationFailed(
        f"interval must be one of {', '.join(INTERVALS)} or an ISO 8601 duration of whole minutes from "
        "PT1M to P1D",
        code="invalid_interval",
        details={"interval": interval},
    )


def app_metrics(app_id: str, start_time: datetime, end_time: datetime, interval: str) -> AppMetricsOut:
    step = interval_seconds(interval)
    start = start_time.replace(second=0, microsecond=0)
    if end_time <= start:
        raise ValidationFailed("end_time must be after start_time", code="invalid_time_range")
    count = math.ceil((end_time - start).total_seconds() / step)
    if count > MAX_BUCKETS:
        raise ValidationFailed(
            f"the range holds {count} buckets of this interval; at most {MAX_BUCKETS}",
            code="too_many_buckets",
            details={"buckets": count, "max_buckets": MAX_BUCKETS},
        )
    if end_time - start > MAX_RANGE:
        raise ValidationFailed(f"the range may span at most {MAX_RANGE.days} days", code="range_too_long")
    last_minute = (end_time - timedelta(microseconds=1)).replace(second=0, microsecond=0)
    found = run_metrics.minutes(get_settings().runs_table, app_id, start, last_minute)
    sums: list[dict[str, int]] = [{} for _ in range(count)]
    for minute, item in found.items():
        _add(sums[int((minute - start).total_seconds()) // step], item)
    buckets = []
    for index, summed in enumerate(sums):
        bucket_start = start + timedelta(seconds=index * step)
        bucket_end = min(bucket_start + timedelta(seconds=step), end_time)
        buckets.append(_bucket(bucket_start, bucket_end, summed))
    return AppMetricsOut(
        app_id=app_id, start_time=start, end_time=end_time, interval_seconds=step, buckets=buckets
    )


def percentile(histogram: list[int], rank_percent: int) -> float | None:
    """The nearest-rank percentile of the histogram's durations, as the upper bound of the bucket holding
    that rank (None for an empty histogram)."""
    total = sum(histogram)
    if total == 0:
        return None
    rank = math.ceil(rank_percent / 100 * total)
    seen = 0
    for bucket, count in enumerate(histogram):
        seen += count
        if seen >= rank:
            return _upper_bound(bucket)
    raise AssertionError("a rank within the total is in some bucket")


def _upper_bound(bucket: int) -> float:
    bounds = run_metrics.DURATION_BOUNDS_MS
    return round(bounds[bucket] if bucket < len(bounds) else bounds[-1] * run_metrics.DURATION_RATIO, 3)


def _add(summed: dict[str, int], item: Item) -> None:
    for name, value in item.items():
        if isinstance(value, int) and name != "expires_at":
            summed[name] = summed.get(name, 0) + value


def _bucket(start: datetime, end: datetime, summed: dict[str, Any]) -> MetricsBucketOut:
    total = summed.get("runs", 0)
    failed = summed.get("status_failed", 0)
    histogram = [
        summed.get(run_metrics.histogram_attribute(index), 0) for index in range(run_metrics.HISTOGRAM_SIZE)
    ]
    return MetricsBucketOut(
        start_time=start,
        end_time=end,
        runs=RunCountsOut(
            total=total,
            by_status={status.value: summed.get(f"status_{status.value}", 0) for status in sorted(TERMINAL)},
            by_source={source.value: summed.get(f"source_{source.value}", 0) for source in RunSource},
        ),
        duration_ms=DurationsOut(**{f"p{rank}": percentile(histogram, rank) for rank in PERCENTILES}),
        error_rate=failed / total if total else 0.0,
        tokens=TokensOut(
            prompt=summed.get("prompt_tokens", 0), completion=summed.get("completion_tokens", 0)
        ),
        awaiting_input=summed.get("awaiting_input", 0),
    )
