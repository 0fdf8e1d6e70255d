"""Human in the loop on moto and the local durable execution service: a ``human_input`` node pauses its run
(``awaiting_input``, its request on the run, an ``input.requested`` event, ``run.awaiting_input`` told to the
run's callbacks and the App's event URL), no invocation runs while it waits, ``POST /v1/runs/{id}/input``
resumes it, and an unanswered request times out into the node's error handling."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from switchboard.domain.ids import utcnow
from switchboard.domain.runs import RunStatus
from switchboard.runtime.runs.sweeper import sweep
from switchboard.runtime.webhooks.signing import verify_webhook
from tests.integration.apps_runtime import Runtime, deploy, new_app
from tests.integration.conftest import Reply, World
from tests.integration.links_world import LinksWorld, links_world
from tests.support.fakes import Reply as Answer
from tests.support.invokers import wait_for_run


@pytest.fixture
def scene(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[LinksWorld]:
    with links_world(world, monkeypatch) as built:
        deploy(world, approval_definition())
        yield built


@pytest.fixture
def rt(scene: LinksWorld) -> Runtime:
    return scene.runtime


def approval_definition(timeout_seconds: int = 600, behavior: str = "raise") -> dict[str, Any]:
    """input (question) → draft → approve (an approval of the draft; its ``text`` may be edited) → output."""
    return {
        "nodes": [
            {
                "id": "start",
                "type": "input",
                "fields": [{"name": "question", "type": "string", "required": True}],
            },
            {
                "id": "draft",
                "type": "transform",
                "depends": ["start"],
                "inputs": {"question": "$.input.question"},
                "config": {"template": "Dear {{ question }}"},
            },
            {
                "id": "approve",
                "type": "human_input",
                "depends": ["draft"],
                "inputs": {"text": "$.draft.output"},
                "config": {
                    "kind": "approval",
                    "prompt": "Send '{{ text }}'?",
                    "params": {"to": "ops@example.com", "text": "$.draft.output"},
                    "editable_params": ["text"],
                    "timeout_seconds": timeout_seconds,
                },
                "error_handling": {"behavior": behavior},
            },
            {
                "id": "finish",
                "type": "output",
                "depends": ["approve"],
                "mappings": {"decision": "$.approve.output"},
            },
        ]
    }


def feedback_definition() -> dict[str, Any]:
    return {
        "nodes": [
            {
                "id": "start",
                "type": "input",
                "fields": [{"name": "question", "type": "string", "required": True}],
            },
            {
                "id": "ask",
                "type": "human_input",
                "depends": ["start"],
                "inputs": {"question": "$.input.question"},
                "config": {"kind": "feedback", "prompt": "How should we answer {{ question }}?"},
            },
            {
                "id": "finish",
                "type": "output",
                "depends": ["ask"],
                "mappings": {"said": "$.ask.output.feedback"},
            },
        ]
    }


def _waiting_run(rt: Runtime, body: dict[str, Any] | None = None) -> str:
    """A background run of the deployed version, started and waiting for input."""
    reply = rt.call("POST", "/v1/runs", body=body or {"input": {"question": "Ann"}, "background": True})
    assert reply.status == 202, reply.body
    run_id = str(reply.body["data"]["id"])
    rt.drain()
    assert wait_for_run(run_id, "awaiting_input").status is RunStatus.awaiting_input
    return run_id


def _answer(rt: Runtime, run_id: str, answer: dict[str, Any], **kwargs: Any) -> Reply:
    return rt.call("POST", f"/v1/runs/{run_id}/input", body=answer, **kwargs)


def _error(reply: Reply, status: int, code: str) -> dict[str, Any]:
    assert (reply.status, reply.body["error"]["code"]) == (status, code), reply.body
    return reply.body["error"]  # type: ignore[no-any-return]


def _events(rt: Runtime, run_id: str) -> list[dict[str, Any]]:
    reply = rt.call("GET", f"/v1/runs/{run_id}/events", query={"limit": "100"})
    assert reply.status == 200, reply.body
    return list(reply.body["data"])


def _no_invocation_runs(rt: Runtime) -> None:
    """The execution suspended once its request was open: no invocation runs (none is billed) as it waits."""
    assert rt.invoker.durable.drain(5.0), "an executor invocation still runs while the run waits"
    assert rt.invoker.durable.invocations_running() == 0


def _approve(run_id: str, **data: Any) -> dict[str, Any]:
    return {"type": "approval", "data": {"request_id": "approve", **data}}


def test_an_approval_pauses_the_run_and_tells_everyone_who_listens(scene: LinksWorld, rt: Runtime) -> None:
    # Given an App with an event URL, and a background run with a callback
    secret = scene.use_event_receiver()
    scene.target.respond("/events", Answer(status=204))
    scene.target.respond("/hook", Answer(status=204))
    body = {
        "input": {"question": "Ann"},
        "execution_mode": "async",
        "callbacks": [{"url": f"{scene.target.url}/hook"}],
    }
    accepted = rt.call("POST", "/", body=body)
    assert accepted.status == 202, accepted.body
    run_id = accepted.body["data"]["id"]
    # When it reaches the approval
    rt.drain()
    wait_for_run(run_id, "awaiting_input")
    # Then it is awaiting_input with its open request, and no executor invocation runs while it waits
    run = rt.call("GET", f"/v1/runs/{run_id}").body["data"]
    assert run["status"] == "awaiting_input"
    (request,) = run["input_requests"]
    assert {key: request[key] for key in ("id", "type", "prompt", "params", "editable_params", "state")} == {
        "id": "approve",
        "type": "approval",
        "prompt": "Send 'Dear Ann'?",
        "params": {"to": "ops@example.com", "text": "Dear Ann"},
        "editable_params": ["text"],
        "state": "open",
    }
    assert request["timeout_seconds"] == 600
    assert "callback_id" not in request
    _no_invocation_runs(rt)
    # And an input.requested event says the same
    requested = [event for event in _events(rt, run_id) if event["type"] == "input.requested"]
    assert [event["data"]["request"]["id"] for event in requested] == ["approve"]
    # And the runs list finds it by its status
    listed = rt.call("GET", "/v1/runs", query={"status": "awaiting_input"}).body["data"]
    assert [listed_run["id"] for listed_run in listed] == [run_id]
    # And the callback and the App's event URL each get a signed run.awaiting_input
    for message, _ in scene.take_deliveries():
        scene.deliver(message)
    (hook,) = scene.target.requests_to("/hook")
    verify_webhook(secret, hook.headers, hook.body)
    notice = hook.json()
    assert (notice["id"], notice["status"]) == (run_id, "awaiting_input")
    assert [request["id"] for request in notice["input_requests"]] == ["approve"]
    (received,) = scene.events_received()
    verify_webhook(secret, received.headers, received.body)
    event = received.json()
    assert (event["type"], event["data"]["run_id"], event["data"]["status"]) == (
        "run.awaiting_input",
        run_id,
        "awaiting_input",
    )
    assert event["data"]["input_request"]["prompt"] == "Send 'Dear Ann'?"
    for raw in (hook.body, received.body):
        assert b"callback_id" not in raw


def test_an_approval_with_edits_resumes_the_run_with_them(rt: Runtime) -> None:
    # Given a run waiting for its approval
    run_id = _waiting_run(rt)
    # When the approval comes, with the editable text changed
    reply = _answer(rt, run_id, _approve(run_id, approved=True, params={"text": "Hello Ann"}))
    # Then the answer is the run, going on; the request records who answered
    assert reply.status == 200, reply.body
    assert reply.body["data"]["status"] in ("started", "completed")
    # And the run completes with the decision and the edited params
    run = wait_for_run(run_id)
    assert run.status is RunStatus.completed, run.error
    assert run.output == {
        "decision": {"approved": True, "params": {"to": "ops@example.com", "text": "Hello Ann"}}
    }
    shown = rt.call("GET", f"/v1/runs/{run_id}").body["data"]
    (request,) = shown["input_requests"]
    assert request["state"] == "answered"
    assert request["answered_at"] is not None
    types = [event["type"] for event in _events(rt, run_id)]
    assert types.count("input.requested") == types.count("input.received") == 1
    assert types[-1] == "run.completed"
    # And a second answer finds it no longer waiting
    _error(_answer(rt, run_id, _approve(run_id, approved=False)), 409, "run_not_awaiting_input")


def test_a_waiting_run_is_counted_in_the_apps_metrics_once(rt: Runtime) -> None:
    # Given a run through the runs API that waited for its approval, then got it and completed
    since = utcnow() - timedelta(minutes=1)
    run_id = _waiting_run(rt)
    assert _answer(rt, run_id, _approve(run_id, approved=True)).status == 200
    assert wait_for_run(run_id).status is RunStatus.completed
    # When the App's metrics are read in one bucket
    query = {"start_time": since.isoformat(), "end_time": (utcnow() + timedelta(minutes=1)).isoformat()}
    reply = rt.world.call(
        "GET", f"/v1/apps/{rt.app_id}/metrics", token=rt.world.admin.token, query={**query, "interval": "1h"}
    )
    # Then the run began waiting once, and ended completed, from the runs API
    assert reply.status == 200, reply.body
    [bucket] = reply.body["data"]["buckets"]
    assert bucket["awaiting_input"] == 1
    assert (bucket["runs"]["total"], bucket["runs"]["by_status"]["completed"]) == (1, 1)
    assert bucket["runs"]["by_source"]["runs_api"] == 1


def test_a_rejection_completes_the_node_with_approved_false(rt: Runtime) -> None:
    # Given a run waiting for the approval of its draft
    run_id = _waiting_run(rt)
    # When the approval is answered with approved false
    assert _answer(rt, run_id, _approve(run_id, approved=False)).status == 200
    # Then the run goes on and completes, its output saying not approved, with the draft's params
    run = wait_for_run(run_id)
    assert run.status is RunStatus.completed
    assert run.output == {
        "decision": {"approved": False, "params": {"to": "ops@example.com", "text": "Dear Ann"}}
    }


@pytest.mark.parametrize(
    ("answer", "code", "loc"),
    [
        (
            {"type": "approval", "data": {"request_id": "other", "approved": True}},
            "unknown_input_request",
            None,
        ),
        ({"type": "approval", "data": {"approved": True}}, "unknown_input_request", None),
        (
            {"type": "feedback", "data": {"request_id": "approve", "feedback": "hm"}},
            "validation_failed",
            ["type"],
        ),
        (
            {"type": "approval", "data": {"request_id": "approve", "approved": "yes"}},
            "validation_failed",
            None,
        ),
        (
            {
                "type": "approval",
                "data": {"request_id": "approve", "approved": True, "params": {"to": "x@y.z"}},
            },
            "validation_failed",
            ["data", "params", "to"],
        ),
        ({"type": "vote", "data": {"request_id": "approve"}}, "validation_failed", None),
    ],
)
def test_an_answer_that_does_not_fit_is_422_and_the_run_keeps_waiting(
    rt: Runtime, answer: dict[str, Any], code: str, loc: list[str] | None
) -> None:
    # Given a run waiting for the approval of its draft
    run_id = _waiting_run(rt)
    # When it is answered for another request, without one, with the wrong type, a wrong value, an edit of a
    # param that is not editable, or an unknown type
    # Then it is 422 with its code (naming the field where one is at fault), and the run still waits, and no
    # invocation resumed it
    error = _error(_answer(rt, run_id, answer), 422, code)
    if loc is not None:
        assert [detail["loc"] for detail in error["details"]] == [loc]
    assert rt.call("GET", f"/v1/runs/{run_id}").body["data"]["status"] == "awaiting_input"
    _no_invocation_runs(rt)


def test_answering_a_run_that_does_not_wait_is_409(rt: Runtime) -> None:
    # Given a background run of the feedback workflow, canceled before it started
    deploy(rt.world, feedback_definition())
    finished = rt.call("POST", "/v1/runs", body={"input": {"question": "q"}, "background": True}).body["data"]
    canceled = rt.call("POST", f"/v1/runs/{finished['id']}/cancel")
    assert canceled.body["data"]["status"] == "canceled"
    # When an answer is posted for it
    error = _error(
        _answer(rt, finished["id"], _approve(finished["id"], approved=True)), 409, "run_not_awaiting_input"
    )
    # Then it is 409 run_not_awaiting_input, saying the run is canceled
    assert error["details"] == {"status": "canceled"}


def test_who_may_answer(rt: Runtime) -> None:
    # Given a run waiting for the approval of its draft
    run_id = _waiting_run(rt)
    answer = _approve(run_id, approved=True)
    # When it is answered without a key, with a token that is no access key, by another App's key, or for an
    # unknown run / Then each is refused: 401, 403, 404, 404
    # No key: 401; a personal access token instead of an access key: 403
    assert rt.call("POST", f"/v1/runs/{run_id}/input", body=answer, token=None).status == 401
    _error(_answer(rt, run_id, answer, token=rt.world.admin.token), 403, "wrong_token_type")
    # Another App's key (same project): the run is not found
    other = new_app(rt.world)
    from tests.integration.apps_runtime import access_key

    _error(_answer(rt, run_id, answer, app_id=other, token=access_key(rt.world)), 404, "not_found")
    assert rt.call("GET", f"/v1/runs/{run_id}").body["data"]["status"] == "awaiting_input"
    # An unknown run: 404
    _error(_answer(rt, "run-doesnotexist0000000", answer), 404, "not_found")


def test_feedback_resumes_the_run_with_the_text(rt: Runtime) -> None:
    # Given the feedback workflow deployed, and its run waiting for feedback on refunds
    deploy(rt.world, feedback_definition())
    run_id = _waiting_run(rt, {"input": {"question": "refunds"}, "background": True})
    # When its input request is read / Then it is a feedback request with its prompt
    (request,) = rt.call("GET", f"/v1/runs/{run_id}").body["data"]["input_requests"]
    assert (request["type"], request["prompt"]) == ("feedback", "How should we answer refunds?")
    # When it is answered with a text
    reply = _answer(rt, run_id, {"type": "feedback", "data": {"request_id": "ask", "feedback": "Kindly."}})
    # Then the answer is accepted, and the run completes with the text as its output
    assert reply.status == 200, reply.body
    run = wait_for_run(run_id)
    assert (run.status, run.output) == (RunStatus.completed, {"said": "Kindly."})


def test_an_unanswered_request_fails_the_node_with_input_timeout(rt: Runtime) -> None:
    # Given a request that stays open 1 s
    deploy(rt.world, approval_definition(timeout_seconds=1))
    run_id = _waiting_run(rt)
    # When nobody answers / Then the node fails input_timeout, and (raise) the run fails with it
    run = wait_for_run(run_id, timeout_s=30)
    assert run.status is RunStatus.failed
    assert run.error is not None
    assert run.error["type"] == "input_timeout", run.error
    (request,) = rt.call("GET", f"/v1/runs/{run_id}").body["data"]["input_requests"]
    assert request["state"] == "expired"
    # And an answer that comes late is 409
    _error(_answer(rt, run_id, _approve(run_id, approved=True)), 409, "run_not_awaiting_input")


def test_a_timed_out_request_follows_the_nodes_error_handling(rt: Runtime) -> None:
    # Given a request that stays open 1 s, on a node whose errors become its output
    deploy(rt.world, approval_definition(timeout_seconds=1, behavior="return"))
    run_id = _waiting_run(rt)
    # When nobody answers it within the second
    # Then the run goes on with the error as the node's output
    run = wait_for_run(run_id, timeout_s=30)
    assert run.status is RunStatus.completed, run.error
    assert run.output is not None
    assert run.output["decision"]["error"]["type"] == "input_timeout"


def test_the_sweeper_times_out_a_request_whose_timer_was_lost(rt: Runtime) -> None:
    # Given a run waiting on a request of 600 s (its timer armed by the durable service)
    run_id = _waiting_run(rt)
    # When the sweeper runs after the request's time (as after a restart of the local stack, whose timers
    # are gone) / Then it fails the request's callback input_timeout, and the run ends failed
    done = sweep(utcnow() + timedelta(seconds=700))
    assert done == {"input_timeout": 1}
    run = wait_for_run(run_id)
    assert run.status is RunStatus.failed
    assert run.error is not None
    assert run.error["type"] == "input_timeout"
    # And a later sweep finds nothing to do
    assert sweep(utcnow() + timedelta(seconds=700)) == {}


def test_cancelling_a_waiting_run_ends_it_canceled_at_once(rt: Runtime) -> None:
    # Given a run waiting for input
    run_id = _waiting_run(rt)
    # When it is cancelled
    reply = rt.call("POST", f"/v1/runs/{run_id}/cancel")
    assert reply.status == 200, reply.body
    # Then it ends canceled, with one run.canceled event, its request closed as canceled
    run = wait_for_run(run_id, timeout_s=10)
    assert run.status is RunStatus.canceled
    types = [event["type"] for event in _events(rt, run_id)]
    assert [t for t in types if t in ("run.completed", "run.failed", "run.canceled")] == ["run.canceled"]
    assert types[-1] == "run.canceled"
    (request,) = rt.call("GET", f"/v1/runs/{run_id}").body["data"]["input_requests"]
    assert request["state"] == "canceled"


def test_the_session_stays_busy_while_its_run_waits(rt: Runtime) -> None:
    session = str(uuid.uuid4())
    body = {"input": {"question": "Ann"}, "user_id": "u-1", "session_id": session}
    # Given a session whose run waits for input
    run_id = _waiting_run(rt, {**body, "background": True})
    # When another run of the session is created / Then 409 session_busy naming the waiting run
    busy = _error(rt.call("POST", "/v1/runs", body=body), 409, "session_busy")
    assert busy["details"]["active_run_id"] == run_id
    # When the run is answered and ends / Then the session takes the next run
    assert _answer(rt, run_id, _approve(run_id, approved=True)).status == 200
    wait_for_run(run_id)
    assert rt.call("POST", "/v1/runs", body={**body, "background": True}).status == 202
