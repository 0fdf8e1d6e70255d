"""Which executor runs a run, on moto and the local durable execution service: sync and stream runs start on
the sync executor (``ExecutorFunction``), background runs (queued, or started directly when the queue refuses
them) and sync runs the sync executor could not take on the background executor
(``BackgroundExecutorFunction``, its own reserved concurrency), so a saturated background executor neither
delays nor refuses a sync run. Each execution is the one its run records (``execution_arn``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from switchboard.domain.runs import Run, RunStatus
from switchboard.invoker import InvokeThrottled
from switchboard.runtime.runs import start
from switchboard.runtime.runs.creation import RunRequest
from switchboard.settings import get_settings
from switchboard.store import apps
from switchboard.store import runs as store_runs
from tests.integration.apps_runtime import Runtime, app_runtime, set_limits
from tests.integration.conftest import World
from tests.support.invokers import BACKGROUND_EXECUTOR, EXECUTOR, wait_for_run
from tests.support.run_states import TESTER

Start = Callable[[str, str, dict[str, Any]], str]


@pytest.fixture
def rt(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with app_runtime(world, monkeypatch) as runtime:
        yield runtime


def _executor_of(rt: Runtime, run_id: str) -> str:
    """The durable function whose execution the run records as its own, once that execution has ended
    (after its run's end and all that follows it)."""
    assert rt.invoker.wait_for_execution(run_id) == "SUCCEEDED"
    run = store_runs.get_run(run_id)
    assert run is not None
    assert run.execution_arn, run
    return rt.invoker.durable.function_of(run.execution_arn)


def _throttling(rt: Runtime, function_id: str) -> Start:
    """The invoker's start, refused for ``function_id`` as Lambda's Invoke API refuses a start it cannot
    take now (``TooManyRequestsException``)."""
    real = rt.invoker.start_execution

    def start_execution(function_name: str, execution_name: str, payload: dict[str, Any]) -> str:
        if function_name.split(":", 1)[0] == function_id:
            raise InvokeThrottled("the executor cannot be started now; retry shortly")
        return real(function_name, execution_name, payload)

    return start_execution


def test_a_sync_run_runs_on_the_sync_executor(rt: Runtime) -> None:
    # Given a deployed App / When a synchronous run is created
    reply = rt.call("POST", "/v1/runs", body={"input": {"question": "now"}})

    # Then it answers 200 with the finished run, whose execution is the sync executor's
    assert reply.status == 200, reply.body
    assert (reply.body["data"]["status"], reply.body["data"]["mode"]) == ("completed", "sync")
    assert reply.body["data"]["output"]["answer"] == "now!"
    assert _executor_of(rt, reply.body["data"]["id"]) == EXECUTOR


def test_a_stream_run_runs_on_the_sync_executor(rt: Runtime) -> None:
    # Given a deployed App
    app = apps.get_app(rt.app_id)
    assert app is not None

    # When a run is started to be streamed (its stream then follows it)
    run = start(app, RunRequest(input={"question": "live"}), TESTER, "stream")

    # Then it ends completed on the sync executor
    assert wait_for_run(run.id).status is RunStatus.completed
    assert _executor_of(rt, run.id) == EXECUTOR


def test_a_background_run_runs_on_the_background_executor(rt: Runtime) -> None:
    # Given a deployed App / When a background run is created
    reply = rt.call("POST", "/v1/runs", body={"input": {"question": "later"}, "background": True})
    assert reply.status == 202, reply.body
    assert rt.queued_run_ids() == [reply.body["data"]["id"]]

    # Then the dispatcher starts it from the queue on the background executor, where it completes
    rt.drain()
    run: Run = wait_for_run(reply.body["data"]["id"])
    assert (run.status, run.output) == (
        RunStatus.completed,
        {"answer": "later!", "file": None, "files": None},
    )
    assert _executor_of(rt, run.id) == BACKGROUND_EXECUTOR


def test_a_background_run_the_queue_refuses_starts_on_the_background_executor(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a run queue that refuses messages
    with monkeypatch.context() as patched:
        patched.setenv("RUN_QUEUE_URL", rt.queue_url + "-missing")
        get_settings.cache_clear()
        # When a background run is created
        reply = rt.call("POST", "/v1/runs", body={"input": {"question": "direct"}, "background": True})
    get_settings.cache_clear()

    # Then it is started directly, still on the background executor, never on the sync one
    assert reply.status == 202, reply.body
    assert rt.queued_run_ids() == []
    assert wait_for_run(reply.body["data"]["id"]).status is RunStatus.completed
    assert _executor_of(rt, reply.body["data"]["id"]) == BACKGROUND_EXECUTOR


def test_a_saturated_background_executor_neither_delays_nor_refuses_a_sync_run(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a background executor that takes no start now (saturated: Lambda throttles every start on it)
    # and a background run waiting in the queue for it
    with monkeypatch.context() as patched:
        patched.setattr(rt.invoker, "start_execution", _throttling(rt, BACKGROUND_EXECUTOR))
        queued = rt.call("POST", "/v1/runs", body={"input": {"question": "waits"}, "background": True})
        assert queued.status == 202, queued.body
        background_id = queued.body["data"]["id"]

        # When the dispatcher tries to start it / Then the start is refused and the invocation fails (the
        # whole batch failed), so the message stays in the queue for its next receive
        with pytest.raises(BatchProcessingError, match="All records failed processing"):
            rt.dispatch_once()
        assert rt.queued_run_ids() == [background_id]
        waiting = store_runs.get_run(background_id)
        assert waiting is not None
        assert waiting.status is RunStatus.created

        # When a synchronous run is created meanwhile
        reply = rt.call("POST", "/v1/runs", body={"input": {"question": "meanwhile"}})

        # Then it is neither queued nor refused: 200, finished on the sync executor
        assert reply.status == 200, reply.body
        assert (reply.body["data"]["status"], reply.body["data"]["output"]["answer"]) == (
            "completed",
            "meanwhile!",
        )
        assert _executor_of(rt, reply.body["data"]["id"]) == EXECUTOR
        assert rt.queued_run_ids() == [background_id]

    # And once the background executor has room again, the queued run completes there
    rt.drain()
    assert wait_for_run(background_id).status is RunStatus.completed
    assert _executor_of(rt, background_id) == BACKGROUND_EXECUTOR


def test_a_sync_run_the_sync_executor_cannot_take_runs_on_the_background_executor(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a sync executor that throttles every start, and an App that waits 1 s
    set_limits(rt, sync_wait_seconds=1)
    with monkeypatch.context() as patched:
        patched.setattr(rt.invoker, "start_execution", _throttling(rt, EXECUTOR))
        # When a synchronous run is created
        reply = rt.call("POST", "/v1/runs", body={"input": {"question": "handed"}})

    # Then it is handed to the run queue (202), and the dispatcher runs it on the background executor
    assert reply.status == 202, reply.body
    assert rt.queued_run_ids() == [reply.body["data"]["id"]]
    rt.drain()
    assert wait_for_run(reply.body["data"]["id"]).status is RunStatus.completed
    assert _executor_of(rt, reply.body["data"]["id"]) == BACKGROUND_EXECUTOR
