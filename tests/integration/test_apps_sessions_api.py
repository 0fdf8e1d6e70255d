"""Sessions on the runs API: a session belongs to the user of its first run and runs one run at a time; a
run that ends, however it ends, frees it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from switchboard.domain.ids import utcnow
from switchboard.domain.runs import Run, RunEvent, RunStatus
from switchboard.invoker import InvokeThrottled
from switchboard.settings import get_settings
from switchboard.store import runs
from tests.integration.apps_runtime import Runtime, app_runtime
from tests.integration.conftest import Reply, World


@pytest.fixture
def rt(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with app_runtime(world, monkeypatch) as runtime:
        yield runtime


def _error(reply: Reply, status: int, code: str) -> dict[str, Any]:
    assert (reply.status, reply.body["error"]["code"]) == (status, code), reply.body
    return reply.body["error"]  # type: ignore[no-any-return]


def _created(rt: Runtime, body: dict[str, Any]) -> Reply:
    return rt.call("POST", "/v1/runs", body=body)


def test_a_session_belongs_to_the_user_of_its_first_run(rt: Runtime) -> None:
    session = str(uuid.uuid4())
    # Given a session started by u-1
    first = _created(rt, {"input": {"question": "hi"}, "user_id": "u-1", "session_id": session.upper()})
    assert first.status == 200, first.body
    assert first.body["data"]["session_id"] == session
    # When u-2 (or an anonymous run) uses it / Then 403, and no run was created
    _error(
        _created(rt, {"input": {"question": "mine?"}, "user_id": "u-2", "session_id": session}),
        403,
        "session_forbidden",
    )
    _error(_created(rt, {"input": {"question": "mine?"}, "session_id": session}), 403, "session_forbidden")
    # And u-1 goes on with it
    assert (
        _created(rt, {"input": {"question": "again"}, "user_id": "u-1", "session_id": session}).status == 200
    )
    listed = rt.call("GET", "/v1/runs", query={"session_id": session}).body["data"]
    assert [r["input"]["question"] for r in listed] == ["again", "hi"]


def test_a_session_runs_one_run_at_a_time(rt: Runtime) -> None:
    session = str(uuid.uuid4())
    body = {"input": {"question": "q"}, "user_id": "u-1", "session_id": session}
    # Given a queued run in the session
    assert _created(rt, {**body, "background": True}).status == 202
    # When another run of the same session is created / Then 409 session_busy naming the unfinished run
    busy = _error(_created(rt, body), 409, "session_busy")
    assert busy["details"]["active_run_id"] == rt.queued_run_ids()[0]
    # When the first run finishes / Then the session takes the next run
    rt.drain()
    assert _created(rt, body).status == 200
    # And a run that fails frees its session as well
    assert _created(rt, {**body, "input": {"question": "xx"}}).body["data"]["status"] == "failed"
    assert _created(rt, body).status == 200


def test_a_cancelled_queued_run_frees_its_session(rt: Runtime) -> None:
    # Given a queued background run of u-1 in a session
    session = str(uuid.uuid4())
    body = {"input": {"question": "q"}, "user_id": "u-1", "session_id": session}
    run_id = _created(rt, {**body, "background": True}).body["data"]["id"]
    # When it is canceled before the queue is processed, and another run of the session is created
    rt.call("POST", f"/v1/runs/{run_id}/cancel")
    rt.drain()
    # Then the new run is taken (200): the canceled run freed the session
    assert _created(rt, body).status == 200


def test_a_run_that_ended_without_freeing_its_session_does_not_block_it(rt: Runtime) -> None:
    # Given a session whose active run ended but never freed it (its executor stopped in between)
    session = str(uuid.uuid4())
    body = {"input": {"question": "q"}, "user_id": "u-1", "session_id": session}
    run_id = _created(rt, {**body, "background": True}).body["data"]["id"]
    run = runs.get_run(run_id)
    assert run is not None
    runs.finish(run, RunStatus.failed, utcnow(), {}, {RunStatus.created}, terminal_event(run))
    # When the next run of the session comes / Then it runs
    assert _created(rt, body).status == 200


def test_a_run_that_cannot_be_started_is_not_left_behind_and_frees_its_session(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run queue that refuses every message and an executor that cannot be started
    session = str(uuid.uuid4())
    body = {"input": {"question": "q"}, "user_id": "u-1", "session_id": session}
    monkeypatch.setenv("RUN_QUEUE_URL", rt.queue_url + "-missing")
    monkeypatch.setattr(rt.invoker, "start_execution", _throttled)
    get_settings.cache_clear()
    # When a background run is asked for
    refused = _created(rt, {**body, "background": True})
    # Then 503 with Retry-After, and no run is left behind: none listed, the session is free
    _error(refused, 503, "run_not_started")
    assert refused.headers["retry-after"] == "2"
    assert rt.call("GET", "/v1/runs").body["data"] == []
    monkeypatch.setenv("RUN_QUEUE_URL", rt.queue_url)
    get_settings.cache_clear()
    assert _created(rt, {**body, "background": True}).status == 202


def _throttled(*_: object) -> str:
    raise InvokeThrottled("the executor cannot be started now; retry shortly")


def terminal_event(run: Run) -> RunEvent:
    return RunEvent(id="evt-end", run_id=run.id, type="run.failed", sequence=1, timestamp=utcnow(), data={})
