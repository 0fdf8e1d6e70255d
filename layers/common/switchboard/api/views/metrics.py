"""What the management API shows of an App's metrics: one entry per time bucket."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from switchboard.domain.base import Model


class RunCountsOut(Model):
    total: int = Field(description="Runs that ended in the bucket")
    by_status: dict[str, int] = Field(description="completed, failed, canceled")
    by_source: dict[str, int] = Field(description="direct, runs_api, schedule, webhook")


class DurationsOut(Model):
    p50: float | None = Field(description="Milliseconds; null when no run that started ended in the bucket")
    p95: float | None
    p99: float | None


class TokensOut(Model):
    prompt: int
    completion: int


class MetricsBucketOut(Model):
    start_time: datetime
    end_time: datetime = Field(description="Exclusive")
    runs: RunCountsOut
    duration_ms: DurationsOut = Field(
        description="Percentiles of the durations (started to ended) of the runs that started: the upper "
        "bound of the histogram bucket holding the rank, never below the exact value and at most 25% above "
        "it (10 ms for anything shorter)"
    )
    error_rate: float = Field(description="Failed runs / runs that ended (0 with none)")
    tokens: TokensOut
    awaiting_input: int = Field(description="Runs that began waiting for a human's input in the bucket")


class AppMetricsOut(Model):
    app_id: str
    start_time: datetime = Field(description="start_time as asked, truncated to the minute")
    end_time: datetime
    interval_seconds: int
    buckets: list[MetricsBucketOut]
