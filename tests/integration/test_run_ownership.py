"""Runs belong to their caller (issue 12, point 5), through the Apps handler on moto: on a public App a run
created with an access key is reached only with a key, an anonymous run only with the run token shown once
when it was created (``X-Run-Token``), and an end user's requirement status needs a key on every App."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from switchboard.auth.tokens import hash_token
from switchboard.store import runs as store_runs
from tests.integration.apps_runtime import Runtime, app_runtime
from tests.integration.conftest import Reply, World

RUN_ROUTES = [
    ("GET", ""),
    ("GET", "/events"),
    ("GET", "/stream"),
    ("GET", "/deliveries"),
    ("POST", "/cancel"),
    ("POST", "/input"),
]
INPUT_ANSWER = {"type": "approval", "data": {"request_id": "review", "approved": True}}


@pytest.fixture
def rt(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with app_runtime(world, monkeypatch) as runtime:
        reply = world.call(
            "PATCH", f"/v1/apps/{runtime.app_id}", token=world.admin.token, body={"access": "public"}
        )
        assert reply.status == 200, reply.body
        yield runtime


def _on_run(rt: Runtime, method: str, suffix: str, run_id: str, **kwargs: Any) -> Reply:
    body = INPUT_ANSWER if suffix == "/input" else None
    return rt.call(method, f"/v1/runs/{run_id}{suffix}", body=body, **kwargs)


def _altered(token: str) -> str:
    """The token with its last character changed (never to itself)."""
    return token[:-1] + ("B" if token.endswith("A") else "A")


def _refused(reply: Reply, code: str) -> None:
    assert (reply.status, reply.body["error"]["code"]) == (401, code), reply.body
    assert set(reply.body) == {"error"}


def _allowed(reply: Reply, suffix: str) -> None:
    """The guard let the caller through: the route's own answer (an ended run has no input to answer)."""
    if suffix == "/input":
        assert (reply.status, reply.body["error"]["code"]) == (409, "run_not_awaiting_input"), reply.body
    else:
        assert reply.status == 200, (suffix, reply.status, reply.body)


def _anonymous_run(rt: Runtime) -> tuple[str, str]:
    created = rt.call("POST", "/v1/runs", token=None, body={"input": {"question": "mine"}})
    assert created.status == 200, created.body
    return created.body["data"]["id"], created.body["data"]["run_token"]


def test_a_run_created_with_a_key_on_a_public_app_is_reached_only_with_a_key(rt: Runtime) -> None:
    # Given a public App and a run an access key created for an end user
    created = rt.call("POST", "/v1/runs", body={"input": {"question": "private"}, "user_id": "u-1"})
    assert created.status == 200, created.body
    assert "run_token" not in created.body["data"]
    assert "x-run-token" not in created.headers
    run_id = created.body["data"]["id"]
    # And the token of another (anonymous) run
    _, other_token = _anonymous_run(rt)
    for method, suffix in RUN_ROUTES:
        # When an anonymous caller reaches it on every run route, with no token or another run's token
        # Then it is refused and learns nothing of the run
        _refused(_on_run(rt, method, suffix, run_id, token=None), "missing_token")
        _refused(
            _on_run(rt, method, suffix, run_id, token=None, headers={"X-Run-Token": other_token}),
            "invalid_run_token",
        )
        # And the App's access key still acts on it
        _allowed(_on_run(rt, method, suffix, run_id), suffix)


def test_an_anonymous_run_opens_with_its_token_shown_once_and_kept_as_a_hash(rt: Runtime) -> None:
    # Given an anonymous caller of a public App
    # When it creates a run
    created = rt.call("POST", "/v1/runs", token=None, body={"input": {"question": "mine"}})
    # Then the answer shows the run token, in the body and in the X-Run-Token header
    assert created.status == 200, created.body
    run_id, run_token = created.body["data"]["id"], created.body["data"]["run_token"]
    assert run_token.startswith("sb_rt_")
    assert created.headers["x-run-token"] == run_token
    # And the run keeps only its hash
    stored = store_runs.get_run(run_id)
    assert stored is not None
    assert stored.run_token_hash == hash_token(run_token)
    assert run_token not in stored.model_dump_json()
    # And with the token the caller acts on its run on every run route; without it, or with a wrong one, not
    for method, suffix in RUN_ROUTES:
        _allowed(_on_run(rt, method, suffix, run_id, token=None, headers={"X-Run-Token": run_token}), suffix)
        _refused(_on_run(rt, method, suffix, run_id, token=None), "missing_token")
        _refused(
            _on_run(rt, method, suffix, run_id, token=None, headers={"X-Run-Token": _altered(run_token)}),
            "invalid_run_token",
        )
    # And reading the run never shows the token again
    read = rt.call("GET", f"/v1/runs/{run_id}", token=None, headers={"X-Run-Token": run_token})
    assert read.status == 200, read.body
    assert "run_token" not in read.body["data"]
    assert "x-run-token" not in read.headers


