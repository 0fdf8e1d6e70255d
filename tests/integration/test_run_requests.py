"""The use cases of the two routes that create a run (``runs.create_run``, ``runs.invoke``), called without
HTTP on moto: the option rules refuse before anything exists, the answer's shape (202 with ``Location`` in
the caller's addressing form, an async invoke's ``accepted``), the run token shown once, and a replay that
creates nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from switchboard.auth.authenticate import authenticate
from switchboard.auth.principal import Principal
from switchboard.domain.errors import BadRequest
from switchboard.domain.models import App, TokenKind
from switchboard.runtime import runs
from switchboard.store import apps, run_listing
from tests.integration.apps_runtime import Runtime, app_runtime
from tests.integration.conftest import World

RUNS_URL = "/apps/app-example/v1/runs"


@pytest.fixture
def rt(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with app_runtime(world, monkeypatch) as runtime:
        yield runtime


def _app(rt: Runtime) -> App:
    app = apps.get_app(rt.app_id)
    assert app is not None
    return app


def _key(rt: Runtime) -> Principal:
    return authenticate(f"Bearer {rt.key}", TokenKind.access_key)


def _stored_run_ids(rt: Runtime) -> list[str]:
    found, _ = run_listing.list_runs(rt.app_id, run_listing.RunFilter(), 50, None)
    return [run.id for run in found]


def test_stream_with_background_is_refused_before_a_run_exists_and_background_alone_is_queued(
    rt: Runtime,
) -> None:
    # Given a deployed App and a caller with its access key
    caller = runs.Caller(principal=_key(rt), runs_url=RUNS_URL)
    # When a run is asked both streamed and in the background
    with pytest.raises(BadRequest) as refused:
        runs.create_run(
            _app(rt), runs.NewRun(input={"question": "hi"}, stream=True, background=True), caller, {}
        )
    # Then it is refused as invalid options, and no run was created or queued
    assert (refused.value.status, refused.value.error_code) == (400, "invalid_options")
    assert _stored_run_ids(rt) == []
    assert rt.queued_run_ids() == []

    # When the same run is asked in the background only
    answer = runs.create_run(_app(rt), runs.NewRun(input={"question": "hi"}, background=True), caller, {})
    # Then the answer is 202 with the run, polled where the caller's addressing form says, and it is queued
    run_id = answer.response.body["data"]["id"]
    assert (answer.response.status, answer.replayed, answer.run_token) == (202, False, None)
    assert answer.response.headers == {"Location": f"{RUNS_URL}/{run_id}"}
    assert answer.response.body["data"]["status"] == "created"
    assert rt.queued_run_ids() == [run_id]


def test_an_anonymous_callers_run_token_is_shown_once_and_a_replay_creates_nothing(rt: Runtime) -> None:
    # Given an anonymous caller asking for a background run with an Idempotency-Key
    new = runs.NewRun(input={"question": "hi"}, background=True)
    request = {"input": {"question": "hi"}, "background": True}
    first = runs.create_run(_app(rt), new, runs.Caller(principal=None, idempotency_key="k-1"), request)
    assert first.run_token is not None
    assert first.run_token.startswith("sb_rt_")

    # When the same request is retried with the same key and the run token it was shown
    retry = runs.Caller(principal=None, run_token=first.run_token, idempotency_key="k-1")
    again = runs.create_run(_app(rt), new, retry, request)

    # Then it is a replay of the same run, without the token, and still only one run exists
    assert (again.replayed, again.run_token) == (True, None)
    assert again.response.body["data"]["id"] == first.response.body["data"]["id"]
    assert again.response.headers["Idempotent-Replayed"] == "true"
    assert _stored_run_ids(rt) == [first.response.body["data"]["id"]]


def test_callbacks_without_async_are_refused_and_an_async_invoke_is_accepted_at_once(rt: Runtime) -> None:
    # Given a deployed App and a caller with its access key
    caller = runs.Caller(principal=_key(rt), runs_url=RUNS_URL)
    callbacks = [{"url": "https://hooks.example.test/done"}]
    # When a synchronous invoke asks for callbacks
    with pytest.raises(BadRequest) as refused:
        runs.invoke(_app(rt), runs.Invocation(input={"question": "hi"}, callbacks=callbacks), caller, {})
    # Then it is refused, and no run was created
    assert (refused.value.status, refused.value.error_code) == (400, "callbacks_need_async")
    assert _stored_run_ids(rt) == []

    # When the invoke is asynchronous (no callbacks)
    answer = runs.invoke(_app(rt), runs.Invocation(input={"question": "hi"}, asynchronous=True), caller, {})
    # Then it is accepted at once: 202 {id, status: accepted} with where to poll it, and the run is queued
    run_id = answer.response.body["data"]["id"]
    assert answer.response.status == 202
    assert answer.response.body == {"data": {"id": run_id, "status": "accepted"}}
    assert answer.response.headers == {"Location": f"{RUNS_URL}/{run_id}"}
    assert rt.queued_run_ids() == [run_id]
