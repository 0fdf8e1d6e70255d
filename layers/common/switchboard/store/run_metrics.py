"""Per-App, per-minute aggregates of runs, in the runs table (``METRICS#<app>`` / ``MINUTE#<minute>``).

Each item holds atomic counters (DynamoDB ``ADD``), written in the same transaction that records a run's end
(``store.runs.finish``), so a run is counted exactly once however often its end is retried: a retry finds the
run ended and writes nothing. Counted in the minute the run ended:

- ``runs``; ``status_<completed|failed|canceled>``; ``source_<direct|runs_api|schedule|webhook>``;
- ``prompt_tokens``, ``completion_tokens`` (the run's ``usage``);
- ``timed`` (runs that started, so have a duration: ``ended_at - started_at``) and a fixed histogram of those
  durations, ``d<i>``: the count of durations in ``(DURATION_BOUNDS_MS[i-1], DURATION_BOUNDS_MS[i]]``, the
  last one above every bound.

And ``awaiting_input``, in the minute a run began waiting for a human (``started`` → ``awaiting_input``,
counted in the transaction that makes that transition). The items expire with the runs (``expires_at``).
"""

from __future__ import annotations

import bisect
from datetime import datetime
from typing import Any

from switchboard import aws
from switchboard.domain.runs import Run
from switchboard.store import keys
from switchboard.store.table import Item, from_dynamo, translate_errors, update_op

DURATION_RATIO = 1.25
DURATION_BOUNDS_MS = tuple(10 * DURATION_RATIO**index for index in range(73))
"""Upper bounds (ms) of the duration histogram's buckets: 10 ms, then each 25% above the one before, up to
about 26 hours (beyond every run's deadline); one more bucket holds anything longer."""
HISTOGRAM_SIZE = len(DURATION_BOUNDS_MS) + 1


def duration_bucket(milliseconds: float) -> int:
    """The histogram bucket of a duration: the first whose upper bound is at least it."""
    return bisect.bisect_left(DURATION_BOUNDS_MS, milliseconds)


def histogram_attribute(bucket: int) -> str:
    return f"d{bucket:02d}"


def count_ended_op(table: str, run: Run) -> dict[str, Any]:
    """The update that counts an ended run in the minute it ended (one op of the ending transaction)."""
    assert run.ended_at is not None, "only an ended run is counted"
    counters: dict[str, int] = {"runs": 1, f"status_{run.status.value}": 1, f"source_{run.source.value}": 1}
    if run.started_at is not None:
        milliseconds = (run.ended_at - run.started_at).total_seconds() * 1000
        counters["timed"] = 1
        counters[histogram_attribute(duration_bucket(milliseconds))] = 1
    for name in ("prompt_tokens", "completion_tokens"):
        if run.usage.get(name):
            counters[name] = int(run.usage[name])
    return _add_op(table, run.app_id, run.ended_at, counters, run.expires_at)


def count_awaiting_op(table: str, run: Run, at: datetime) -> dict[str, Any]:
    """The update that counts a run beginning to wait for input at ``at``."""
    return _add_op(table, run.app_id, at, {"awaiting_input": 1}, run.expires_at)


def _add_op(
    table: str, app_id: str, at: datetime, counters: dict[str, int], expires_at: int
) -> dict[str, Any]:
    added = ", ".join(f"#{name} :{name}" for name in counters)
    values: Item = {f":{name}": count for name, count in counters.items()}
    values[":expires_at"] = expires_at
    return update_op(
        table,
        keys.app_metrics_minute(app_id, at),
        f"SET expires_at = :expires_at ADD {added}",
        values=values,
    )


def minutes(table: str, app_id: str, first: datetime, last: datetime) -> dict[datetime, Item]:
    """The App's aggregates of the minutes ``first`` to ``last`` (inclusive) that have any, by minute."""
    partition, low, high = keys.app_metrics_minutes(app_id, first, last)
    params: dict[str, Any] = {
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
        "ExpressionAttributeValues": {":pk": partition, ":low": low, ":high": high},
    }
    found: dict[datetime, Item] = {}
    while True:
        with translate_errors():
            response = aws.table(table).query(**params)
        for item in response.get("Items", []):
            found[keys.app_metrics_minute_of(str(item["sk"]))] = from_dynamo(item)
        if "LastEvaluatedKey" not in response:
            return found
        params["ExclusiveStartKey"] = response["LastEvaluatedKey"]