def test_a_run_token_opens_only_its_own_run(rt: Runtime) -> None:
    # Given two anonymous runs of a public App
    first_id, first_token = _anonymous_run(rt)
    second_id, second_token = _anonymous_run(rt)
    # When each token is presented for the other run, or for a run that does not exist
    # Then each is refused with the same answer
    for run_id, token in [(first_id, second_token), (second_id, first_token), ("run-unknown", first_token)]:
        _refused(
            rt.call("GET", f"/v1/runs/{run_id}", token=None, headers={"X-Run-Token": token}),
            "invalid_run_token",
        )
    # And each opens its own
    for run_id, token in [(first_id, first_token), (second_id, second_token)]:
        reply = rt.call("GET", f"/v1/runs/{run_id}", token=None, headers={"X-Run-Token": token})
        assert (reply.status, reply.body["data"]["id"]) == (200, run_id)


def test_a_direct_invoke_shows_an_anonymous_caller_its_run_token(rt: Runtime) -> None:
    # Given a public App
    # When an anonymous caller invokes it asynchronously
    accepted = rt.call(
        "POST", "/", token=None, body={"input": {"question": "later"}, "execution_mode": "async"}
    )
    # Then the accepted answer carries the run's token, which opens the run
    assert accepted.status == 202, accepted.body
    assert accepted.body["data"]["status"] == "accepted"
    run_id, run_token = accepted.body["data"]["id"], accepted.body["data"]["run_token"]
    assert accepted.headers["x-run-token"] == run_token
    rt.drain()
    read = rt.call("GET", f"/v1/runs/{run_id}", token=None, headers={"X-Run-Token": run_token})
    assert (read.status, read.body["data"]["status"]) == (200, "completed"), read.body
    _refused(rt.call("GET", f"/v1/runs/{run_id}", token=None), "missing_token")
    # And with a key, no token is issued
    keyed = rt.call("POST", "/", body={"input": {"question": "keyed"}, "execution_mode": "async"})
    assert keyed.status == 202, keyed.body
    assert "run_token" not in keyed.body["data"]


def test_a_streamed_anonymous_run_shows_its_token_in_the_header(rt: Runtime) -> None:
    # Given a public App
    # When an anonymous caller creates a streamed run
    streamed = rt.call("POST", "/v1/runs", token=None, body={"input": {"question": "live"}, "stream": True})
    # Then the stream's answer carries the run token in X-Run-Token, which opens the run
    assert streamed.status == 200, streamed.raw
    assert streamed.headers["content-type"].startswith("text/event-stream")
    run_token = streamed.headers["x-run-token"]
    run_id = rt.call("GET", "/v1/runs").body["data"][0]["id"]
    read = rt.call("GET", f"/v1/runs/{run_id}", token=None, headers={"X-Run-Token": run_token})
    assert (read.status, read.body["data"]["status"]) == (200, "completed"), read.body
    _refused(rt.call("GET", f"/v1/runs/{run_id}/stream", token=None), "missing_token")


def test_an_idempotent_replay_never_shows_the_run_token_again(rt: Runtime) -> None:
    # Given an anonymous run created with an Idempotency-Key
    request = {"input": {"question": "once"}}
    headers = {"Idempotency-Key": "ownership-replay-1"}
    first = rt.call("POST", "/v1/runs", token=None, body=request, headers=headers)
    assert first.status == 200, first.body
    run_token = first.body["data"]["run_token"]
    # When the same request is replayed without the token
    # Then it is refused: the replay would show another caller the run
    _refused(rt.call("POST", "/v1/runs", token=None, body=request, headers=headers), "missing_token")
    # And with the token it answers the run, without the token
    replay = rt.call(
        "POST", "/v1/runs", token=None, body=request, headers={**headers, "X-Run-Token": run_token}
    )
    assert (replay.status, replay.headers["idempotent-replayed"]) == (200, "true"), replay.body
    assert replay.body["data"]["id"] == first.body["data"]["id"]
    assert "run_token" not in replay.body["data"]
    assert "x-run-token" not in replay.headers


def test_requirement_status_needs_a_key_even_on_a_public_app(rt: Runtime) -> None:
    # Given a public App
    # When an anonymous caller asks whether an end user has linked
    anonymous = rt.call("GET", "/v1/requirements/status", token=None, query={"user_id": "u-1"})
    # Then it is refused
    _refused(anonymous, "missing_token")
    # And the App's access key gets the status
    keyed = rt.call("GET", "/v1/requirements/status", query={"user_id": "u-1"})
    assert keyed.status == 200, keyed.body
    assert keyed.body["data"] == {"status": "complete", "requirements": [], "unsatisfied": []}
