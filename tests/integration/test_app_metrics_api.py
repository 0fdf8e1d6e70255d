"""``GET /v1/apps/{app_id}/metrics`` on moto: buckets summed from the per-minute aggregates that the end of
each run writes in its ending transaction. Runs end at chosen moments (the end-of-run clock is set), so the
counts are exact, and the percentiles are checked against the exact values within the histogram's bound."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchboard.domain.runs import Run, RunSource, RunStatus
from switchboard.domain.triggers import TriggerType
from switchboard.runtime.runs import ending
from switchboard.store import runs
from tests.integration.apps_runtime import Runtime, app_runtime
from tests.integration.conftest import Reply, World, error_of
from tests.support.run_states import EXECUTION, created_run

MINUTE = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
NEXT_MINUTE = MINUTE + timedelta(minutes=1)
ERROR_BOUND = 1.25
"""The documented bound: a percentile is at least the exact value and at most 25% above it."""


@pytest.fixture
def rt(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with app_runtime(world, monkeypatch) as runtime:
        yield runtime


def _metrics(rt: Runtime, start: datetime, end: datetime, interval: str | None = "1m", **call: Any) -> Reply:
    query = {"start_time": start.isoformat(), "end_time": end.isoformat()}
    if interval is not None:
        query["interval"] = interval
    options = {"token": rt.world.admin.token, **call}
    return rt.world.call("GET", f"/v1/apps/{rt.app_id}/metrics", query=query, **options)


def _end(
    monkeypatch: pytest.MonkeyPatch,
    rt: Runtime,
    at: datetime,
    status: RunStatus,
    source: RunSource,
    duration_ms: int | None = None,
    **usage: int,
) -> Run:
    """A run of ``source`` ended ``status`` at ``at``, started ``duration_ms`` before (None: not started)."""
    run = created_run(rt.app_id, source=source)
    if duration_ms is not None:
        claimed, started = runs.claim(run.id, at - timedelta(milliseconds=duration_ms), EXECUTION)
        assert claimed
        assert started is not None
        run = started
    monkeypatch.setattr(ending, "utcnow", lambda: at)
    result: dict[str, Any] = {"usage": usage} if usage else {}
    if status is RunStatus.failed:
        result["error"] = {"type": "node_failed", "message": "it failed"}
    ended = ending.end_run(run, status, result=result)
    assert ended.status is status
    return ended


def _exact_percentile(durations: list[int], rank_percent: int) -> int:
    return sorted(durations)[math.ceil(rank_percent / 100 * len(durations)) - 1]


def _seven_runs(monkeypatch: pytest.MonkeyPatch, rt: Runtime) -> None:
    completed, failed, canceled = RunStatus.completed, RunStatus.failed, RunStatus.canceled
    _end(monkeypatch, rt, MINUTE, completed, RunSource.direct, 100, prompt_tokens=10, completion_tokens=1)
    _end(monkeypatch, rt, MINUTE, completed, RunSource.direct, 200, prompt_tokens=20, completion_tokens=2)
    _end(monkeypatch, rt, MINUTE, completed, RunSource.direct, 1500, prompt_tokens=30, completion_tokens=3)
    _end(monkeypatch, rt, MINUTE + timedelta(seconds=59), failed, RunSource.runs_api, 3000)
    _end(monkeypatch, rt, MINUTE, canceled, RunSource.schedule)
    _end(monkeypatch, rt, NEXT_MINUTE, completed, RunSource.webhook, 50, prompt_tokens=5)
    _end(monkeypatch, rt, NEXT_MINUTE, completed, RunSource.webhook, 400)
    _end(monkeypatch, rt, NEXT_MINUTE + timedelta(seconds=30), failed, RunSource.direct, 800)


ZERO_STATUSES = {"completed": 0, "failed": 0, "canceled": 0}
ZERO_SOURCES = {"direct": 0, "runs_api": 0, "schedule": 0, "webhook": 0}


def test_runs_are_counted_exactly_per_minute_by_status_source_and_tokens(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given runs of every status and source ended over two minutes
    _seven_runs(monkeypatch, rt)
    # When the metrics of three one-minute buckets are asked
    reply = _metrics(rt, MINUTE, MINUTE + timedelta(minutes=3))
    # Then 200 with three buckets: the exact counts of each minute, and zeros for the empty third
    assert reply.status == 200, reply.body
    data = reply.body["data"]
    assert (data["app_id"], data["interval_seconds"], len(data["buckets"])) == (rt.app_id, 60, 3)
    first, second, third = data["buckets"]
    assert first["start_time"].startswith("2026-03-01T10:00:00")
    assert first["runs"] == {
        "total": 5,
        "by_status": {"completed": 3, "failed": 1, "canceled": 1},
        "by_source": {"direct": 3, "runs_api": 1, "schedule": 1, "webhook": 0},
    }
    assert (first["error_rate"], first["tokens"], first["awaiting_input"]) == (
        0.2,
        {"prompt": 60, "completion": 6},
        0,
    )
    assert second["runs"] == {
        "total": 3,
        "by_status": {"completed": 2, "failed": 1, "canceled": 0},
        "by_source": {"direct": 1, "runs_api": 0, "schedule": 0, "webhook": 2},
    }
    assert (second["error_rate"], second["tokens"]) == (1 / 3, {"prompt": 5, "completion": 0})
    assert third == {
        "start_time": third["start_time"],
        "end_time": third["end_time"],
        "runs": {"total": 0, "by_status": ZERO_STATUSES, "by_source": ZERO_SOURCES},
        "duration_ms": {"p50": None, "p95": None, "p99": None},
        "error_rate": 0.0,
        "tokens": {"prompt": 0, "completion": 0},
        "awaiting_input": 0,
    }
    assert third["start_time"].startswith("2026-03-01T10:02:00")


def test_percentiles_are_within_the_documented_bucket_error(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given runs of known durations over two minutes (the canceled one never started: no duration)
    _seven_runs(monkeypatch, rt)
    durations = [100, 200, 1500, 3000, 50, 400, 800]
    # When one bucket covers both minutes (an ISO 8601 interval)
    reply = _metrics(rt, MINUTE, MINUTE + timedelta(minutes=2), "PT2M")
    # Then every percentile is at least the exact value and at most 25% above it
    assert reply.status == 200, reply.body
    [bucket] = reply.body["data"]["buckets"]
    assert bucket["runs"]["total"] == 8
    for rank in (50, 95, 99):
        exact = _exact_percentile(durations, rank)
        estimate = bucket["duration_ms"][f"p{rank}"]
        assert exact <= estimate <= exact * ERROR_BOUND, (rank, exact, estimate)


def test_a_retried_end_of_run_is_not_counted_twice(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a run that ended completed
    run = _end(monkeypatch, rt, MINUTE, RunStatus.completed, RunSource.direct, 100, prompt_tokens=7)
    # When its end is retried (the executor's last step replayed, the sweeper, a cancellation)
    assert ending.end_run(run, RunStatus.completed, result={"usage": {"prompt_tokens": 7}}).id == run.id
    assert ending.end_run(run, RunStatus.canceled).status is RunStatus.completed
    # Then it is counted once
    [bucket] = _metrics(rt, MINUTE, NEXT_MINUTE).body["data"]["buckets"]
    assert bucket["runs"]["total"] == 1
    assert (bucket["runs"]["by_status"]["completed"], bucket["tokens"]["prompt"]) == (1, 7)


def test_a_run_beginning_to_wait_for_input_is_counted_once(rt: Runtime) -> None:
    # Given a started run
    created = created_run(rt.app_id)
    claimed, run = runs.claim(created.id, MINUTE, EXECUTION)
    assert claimed
    assert run is not None
    request = {"id": "approve", "type": "approval", "prompt": "ok?", "state": "open", "timeout_seconds": 60}
    # When it opens an input request, and the step that opened it is retried
    runs.open_input_request(run, request, MINUTE, MINUTE + timedelta(minutes=5))
    runs.open_input_request(run, request, MINUTE, MINUTE + timedelta(minutes=5))
    # Then the run awaits input and is counted once in that minute
    stored = runs.get_run(run.id)
    assert stored is not None
    assert stored.status is RunStatus.awaiting_input
    reply = _metrics(rt, MINUTE, NEXT_MINUTE)
    assert reply.status == 200, reply.body
    assert reply.body["data"]["buckets"][0]["awaiting_input"] == 1


def test_runs_through_the_apps_api_are_counted_with_their_source(rt: Runtime) -> None:
    # Given the App invoked directly once and through the runs API once, both completing
    before = datetime.now(UTC)
    assert rt.call("POST", "/", body={"input": {"question": "a"}}).status == 200
    assert rt.call("POST", "/v1/runs", body={"input": {"question": "b"}}).status == 200
    # When the metrics of the last minutes are asked, in one bucket
    reply = _metrics(rt, before - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1), "1h")
    # Then both are counted, each with its source, with a duration
    assert reply.status == 200, reply.body
    [bucket] = reply.body["data"]["buckets"]
    assert bucket["runs"] == {
        "total": 2,
        "by_status": {"completed": 2, "failed": 0, "canceled": 0},
        "by_source": {"direct": 1, "runs_api": 1, "schedule": 0, "webhook": 0},
    }
    assert bucket["duration_ms"]["p99"] is not None


def test_every_trigger_type_is_a_run_source() -> None:
    # Given the trigger types / When a firing's run takes its trigger's type as its source / Then it exists
    assert {kind.value for kind in TriggerType} <= {source.value for source in RunSource}


@pytest.mark.parametrize(
    ("interval", "span", "code"),
    [
        ("2s", timedelta(hours=1), "invalid_interval"),
        ("P2D", timedelta(days=2), "invalid_interval"),
        ("PT30S", timedelta(hours=1), "invalid_interval"),
        ("1m", timedelta(days=1, minutes=1), "too_many_buckets"),
        ("1d", timedelta(days=8), "range_too_long"),
        ("1m", timedelta(0), "invalid_time_range"),
    ],
)
def test_invalid_ranges_and_intervals_are_refused(
    rt: Runtime, interval: str, span: timedelta, code: str
) -> None:
    # Given an interval and a range that break a documented limit
    # When the metrics are asked
    reply = _metrics(rt, MINUTE, MINUTE + span, interval)
    # Then 422 with the limit's code
    error_of(reply, 422, code)


def test_the_largest_allowed_request_answers_every_bucket(rt: Runtime) -> None:
    # Given the most buckets allowed: one day of minutes
    # When they are asked
    reply = _metrics(rt, MINUTE, MINUTE + timedelta(days=1))
    # Then 1440 zero buckets
    assert reply.status == 200, reply.body
    buckets = reply.body["data"]["buckets"]
    assert len(buckets) == 1440
    assert {bucket["runs"]["total"] for bucket in buckets} == {0}


def test_a_time_without_a_zone_is_refused(rt: Runtime) -> None:
    # Given a start time with no time zone / When the metrics are asked / Then 422
    reply = rt.world.call(
        "GET",
        f"/v1/apps/{rt.app_id}/metrics",
        token=rt.world.admin.token,
        query={"start_time": "2026-03-01T10:00:00", "end_time": NEXT_MINUTE.isoformat()},
    )
    assert reply.status == 422, reply.body
    assert set(reply.body) == {"error"}


def test_a_project_viewer_reads_the_metrics_and_a_member_of_another_project_does_not(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run, a viewer of the App's project and an org member outside it
    _end(monkeypatch, rt, MINUTE, RunStatus.completed, RunSource.direct, 100)
    viewer = rt.world.token_for("viewer@example.com", project_role="viewer")
    outsider = rt.world.token_for("outsider@example.com")
    # When the viewer asks / Then 200 with the run counted
    reply = _metrics(rt, MINUTE, NEXT_MINUTE, token=viewer)
    assert reply.status == 200, reply.body
    assert reply.body["data"]["buckets"][0]["runs"]["total"] == 1
    # When the outsider or the App's access key asks / Then 404 and 403
    error_of(_metrics(rt, MINUTE, NEXT_MINUTE, token=outsider), 404, "not_found")
    error_of(_metrics(rt, MINUTE, NEXT_MINUTE, token=rt.key), 403, "wrong_token_type")


def test_the_end_of_a_run_emits_its_cloudwatch_metrics_with_the_app_dimension(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a run that started 250 ms before it failed
    capsys.readouterr()
    # When it ends
    _end(monkeypatch, rt, MINUTE, RunStatus.failed, RunSource.direct, 250)
    # Then its count and duration are emitted (embedded metric format) with the App as the only dimension
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    emitted = {
        metric["Name"]: (
            document["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            document["AppId"],
            document[metric["Name"]],
        )
        for document in documents
        for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }
    assert emitted == {
        "RunsFailed": ([["AppId"]], rt.app_id, [1.0]),
        "RunDuration": ([["AppId"]], rt.app_id, [250.0]),
    }
