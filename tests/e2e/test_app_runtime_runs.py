"""The runs API of a deployed App (``/v1/runs``) over real HTTP on the local stack: a background run polled
to completion, a live event stream, resuming it with ``after_sequence``, truthful cancellation of a queued
and of a running run, idempotent creation, and sessions.

Runs that must stay unfinished for a while ask the upstream's ``/slow`` path (``route: slow``). The local
stack hands the run queue to the executor one message at a time (``BatchSize: 1``, one batch in flight, as
a single Lambda poller would), so a background run created while a slow one executes stays ``created``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.app_world import AppWorld, SseMessage, build_app_world, scripted_upstream, wait_until
from tests.e2e.conftest import LocalStackProcess, Story
from tests.support.fakes import HttpTarget
from tests.support.fakes import Reply as TargetReply
from tests.support.http import Reply, request

pytestmark = pytest.mark.e2e

TERMINAL = ("completed", "failed", "canceled")


@pytest.fixture(scope="module")
def upstream() -> Iterator[HttpTarget]:
    with scripted_upstream() as target:
        yield target


@pytest.fixture(scope="module")
def world(local_stack: LocalStackProcess, upstream: HttpTarget) -> AppWorld:
    return build_app_world(local_stack, upstream.url, name="Runs")


def created(reply: Reply, status: int) -> dict[str, Any]:
    assert reply.status == status, reply.text
    run: dict[str, Any] = reply.body["data"]
    return run


def error_of(reply: Reply, status: int, code: str) -> dict[str, Any]:
    assert (reply.status, reply.body and reply.body.get("error", {}).get("code")) == (status, code), (
        reply.text
    )
    assert set(reply.body) == {"error"}
    error: dict[str, Any] = reply.body["error"]
    return error


def test_a_background_run_is_polled_to_completion(world: AppWorld) -> None:
    # Given the deployed App
    # When a background run is created through the host form
    reply = world.call(
        "POST", "/v1/runs", form="host", json_body={"input": {"question": "poll"}, "background": True}
    )
    # Then 202 at once with the run, still created, and a Location in the same addressing form
    run = created(reply, 202)
    assert (run["status"], run["mode"], run["output"], run["started_at"]) == (
        "created",
        "background",
        None,
        None,
    )
    assert reply.headers["location"] == f"/v1/runs/{run['id']}"

    # When the Location is polled (same host) until the run ends
    def polled() -> dict[str, Any] | None:
        current = world.call("GET", reply.headers["location"], form="host")
        assert current.status == 200, current.text
        found: dict[str, Any] = current.body["data"]
        return found if found["status"] in TERMINAL else None

    finished = wait_until(polled, timeout_s=20, what="the background run to end")
    # Then it completed, with the output node's value and its timeline
    assert finished["status"] == "completed"
    assert finished["output"] == {"answer": "poll!", "upstream": {"ok": "fast"}, "file": None}
    assert finished["started_at"] is not None
    assert finished["ended_at"] is not None


def executor_of(stack: LocalStackProcess, run_id: str) -> str:
    """The durable function that ran the run's execution, as the stack's state file (saved within a second
    of a change) records it."""

    def recorded() -> str | None:
        try:
            durable = json.loads(stack.state_file.read_text())["services"]["lambda_durable"]
        except (OSError, ValueError, KeyError):
            return None
        arn = durable["names"].get(run_id)
        return None if arn is None else str(durable["executions"][arn]["StartInput"]["FunctionName"])

    return wait_until(recorded, timeout_s=10, what="the run's execution in the state file")


def test_sync_and_background_runs_execute_on_their_own_durable_functions(
    world: AppWorld, local_stack: LocalStackProcess
) -> None:
    # Given the deployed App on a stack hosting both executors of the template
    # When a synchronous run and a background run are created
    sync = created(world.call("POST", "/v1/runs", json_body={"input": {"question": "now"}}), 200)
    background = created(
        world.call("POST", "/v1/runs", json_body={"input": {"question": "later"}, "background": True}), 202
    )
    finished = world.wait_for_status(background["id"], *TERMINAL)

    # Then both complete, the sync run on the stack's sync executor and the background run (from the run
    # queue) on its background executor: the local stack hosts both durable functions of the template
    assert (sync["status"], sync["output"]["answer"]) == ("completed", "now!")
    assert (finished["status"], finished["output"]["answer"]) == ("completed", "later!")
    assert executor_of(local_stack, sync["id"]) == "ExecutorFunction"
    assert executor_of(local_stack, background["id"]) == "BackgroundExecutorFunction"


def test_a_streamed_run_sends_its_events_live_and_ends_with_run_completed(world: AppWorld) -> None:
    # Given a run that waits on the slow upstream for a while
    seen_while_running: list[str] = []

    def on_message(message: SseMessage) -> None:
        if message.id == 1:
            # Proves liveness: the first event is in hand while the run is still going
            seen_while_running.append(world.run(message.data["data"]["run_id"])["status"])

    # When it is created with stream: true
    reply = world.stream(
        "POST",
        "/v1/runs",
        json_body={"input": {"question": "live", "route": "slow"}, "stream": True},
        on_message=on_message,
    )
    # Then the answer is text/event-stream, message ids are the sequence 1..n, and it ends at run.completed
    assert reply.status == 200, reply.text
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.headers["cache-control"] == "no-store"
    messages = reply.messages
    assert [m.id for m in messages] == list(range(1, len(messages) + 1))
    assert [m.data["sequence"] for m in messages] == [m.id for m in messages]
    assert all(m.event == m.data["type"] for m in messages)
    assert messages[0].event == "run.started"
    assert messages[-1].event == "run.completed"
    assert messages[-1].data["data"]["output"] == {
        "answer": "live!",
        "upstream": {"ok": "slow"},
        "file": None,
    }
    # And the first event arrived while the run was still started, not after it ended
    assert seen_while_running == ["started"]
    assert world.run(messages[0].data["data"]["run_id"])["status"] == "completed"


def test_a_stream_resumes_after_a_sequence_and_follows_the_run_to_its_end(world: AppWorld) -> None:
    # Given a background run on the slow upstream, started, with some events stored
    run = created(
        world.call(
            "POST",
            "/v1/runs",
            json_body={"input": {"question": "resume", "route": "slow"}, "background": True},
        ),
        202,
    )
    wait_until(
        lambda: found if len(found := events_after(world, run["id"], 0)) >= 3 else None,
        timeout_s=20,
        what="the run's first events",
    )
    status_at_first_message: list[str] = []

    def on_message(message: SseMessage) -> None:
        if not status_at_first_message:
            status_at_first_message.append(world.run(run["id"])["status"])

    # When its stream is requested after sequence 2, while it runs
    resumed = world.stream("GET", f"/v1/runs/{run['id']}/stream?after_sequence=2", on_message=on_message)
    # Then it replays the stored events after 2 while the run is still going, follows it live, and ends
    # at its terminal event
    assert resumed.status == 200, resumed.text
    assert status_at_first_message == ["started"]
    sequences = [m.data["sequence"] for m in resumed.messages]
    assert [m.id for m in resumed.messages] == sequences
    assert sequences == list(range(3, len(sequences) + 3))
    assert resumed.messages[-1].event == "run.completed"
    # And it is exactly what the stored events say after 2, as /events?after_sequence=2 lists them
    stored = events_after(world, run["id"], 0)
    assert [m.data for m in resumed.messages] == stored[2:]
    assert events_after(world, run["id"], 2) == stored[2:]
    # And Last-Event-ID (what EventSource sends back) resumes too, the later cursor winning
    by_header = world.stream(
        "GET",
        f"/v1/runs/{run['id']}/stream?after_sequence=1",
        headers={"Last-Event-ID": str(len(stored) - 2)},
    )
    assert [m.data for m in by_header.messages] == stored[-2:]
    # And a finished run with nothing after the cursor answers 204
    assert world.stream("GET", f"/v1/runs/{run['id']}/stream?after_sequence={len(stored)}").status == 204


def events_after(world: AppWorld, run_id: str, after_sequence: int) -> list[dict[str, Any]]:
    reply = world.call("GET", f"/v1/runs/{run_id}/events?after_sequence={after_sequence}")
    assert reply.status == 200, reply.text
    assert reply.body["next_token"] is None
    events: list[dict[str, Any]] = reply.body["data"]
    return events


def test_cancel_tells_the_truth_for_a_running_run(world: AppWorld, upstream: HttpTarget) -> None:
    # Given a background run executing (waiting on the slow upstream)
    running = created(
        world.call(
            "POST",
            "/v1/runs",
            json_body={"input": {"question": "running", "route": "slow"}, "background": True},
        ),
        202,
    )
    world.wait_for_status(running["id"], "started")
    # When it is cancelled while its upstream call is in flight
    canceling_running = created(world.call("POST", f"/v1/runs/{running['id']}/cancel"), 200)
    # Then the answer tells it is still started, with the cancellation requested
    assert (canceling_running["status"], canceling_running["ended_at"]) == ("started", None)
    assert canceling_running["cancel_requested_at"] is not None
    # And the run stops at its next checkpoint: canceled, the output node never completed
    stopped = world.wait_for_status(running["id"], *TERMINAL)
    assert stopped["status"] == "canceled"
    assert stopped["output"] is None
    assert (stopped["nodes"] or {}).get("finish", {}).get("status") != "completed"
    events = events_after(world, running["id"], 0)
    assert events[-1]["type"] == "run.canceled"
    assert [event["type"] for event in events].count("run.canceled") == 1
    # And cancelling a finished run is a 200 that changes nothing
    again = world.call("POST", f"/v1/runs/{running['id']}/cancel")
    assert created(again, 200) == world.run(running["id"])


def test_a_run_cancelled_as_it_is_created_ends_canceled_with_one_terminal_event(
    world: AppWorld, upstream: HttpTarget
) -> None:
    # Given a background run
    queued = created(
        world.call("POST", "/v1/runs", json_body={"input": {"question": "queued"}, "background": True}), 202
    )
    # When it is cancelled right after it was created (before or just as it starts)
    answer = created(world.call("POST", f"/v1/runs/{queued['id']}/cancel"), 200)
    # Then the answer is the truth: canceled at once when it had not started, else still started
    assert answer["status"] in ("canceled", "started")
    assert answer["cancel_requested_at"] is not None
    # And either way it ends canceled, with exactly one run.canceled event, its last
    ended = world.wait_for_status(queued["id"], *TERMINAL)
    assert ended["status"] == "canceled"
    events = events_after(world, queued["id"], 0)
    assert [event["type"] for event in events].count("run.canceled") == 1
    assert events[-1]["type"] == "run.canceled"
    if answer["status"] == "canceled":
        # And a run cancelled before it started never ran a node
        assert (ended["started_at"], ended["nodes"]) == (None, None)
        assert [event["type"] for event in events] == ["run.canceled"]


def test_an_idempotency_key_replays_the_first_response_and_refuses_another_body(world: AppWorld) -> None:
    # Given an idempotency key and a background request
    key = {"Idempotency-Key": f"order-{uuid.uuid4()}"}
    body = {"input": {"question": "once"}, "background": True}
    # When the same background request is sent twice with the same key (keys in another order)
    first = world.call("POST", "/v1/runs", json_body=body, headers=key)
    second = world.call(
        "POST", "/v1/runs", json_body={"background": True, "input": {"question": "once"}}, headers=key
    )
    # Then the second replays the first: the same run (as it is now), Location, marked Idempotent-Replayed
    assert first.status == 202, first.text
    assert second.status in (200, 202), second.text
    assert second.body["data"]["id"] == first.body["data"]["id"]
    if second.status == 202:
        assert second.headers["location"] == first.headers["location"]
    assert second.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    # And only one run was created
    world.wait_for_status(first.body["data"]["id"], *TERMINAL)
    listed = world.call("GET", "/v1/runs?limit=100").body["data"]
    assert [r["id"] for r in listed if r["input"] == {"question": "once"}] == [first.body["data"]["id"]]
    # When the key comes back with another body
    reused = world.call("POST", "/v1/runs", json_body={"input": {"question": "other"}}, headers=key)
    # Then 409 idempotency_key_reused, and nothing is created
    error_of(reused, 409, "idempotency_key_reused")
    assert all(
        r["input"] != {"question": "other"} for r in world.call("GET", "/v1/runs?limit=100").body["data"]
    )


def test_a_sync_direct_invoke_with_an_idempotency_key_is_replayed_without_running_again(
    world: AppWorld, upstream: HttpTarget
) -> None:
    # Given a sync direct invoke (host form) and an idempotency key
    invoke_key = {"Idempotency-Key": f"invoke-{uuid.uuid4()}"}
    invoke = {"input": {"question": "just once"}}
    # When it is sent twice
    answered = world.call("POST", "/", form="host", json_body=invoke, headers=invoke_key)
    replayed = world.call("POST", "/", form="host", json_body=invoke, headers=invoke_key)
    # Then the second answer replays the first and the upstream was called once
    assert (answered.status, replayed.status) == (200, 200), (answered.text, replayed.text)
    assert replayed.body == answered.body
    assert replayed.headers["idempotent-replayed"] == "true"
    assert len([r for r in upstream.requests_to("/fast") if r.json()["question"] == "just once"]) == 1


class SessionStory(Story):
    """A session started by u-1, and the runs made in it so far."""

    def __init__(self) -> None:
        super().__init__()
        self.session = str(uuid.uuid4())
        self.mine = {"user_id": "u-1", "session_id": self.session}
        self.runs: dict[str, dict[str, Any]] = {}


@pytest.fixture(scope="module")
def session_story() -> SessionStory:
    return SessionStory()


def test_a_session_runs_one_run_at_a_time(world: AppWorld, session_story: SessionStory) -> None:
    story, mine = session_story, session_story.mine
    # Given a session started by u-1 with a background run still unfinished (slow upstream)
    first = created(
        world.call(
            "POST",
            "/v1/runs",
            json_body={"input": {"question": "one", "route": "slow"}, **mine, "background": True},
        ),
        202,
    )
    assert (first["user_id"], first["session_id"]) == ("u-1", story.session)
    story.runs["first"] = first
    # When u-1 creates another run in the session meanwhile
    busy = world.call("POST", "/v1/runs", json_body={"input": {"question": "two"}, **mine})
    # Then 409 session_busy naming the unfinished run
    assert error_of(busy, 409, "session_busy")["details"] == {"active_run_id": first["id"]}
    story.finished("busy")


def test_a_session_belongs_to_its_first_user(world: AppWorld, session_story: SessionStory) -> None:
    # Given u-1's session, its first run unfinished
    session_story.needs("busy")
    # When another user uses the session
    stranger = world.call(
        "POST",
        "/v1/runs",
        json_body={"input": {"question": "mine?"}, "user_id": "u-2", "session_id": session_story.session},
    )
    # Then 403 session_forbidden
    error_of(stranger, 403, "session_forbidden")
    session_story.finished("forbidden")


def test_once_its_run_ended_the_first_user_goes_on_in_the_session_and_no_other(
    world: AppWorld, session_story: SessionStory
) -> None:
    story, mine = session_story, session_story.mine
    # Given u-1's session, refused to u-2
    story.needs("forbidden")
    first = story.runs["first"]
    # When the first run has ended and u-1 runs again in the session
    assert world.wait_for_status(first["id"], *TERMINAL)["status"] == "completed"
    second = created(world.call("POST", "/v1/runs", json_body={"input": {"question": "two"}, **mine}), 200)
    # Then u-1's run completes in the session, and u-2 is still refused
    assert (second["status"], second["session_id"]) == ("completed", story.session)
    error_of(
        world.call(
            "POST",
            "/v1/runs",
            json_body={"input": {"question": "q"}, "user_id": "u-2", "session_id": story.session},
        ),
        403,
        "session_forbidden",
    )
    story.runs["second"] = second
    story.finished("went on")


def test_a_sessions_runs_are_its_first_users_newest_first(
    world: AppWorld, session_story: SessionStory
) -> None:
    # Given u-1's two runs in the session
    session_story.needs("went on")
    first, second = session_story.runs["first"], session_story.runs["second"]
    # When the session's runs are listed
    listed = world.call("GET", f"/v1/runs?session_id={session_story.session}")
    # Then they are exactly the two of u-1, newest first
    assert [(r["id"], r["user_id"]) for r in listed.body["data"]] == [
        (second["id"], "u-1"),
        (first["id"], "u-1"),
    ]


def test_a_9_mb_output_is_downloaded_byte_for_byte_from_its_presigned_url(
    world: AppWorld, upstream: HttpTarget
) -> None:
    # Given an upstream answering 9 MB of text
    body = "".join(chr(ord("a") + (index * 7) % 26) for index in range(9_000_000))
    upstream.respond("/big", TargetReply(text=body))
    # When a sync run takes it as its output
    run = created(
        world.call("POST", "/v1/runs", json_body={"input": {"question": "big", "route": "big"}}), 200
    )
    assert run["status"] == "completed", run.get("error")
    # Then the answer fits a response: the output is a reference with a short-lived URL on the stack itself
    reference = run["output"]
    assert reference["$artifact"]["url"].startswith(f"{world.stack.base_url}/_local/s3/")
    assert reference["$artifact"]["url_expires_in"] == 300
    # And downloading it gives the output, byte for byte (an altered URL is refused)
    downloaded = request("GET", reference["$artifact"]["url"], timeout=60)
    assert downloaded.status == 200
    assert json.loads(downloaded.text)["upstream"] == body
    assert len(downloaded.text.encode()) == reference["$artifact"]["bytes"]
    tampered = request("GET", reference["$artifact"]["url"].replace("X-Amz-Signature=", "X-Amz-Signature=0"))
    assert tampered.status == 403
