"""The local durable execution service (``switchboard_cli.local.durable``), with a tiny durable handler: names
start one execution, executions survive a dump and a restore (a restart) and resume from their checkpoints,
an invocation past its timeout is abandoned and the execution invoked again, callbacks that do not wait are
refused, and operations are counted as Lambda bills them."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from aws_durable_execution_sdk_python import DurableContext, StepContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration, StepConfig, StepSemantics
from aws_durable_execution_sdk_python.retries import RetryDecision

from switchboard_cli.local.durable import CallbackNotWaiting, DurableFunctionError, DurableService
from tests.support.stack import LambdaContextStub

FUNCTION = "Worker"


def _retry_interrupted(error: Exception, attempt: int) -> RetryDecision:
    return RetryDecision.retry(Duration.from_seconds(1)) if attempt <= 2 else RetryDecision.no_retry()


ONCE_PER_ATTEMPT = StepConfig(
    step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY, retry_strategy=_retry_interrupted
)


class Worker:
    """A durable handler: step ``first``, then step ``slow`` (which blocks while ``hold`` is set), then
    ``last``; it counts how often each step's body ran."""

    def __init__(self) -> None:
        self.ran: Counter[str] = Counter()
        self.hold = threading.Event()
        self.entered = threading.Event()

    def __call__(self, function_id: str, invocation: Any) -> Any:
        assert function_id == FUNCTION

        @durable_execution
        def execution(payload: dict[str, Any], context: DurableContext) -> dict[str, Any]:
            first = context.step(self._step("first"), name="first")
            slow = context.step(self._slow, name="slow", config=ONCE_PER_ATTEMPT)
            return {"first": first, "slow": slow, "last": context.step(self._step("last"), name="last")}

        return execution(invocation, LambdaContextStub())  # type: ignore[arg-type]

    def _step(self, name: str) -> Any:
        def body(step: StepContext) -> str:
            del step
            self.ran[name] += 1
            return name

        return body

    def _slow(self, step: StepContext) -> int:
        self.ran["slow"] += 1
        self.entered.set()
        while self.hold.is_set():
            time.sleep(0.01)
        return int(step.attempt)


@pytest.fixture
def worker() -> Worker:
    return Worker()


@pytest.fixture
def service(worker: Worker) -> Iterator[DurableService]:
    started = DurableService(worker, execution_timeouts={FUNCTION: 600}, retry_backoff_s=0.05)
    yield started
    started.close()


def _ended(service: DurableService, arn: str, timeout_s: float = 20) -> str:
    deadline = time.monotonic() + timeout_s
    while (status := service.status(arn)) == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.02)
    assert status is not None
    return status


def test_a_name_starts_one_execution_and_another_input_is_refused(
    service: DurableService, worker: Worker
) -> None:
    arn = service.start(FUNCTION, "run-1", {"run_id": "run-1"})
    assert service.start(FUNCTION, "run-1", {"run_id": "run-1"}) == arn
    with pytest.raises(DurableFunctionError):
        service.start(FUNCTION, "run-1", {"run_id": "other"})
    assert _ended(service, arn) == "SUCCEEDED"
    assert worker.ran == Counter({"first": 1, "slow": 1, "last": 1})
    assert service.running_or_ended("run-1") == arn
    assert service.function_of(arn) == FUNCTION
    assert service.running_or_ended("run-2") is None
    # Billed: the start, then each of the three steps once
    assert service.billed_operations(arn) == 4
    assert {op["name"] for op in service.operations(arn)} >= {"first", "slow", "last"}


def test_an_execution_survives_a_restart_and_resumes_from_its_checkpoints(worker: Worker) -> None:
    # Given an execution whose second step is in progress when its service stops (the process dies)
    worker.hold.set()
    first = DurableService(worker, execution_timeouts={FUNCTION: 600}, retry_backoff_s=0.05)
    arn = first.start(FUNCTION, "run-1", {"run_id": "run-1"})
    assert worker.entered.wait(10)
    time.sleep(0.2)  # the step's start is checkpointed
    saved = first.dump()
    first.close(abandon=True)
    worker.hold.clear()
    # When a new service restores what was saved and resumes what had not ended
    second = DurableService(worker, execution_timeouts={FUNCTION: 600}, retry_backoff_s=0.05)
    try:
        second.restore(saved)
        assert second.resume() == [arn]
        # Then the execution completes: the finished step was not run again, the interrupted one ran again as
        # its second attempt
        assert _ended(second, arn) == "SUCCEEDED"
        steps = {op["name"]: op["attempt"] for op in second.operations(arn) if op["type"] == "STEP"}
        assert steps == {"first": 1, "slow": 2, "last": 1}
        assert worker.ran["first"] == 1
        assert second.start(FUNCTION, "run-1", {"run_id": "run-1"}) == arn
    finally:
        second.close()


def test_an_invocation_past_its_timeout_is_abandoned_and_the_execution_invoked_again(worker: Worker) -> None:
    # Given invocations that may last 1 s, and a step that takes longer the first time
    worker.hold.set()
    service = DurableService(
        worker, execution_timeouts={FUNCTION: 600}, invocation_timeout_s=1, retry_backoff_s=0.05
    )
    try:
        arn = service.start(FUNCTION, "run-1", {"run_id": "run-1"})
        assert worker.entered.wait(10)
        time.sleep(1.5)
        worker.hold.clear()
        # Then the execution is invoked again and completes, the slow step on its second attempt
        assert _ended(service, arn) == "SUCCEEDED"
        steps = {op["name"]: op["attempt"] for op in service.operations(arn) if op["type"] == "STEP"}
        assert steps["slow"] == 2
        assert worker.ran["first"] == 1
    finally:
        service.close()


def test_a_callback_that_does_not_wait_is_refused(service: DurableService) -> None:
    with pytest.raises(CallbackNotWaiting):
        service.complete_callback("not-a-callback", b"{}")
    with pytest.raises(CallbackNotWaiting):
        service.fail_callback("not-a-callback", "run_canceled", "the run was canceled")


def test_stopping_an_unknown_execution_does_nothing(service: DurableService) -> None:
    service.stop("arn:aws:lambda:us-east-1:123456789012:function:Worker:live/durable-execution/x/y", "t", "m")
    assert (
        service.status("arn:aws:lambda:us-east-1:123456789012:function:Worker:live/durable-execution/x/y")
        is None
    )
