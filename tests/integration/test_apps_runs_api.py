"""The runs API of a deployed App (``/v1/runs``) through the Apps handler on moto: sync, background and
streamed runs, idempotent creation, sessions, cancellation, listing and events, and who may call it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from switchboard.domain.runs import Run, RunStatus
from switchboard.invoker import InvokeThrottled
from switchboard.runtime.identity.bootstrap import bootstrap_admin
from switchboard.runtime.runs.idempotency import fingerprint
from switchboard.settings import get_settings
from switchboard.store import idempotency
from switchboard.store import runs as store_runs
from tests.integration.apps_runtime import (
    Runtime,
    access_key,
    app_runtime,
    deploy,
    http_node,
    new_app,
    point_connection,
    set_limits,
)
from tests.integration.conftest import Reply, World, error_of
from tests.support.fakes import HttpTarget
from tests.support.fakes import Reply as TargetReply
from tests.support.invokers import wait_for_run
from tests.support.world import Builder


@pytest.fixture
def rt(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with app_runtime(world, monkeypatch) as runtime:
        yield runtime


def _created(rt: Runtime, body: dict[str, Any], **kwargs: Any) -> Reply:
    return rt.call("POST", "/v1/runs", body=body, **kwargs)


# ------------------------------------------------------------------------------------------- create


@pytest.mark.parametrize("form", ["path", "host"])
def test_a_sync_run_answers_with_the_finished_run(rt: Runtime, form: str) -> None:
    # Given a deployed App / When a run is created without background
    reply = _created(rt, {"input": {"question": "hello"}, "user_id": "u-1"}, form=form)
    # Then the answer is the stored run after execution
    assert reply.status == 200, reply.body
    run = reply.body["data"]
    assert run["status"] == "completed"
    assert run["output"] == {"answer": "hello!", "file": None, "files": None}
    assert {node: result["status"] for node, result in run["nodes"].items()} == {
        "start": "completed",
        "shout": "completed",
        "check": "completed",
        "finish": "completed",
    }
    assert run["app_id"] == rt.app_id
    assert run["user_id"] == "u-1"
    assert run["version"] == 2
    assert run["mode"] == "sync"
    assert run["started_at"]
    assert run["ended_at"]
    assert "callbacks" not in run
    assert rt.invoker.started == [run["id"]]
    # And it reads back the same
    assert rt.call("GET", f"/v1/runs/{run['id']}", form=form).body["data"] == run


def test_a_sync_run_longer_than_the_apps_sync_wait_answers_202_and_goes_on_once(rt: Runtime) -> None:
    # Given an App that waits at most 1 s for a synchronous run, and a version whose node takes 2.5 s
    with slow_upstream(rt, delay_ms=2500) as target:
        set_limits(rt, sync_wait_seconds=1)
        # When a synchronous run is created
        reply = _created(rt, {"input": {"question": "slow"}})
        # Then 202 with the run as it is (not ended) and where to poll it
        assert reply.status == 202, reply.body
        run = reply.body["data"]
        assert run["status"] in ("created", "started")
        assert run["ended_at"] is None
        assert reply.headers["location"] == f"/apps/{rt.app_id}/v1/runs/{run['id']}"
        # And the run goes on and completes, executed once: one execution, one upstream call
        finished = wait_for_run(run["id"])
        assert finished.status is RunStatus.completed
        assert finished.output == {"done": "done"}
        assert rt.invoker.started == [run["id"]]
        assert len(target.requests_to("/slow")) == 1


def test_an_idempotent_sync_run_replays_as_it_is_then_as_it_ended(rt: Runtime) -> None:
    # Given a synchronous run that outlived its wait (202), created with an Idempotency-Key
    with slow_upstream(rt, delay_ms=2000):
        set_limits(rt, sync_wait_seconds=1)
        headers = {"Idempotency-Key": "slow-1"}
        first = _created(rt, {"input": {"question": "slow"}}, headers=headers)
        assert first.status == 202, first.body
        # When the request is replayed while the run goes on
        during = _created(rt, {"input": {"question": "slow"}}, headers=headers)
        # Then the replay answers with the run as it is now: still 202
        assert (during.status, during.headers["idempotent-replayed"]) == (202, "true")
        assert during.body["data"]["id"] == first.body["data"]["id"]
        # When it is replayed after the run ended / Then 200 with its final state, and nothing ran again
        wait_for_run(first.body["data"]["id"])
        after = _created(rt, {"input": {"question": "slow"}}, headers=headers)
    assert (after.status, after.headers["idempotent-replayed"]) == (200, "true")
    assert (after.body["data"]["id"], after.body["data"]["status"]) == (first.body["data"]["id"], "completed")
    assert rt.invoker.started == [first.body["data"]["id"]]


def test_a_throttled_executor_sends_a_sync_run_the_background_way(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an executor that cannot be started (throttled), and an App that waits 1 s
    set_limits(rt, sync_wait_seconds=1)
    with monkeypatch.context() as patched:
        patched.setattr(rt.invoker, "start_execution", _throttled)
        # When a synchronous run is created
        reply = _created(rt, {"input": {"question": "queued"}})
    # Then it is queued rather than lost: 202 with the created run
    assert reply.status == 202, reply.body
    assert reply.body["data"]["status"] == "created"
    assert rt.queued_run_ids() == [reply.body["data"]["id"]]
    # And once the executor can be started, the queue runs it to its end
    rt.drain()
    assert rt.call("GET", f"/v1/runs/{reply.body['data']['id']}").body["data"]["status"] == "completed"


def test_a_run_nothing_can_start_fails_503_and_leaves_no_record(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an executor that cannot be started and a run queue that refuses messages
    with monkeypatch.context() as patched:
        patched.setattr(rt.invoker, "start_execution", _throttled)
        patched.setenv("RUN_QUEUE_URL", rt.queue_url + "-missing")
        get_settings.cache_clear()
        # When a synchronous run is created with an Idempotency-Key
        reply = _created(rt, {"input": {"question": "q"}}, headers={"Idempotency-Key": "nothing"})
    get_settings.cache_clear()
    # Then 503 with Retry-After, no run is left behind, and the key is free for the retry
    assert reply.status == 503, reply.body
    assert (reply.body["error"]["code"], reply.headers["retry-after"]) == ("run_not_started", "2")
    assert rt.call("GET", "/v1/runs").body["data"] == []
    retried = _created(rt, {"input": {"question": "q"}}, headers={"Idempotency-Key": "nothing"})
    assert (retried.status, retried.body["data"]["status"]) == (200, "completed")


def _throttled(*_: object) -> str:
    raise InvokeThrottled("the executor cannot be started now; retry shortly")


@contextmanager
def slow_upstream(rt: Runtime, delay_ms: int) -> Iterator[HttpTarget]:
    """The world's connection pointed at a loopback upstream whose /slow answers after ``delay_ms``, and a
    version deployed that calls it."""
    with HttpTarget() as target:
        target.respond("/slow", TargetReply(body={"ok": True}, delay_ms=delay_ms))
        point_connection(rt.world, target.url)
        deploy(rt.world, _slow_definition(rt.world))
        yield target


def _count_run_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    read = store_runs.get_run

    def counted(run_id: str) -> Run | None:
        reads.append(run_id)
        return read(run_id)

    monkeypatch.setattr(store_runs, "get_run", counted)
    return reads


@pytest.mark.parametrize(("form", "prefix"), [("path", "/apps/{app}"), ("host", "")])
def test_a_background_run_is_queued_and_polled_to_completion(rt: Runtime, form: str, prefix: str) -> None:
    # Given the deployed App, called by path or by its host
    # When a background run is created
    reply = _created(rt, {"input": {"question": "later"}, "background": True}, form=form)
    # Then it is answered at once, created, with where to poll it in the same addressing form
    assert reply.status == 202, reply.body
    run = reply.body["data"]
    assert (run["status"], run["mode"], run["output"], run["started_at"]) == (
        "created",
        "background",
        None,
        None,
    )
    assert reply.headers["location"] == prefix.format(app=rt.app_id) + f"/v1/runs/{run['id']}"
    assert rt.invoker.calls == []
    assert rt.queued_run_ids() == [run["id"]]
    # When the queue is processed / Then polling shows it completed
    rt.drain()
    polled = rt.call("GET", f"/v1/runs/{run['id']}", form=form)
    assert polled.body["data"]["status"] == "completed"
    assert polled.body["data"]["output"]["answer"] == "later!"


def test_a_streamed_run_answers_with_its_events(rt: Runtime) -> None:
    # Given the deployed App
    # When a run is created with stream
    reply = _created(rt, {"input": {"question": "live"}, "stream": True})
    # Then the answer is its events, from the first to the terminal one, and the run completed
    assert reply.status == 200, reply.raw
    assert reply.headers["content-type"].startswith("text/event-stream")
    ids = [line.removeprefix("id: ") for line in reply.raw.splitlines() if line.startswith("id: ")]
    assert ids == [str(n) for n in range(1, len(ids) + 1)]
    assert "event: run.started" in reply.raw
    assert reply.raw.rstrip().splitlines()[-2] == "event: run.completed"
    assert rt.call("GET", "/v1/runs").body["data"][0]["status"] == "completed"


def test_a_replayed_stream_is_marked_as_a_replay(rt: Runtime) -> None:
    # Given a streamed run created with an idempotency key
    body = {"input": {"question": "live"}, "stream": True}
    first = _created(rt, body, headers={"idempotency-key": "stream-once"})
    # When the same request is sent again
    again = _created(rt, body, headers={"idempotency-key": "stream-once"})
    # Then it replays the same events, marked as a replay, and no second run exists
    assert first.status == again.status == 200
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.raw == first.raw
    assert len(rt.call("GET", "/v1/runs").body["data"]) == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"input": {"question": "q"}, "session_id": "not-a-uuid"}, "invalid_session_id"),
        ({"input": {"question": "q"}, "stream": True, "background": True}, "invalid_options"),
    ],
)
def test_malformed_requests_are_400(rt: Runtime, body: dict[str, Any], code: str) -> None:
    # Given a body with a session id that is not a UUID, or asking for both stream and background
    # When it is posted / Then it is 400 with its own code
    error_of(_created(rt, body), 400, code)
    # And no run was started
    assert rt.invoker.calls == []


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (
            {"input": {"question": "q"}, "surprise": 1},
            {"loc": ["surprise"], "code": "extra_forbidden", "message": "Extra inputs are not permitted"},
        ),
        (
            {"input": {"question": "q"}, "background": "yes"},
            {"loc": ["background"], "code": "bool_type", "message": "Input should be a valid boolean"},
        ),
    ],
)
def test_an_unknown_field_or_a_bad_value_is_422_as_on_the_management_api(
    rt: Runtime, body: dict[str, Any], detail: dict[str, Any]
) -> None:
    # Given a deployed App
    # When a run is created with a field the body does not have, or a value of the wrong type
    reply = _created(rt, body)
    # Then 422 validation_failed names the field (the management API's rule), and nothing starts
    assert (reply.status, reply.body) == (
        422,
        {"error": {"code": "validation_failed", "message": "the request is invalid", "details": [detail]}},
    )
    assert rt.invoker.calls == []


def test_malformed_json_and_content_types(rt: Runtime) -> None:
    # Given the deployed App
    # When runs are posted as cut-off JSON, an array, JSON with NaN, plain text and a multipart form
    # Then broken JSON is 400 malformed_json and the other media types 415 unsupported_media_type
    error_of(rt.call("POST", "/v1/runs", raw_body='{"input": '), 400, "malformed_json")
    error_of(rt.call("POST", "/v1/runs", raw_body="[1]"), 400, "malformed_json")
    error_of(rt.call("POST", "/v1/runs", raw_body='{"input": {"question": NaN}}'), 400, "malformed_json")
    error_of(
        rt.call("POST", "/v1/runs", raw_body="input=x", headers={"content-type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    multipart = b'--b\r\nContent-Disposition: form-data; name="input"\r\n\r\n{}\r\n--b--\r\n'
    error_of(
        rt.call(
            "POST",
            "/v1/runs",
            raw_body=multipart,
            headers={"content-type": "multipart/form-data; boundary=b"},
        ),
        415,
        "unsupported_media_type",
    )


def test_input_is_validated_against_the_deployed_input_node(rt: Runtime) -> None:
    # Given the deployed App, whose input node requires a question and takes an integer count and files
    # When the input misses a required field, has a wrong type, an unknown field and a foreign file
    reply = _created(
        rt,
        {
            "input": {
                "count": "three",
                "extra": 1,
                "doc": {"name": "a", "content_type": "x/y", "size": 1, "bucket": "elsewhere", "key": "k"},
            }
        },
    )
    # Then 422 names each field, without echoing values, and no run exists
    error = error_of(reply, 422, "validation_failed")
    assert sorted((d["loc"][1], d["code"]) for d in error["details"]) == [
        ("count", "invalid_type"),
        ("doc", "invalid_file"),
        ("extra", "unknown_field"),
        ("question", "missing"),
    ]
    assert "three" not in reply.raw
    assert rt.call("GET", "/v1/runs").body["data"] == []
    # And a body that is not even shaped right is 422 too
    error_of(_created(rt, {"input": "text"}), 422, "validation_failed")


def test_an_input_too_large_for_a_run_record_is_413(rt: Runtime) -> None:
    # Given an input larger than a run record may hold
    # When a run is created with it / Then it is 413 payload_too_large
    error_of(_created(rt, {"input": {"question": "x" * 100_001}}), 413, "payload_too_large")


def test_an_app_without_deployment_is_409(rt: Runtime) -> None:
    # Given a second App of the project with nothing deployed
    other = new_app(rt.world)
    # When a run is created for it / Then it is 409 app_not_deployed
    error_of(rt.call("POST", "/v1/runs", app_id=other, body={"input": {}}), 409, "app_not_deployed")


def test_a_run_of_another_app_is_404(rt: Runtime) -> None:
    # Given a run of another App of the same project
    other = new_app(rt.world, deploy_version=2)
    run_id = rt.call("POST", "/v1/runs", app_id=other, body={"input": {"question": "q"}}).body["data"]["id"]
    # When it is addressed through this App / Then it does not exist here
    for method, path in [
        ("GET", f"/v1/runs/{run_id}"),
        ("POST", f"/v1/runs/{run_id}/cancel"),
        ("GET", f"/v1/runs/{run_id}/events"),
    ]:
        error_of(rt.call(method, path), 404, "not_found")
    assert rt.call("GET", "/v1/runs").body["data"] == []


# -------------------------------------------------------------------------------------- idempotency


def test_the_same_key_and_body_replay_the_first_response(rt: Runtime) -> None:
    # Given a background run's body and an idempotency key
    body = {"input": {"question": "once"}, "background": True}
    headers = {"Idempotency-Key": "order-42"}
    # When the same request is sent twice with a key
    first = _created(rt, body, headers=headers)
    second = _created(rt, {"background": True, "input": {"question": "once"}}, headers=headers)
    # Then the second replays the first exactly, and only one run exists
    assert first.status == second.status == 202
    assert second.body == first.body
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(rt.queued_run_ids()) == 1
    # When the key is reused with another body / Then 409, and nothing was created
    error_of(_created(rt, {"input": {"question": "other"}}, headers=headers), 409, "idempotency_key_reused")
    # And the key belongs to this App only
    other = new_app(rt.world, deploy_version=2)
    elsewhere = rt.call("POST", "/v1/runs", app_id=other, body=body, headers=headers)
    assert elsewhere.status == 202
    assert elsewhere.body["data"]["id"] != first.body["data"]["id"]


def test_a_sync_run_is_replayed_without_running_again(rt: Runtime) -> None:
    # Given an idempotency key
    headers = {"Idempotency-Key": "sync-1"}
    # When the same sync run is created twice with it
    first = _created(rt, {"input": {"question": "a"}}, headers=headers)
    second = _created(rt, {"input": {"question": "a"}}, headers=headers)
    # Then both answers are 200 with the same body, and the workflow was started only once
    assert (first.status, second.status) == (200, 200)
    assert first.body == second.body
    assert rt.invoker.started == [first.body["data"]["id"]]


def test_a_request_in_progress_holds_its_key(rt: Runtime) -> None:
    # Given a request with this key and body that is still being answered
    body = {"input": {"question": "q"}}
    now = int(time.time())
    claimed = idempotency.claim(
        rt.app_id,
        "busy",
        fingerprint("POST /v1/runs", body),
        now=now,
        expiration=now + 3600,
        lease_expiration=now + 60,
    )
    assert claimed is None
    # When the same request arrives again / Then 409 in progress, and nothing ran
    error_of(_created(rt, body, headers={"Idempotency-Key": "busy"}), 409, "idempotency_key_in_progress")
    assert rt.invoker.started == []
    # And another body with that key is a reuse
    other = {"input": {"question": "other"}}
    error_of(_created(rt, other, headers={"Idempotency-Key": "busy"}), 409, "idempotency_key_reused")


def test_a_request_that_created_nothing_frees_its_key(rt: Runtime) -> None:
    # Given an idempotency key
    headers = {"Idempotency-Key": "fix-and-retry"}
    # When a request with it is refused (422, the required question is missing), then sent again corrected
    error_of(_created(rt, {"input": {}}, headers=headers), 422, "validation_failed")
    # Then the corrected request runs: the refused one left the key free
    assert _created(rt, {"input": {"question": "fixed"}}, headers=headers).status == 200


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "é"])
def test_a_malformed_idempotency_key_is_400(rt: Runtime, key: str) -> None:
    # Given an idempotency key that is empty, too long, holds a tab or a non-ASCII letter
    # When a run is created with it
    reply = _created(rt, {"input": {"question": "q"}}, headers={"Idempotency-Key": key})
    # Then it is 400 invalid_idempotency_key
    error_of(reply, 400, "invalid_idempotency_key")


# ------------------------------------------------------------------------------------------- cancel


def test_a_cancelled_created_run_ends_canceled_at_once_and_never_starts(rt: Runtime) -> None:
    # Given a queued run
    run_id = _created(rt, {"input": {"question": "q"}, "background": True}).body["data"]["id"]
    # When it is cancelled / Then the answer tells the truth: canceled now, with the request recorded
    reply = rt.call("POST", f"/v1/runs/{run_id}/cancel")
    assert reply.status == 200, reply.body
    assert (reply.body["data"]["status"], reply.body["data"]["started_at"]) == ("canceled", None)
    assert reply.body["data"]["cancel_requested_at"] is not None
    assert reply.body["data"]["ended_at"] is not None
    # And its one event is its terminal one
    events = rt.call("GET", f"/v1/runs/{run_id}/events").body["data"]
    assert [event["type"] for event in events] == ["run.canceled"]
    # When the queue hands it to the executor anyway / Then it does not start: no node, nothing more
    rt.drain()
    run = rt.call("GET", f"/v1/runs/{run_id}").body["data"]
    assert (run["status"], run["started_at"], run["nodes"]) == ("canceled", None, None)
    assert len(rt.call("GET", f"/v1/runs/{run_id}/events").body["data"]) == 1


def test_cancelling_a_finished_run_changes_nothing(rt: Runtime) -> None:
    # Given a run that has completed
    finished = _created(rt, {"input": {"question": "done"}}).body["data"]
    # When it is canceled
    reply = rt.call("POST", f"/v1/runs/{finished['id']}/cancel")
    # Then the answer is 200 with the run unchanged, and no cancel request is recorded
    assert reply.status == 200
    assert reply.body["data"] == finished
    assert reply.body["data"]["cancel_requested_at"] is None


def test_a_started_run_stops_at_its_next_checkpoint(rt: Runtime) -> None:
    # Given a version whose first step waits on a slow upstream, and a run of it executing
    with HttpTarget() as target:
        target.respond("/slow", TargetReply(body={"ok": True}, delay_ms=1500))
        point_connection(rt.world, target.url)
        deploy(rt.world, _slow_definition(rt.world))
        run_id = _created(rt, {"input": {"question": "q"}, "background": True}).body["data"]["id"]
        worker = threading.Thread(target=rt.drain)
        worker.start()
        _wait_for(rt, run_id, "started")
        # When it is cancelled while the upstream call is in flight
        reply = rt.call("POST", f"/v1/runs/{run_id}/cancel")
        worker.join(timeout=30)
    # Then the answer was the true status at that moment, and the run ended canceled before its next node
    assert reply.body["data"]["status"] == "started"
    run = rt.call("GET", f"/v1/runs/{run_id}").body["data"]
    assert run["status"] == "canceled"
    assert run["nodes"]["after"]["status"] != "completed"


def _slow_definition(world: World) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "start", "type": "input", "fields": [{"name": "question", "type": "string"}]},
            http_node(world, "slow", "/slow", ["start"]),
            {
                "id": "after",
                "type": "transform",
                "depends": ["slow"],
                "config": {"template": "done"},
            },
            {"id": "finish", "type": "output", "depends": ["after"], "mappings": {"done": "$.after.output"}},
        ]
    }


def _wait_for(rt: Runtime, run_id: str, status: str) -> None:
    deadline = time.monotonic() + 10
    while rt.call("GET", f"/v1/runs/{run_id}").body["data"]["status"] != status:
        assert time.monotonic() < deadline, f"the run never reached {status}"
        time.sleep(0.05)


# ---------------------------------------------------------------------------------- listing, events


def test_runs_are_listed_newest_first_with_filters_and_pages(rt: Runtime) -> None:
    # Given runs of two users, one of which failed, and a run of another App
    for user, question in [("u-1", "a"), ("u-2", "b"), ("u-1", "x"), ("u-1", "c"), ("u-2", "d")]:
        _created(rt, {"input": {"question": question}, "user_id": user})
    other = new_app(rt.world, deploy_version=2)
    rt.call("POST", "/v1/runs", app_id=other, body={"input": {"question": "elsewhere"}, "user_id": "u-1"})

    def questions(query: dict[str, str]) -> tuple[list[str], str | None]:
        reply = rt.call("GET", "/v1/runs", query=query)
        assert reply.status == 200, reply.body
        return [r["input"]["question"] for r in reply.body["data"]], reply.body["next_token"]

    # When they are listed: unfiltered, by user in pages of two, by status and by both
    # Then every run of this App, newest first
    assert questions({})[0] == ["d", "c", "x", "b", "a"]
    # And filters apply across pages: no match is skipped or repeated
    page_one, token = questions({"user_id": "u-1", "limit": "2"})
    assert page_one == ["c", "x"]
    assert token
    page_two, last = questions({"user_id": "u-1", "limit": "2", "next_token": token})
    assert (page_two, last) == (["a"], None)
    assert questions({"status": "failed"}) == (["x"], None)
    assert questions({"status": "completed", "user_id": "u-2", "limit": "1"})[0] == ["d"]
    # And a cursor of another listing is refused
    error_of(rt.call("GET", "/v1/runs", query={"next_token": "garbage"}), 400, "invalid_cursor")
    error_of(rt.call("GET", "/v1/runs", query={"status": "sleeping"}), 422, "validation_failed")


def test_events_are_read_after_a_sequence(rt: Runtime) -> None:
    # Given a completed run
    run_id = _created(rt, {"input": {"question": "e"}}).body["data"]["id"]
    # When its events are read whole, in a page of two, and after sequence 2
    everything = rt.call("GET", f"/v1/runs/{run_id}/events").body
    events = everything["data"]
    # Then they are numbered from 1, from run.started to run.completed, each with the same five fields
    assert [e["sequence"] for e in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "run.started"
    assert events[-1]["type"] == "run.completed"
    assert set(events[0]) == {"id", "type", "sequence", "timestamp", "data"}
    assert everything["next_token"] is None
    # And a page of two ends with the cursor 2, and reading after 2 gives the rest
    first_two = rt.call("GET", f"/v1/runs/{run_id}/events", query={"limit": "2"}).body
    assert ([e["sequence"] for e in first_two["data"]], first_two["next_token"]) == ([1, 2], "2")
    rest = rt.call("GET", f"/v1/runs/{run_id}/events", query={"after_sequence": "2"}).body["data"]
    assert rest == events[2:]


# --------------------------------------------------------------------------------------------- auth


def test_who_may_call_the_runs_api(rt: Runtime, management: Any) -> None:
    # Given callers with no key, a malformed key, an admin token, a key of another project or of another org
    world = rt.world
    other_project = world.builder.project("B")
    stranger = bootstrap_admin("stranger@example.org", "Elsewhere")
    stranger_key = Builder(management, stranger.token, stranger.org_id).access_key().token
    cases = [
        (None, 401, "missing_token"),
        ("sb_ak_garbage", 401, "malformed_token"),
        (world.admin.token, 403, "wrong_token_type"),
        (access_key(world, project_id=other_project), 403, "wrong_project"),
        (stranger_key, 404, "not_found"),
    ]
    body = {"input": {"question": "q"}}
    # When each calls create, list and get / Then each is refused with its own status and code
    for token, status, code in cases:
        for method, path in [("POST", "/v1/runs"), ("GET", "/v1/runs"), ("GET", "/v1/runs/run-x")]:
            reply = rt.call(method, path, token=token, body=body if method == "POST" else None)
            assert (reply.status, reply.body["error"]["code"]) == (status, code), (token, method, path)
    # And no run was invoked
    assert rt.invoker.calls == []
    # And a key scoped to the App's project may call it
    scoped = access_key(world, project_id=world.project_id)
    assert rt.call("POST", "/v1/runs", token=scoped, body=body).status == 200


def test_a_public_app_runs_without_a_key_but_only_keys_act_for_users_or_list(rt: Runtime) -> None:
    # Given the App made public
    rt.world.call("PATCH", f"/v1/apps/{rt.app_id}", token=rt.world.admin.token, body={"access": "public"})
    # When a run is created without a key
    created = rt.call("POST", "/v1/runs", token=None, body={"input": {"question": "anyone"}})
    # Then it runs for no user, and its run token reads it
    assert created.status == 200, created.body
    assert created.body["data"]["user_id"] is None
    run_id = created.body["data"]["id"]
    run_token = created.body["data"]["run_token"]
    assert rt.call("GET", f"/v1/runs/{run_id}", token=None, headers={"X-Run-Token": run_token}).status == 200
    # And without a key no run may act for a user, nor may runs be listed; an admin token is no key either
    error_of(
        rt.call("POST", "/v1/runs", token=None, body={"input": {"question": "q"}, "user_id": "u-1"}),
        401,
        "missing_token",
    )
    error_of(rt.call("GET", "/v1/runs", token=None), 401, "missing_token")
    error_of(
        rt.call("POST", "/v1/runs", token=rt.world.admin.token, body={"input": {}}), 403, "wrong_token_type"
    )
