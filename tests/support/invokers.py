"""A function invoker for tests: routes Lambda-to-Lambda calls to handlers loaded from functions/, and runs
the executor's durable executions through the local durable execution service (``switchboard_cli.local
.durable``), as the local stack does. Each Lambda call it routes is judged like an AWS call
(``tests.support.aws_calls``): the caller's role must allow it on the template."""

from __future__ import annotations

import json
import time
from typing import Any

from switchboard.invoker import CallbackClosed
from switchboard_cli.local.durable import CallbackNotWaiting, DurableService
from tests.support.aws_calls import CHECK
from tests.support.stack import LambdaContextStub, load_function

EXECUTOR = "ExecutorFunction"
BACKGROUND_EXECUTOR = "BackgroundExecutorFunction"
DEFAULT_ROUTES = {"CredentialsFunction": "credentials", EXECUTOR: "executor", BACKGROUND_EXECUTOR: "executor"}


class HandlerInvoker:
    """Calls ``functions/<directory>/app.py`` for a function name, JSON in and JSON out like Lambda; starts
    the executors' (sync and background) durable executions by name. ``close()`` stops the durable service."""

    def __init__(
        self,
        routes: dict[str, str] | None = None,
        *,
        retry_backoff_s: float = 0.2,
        invocation_timeout_s: int = 900,
    ) -> None:
        self._routes = {**DEFAULT_ROUTES, **(routes or {})}
        self._invocation_timeout_s = invocation_timeout_s
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.started: list[str] = []
        self._retry_backoff_s = retry_backoff_s
        self._durable: DurableService | None = None

    @property
    def durable(self) -> DurableService:
        """The local durable execution service, started on first use."""
        if self._durable is None:
            self._durable = DurableService(
                self._durable_invocation,
                execution_timeouts={EXECUTOR: 90_000, BACKGROUND_EXECUTOR: 90_000},
                invocation_timeout_s=self._invocation_timeout_s,
                retry_backoff_s=self._retry_backoff_s,
            )
        return self._durable

    def route(self, function_name: str, directory: str) -> None:
        """Route ``function_name`` to ``functions/<directory>`` too."""
        self._routes[function_name] = directory

    def invoke(self, function_name: str, payload: dict[str, Any]) -> Any:
        self.calls.append((function_name, payload))
        CHECK.on_call("lambda", "Invoke", {"FunctionName": function_name})
        handler = load_function(self._routes[_function(function_name)]).lambda_handler
        return json.loads(json.dumps(handler(json.loads(json.dumps(payload)), LambdaContextStub())))

    def start_execution(self, function_name: str, execution_name: str, payload: dict[str, Any]) -> str:
        self.started.append(execution_name)
        CHECK.on_call("lambda", "Invoke", {"FunctionName": function_name})
        return self.durable.start(_function(function_name), execution_name, payload)

    def complete_callback(self, callback_id: str, result: dict[str, Any]) -> None:
        CHECK.on_call("lambda", "SendDurableExecutionCallbackSuccess", {})
        try:
            self.durable.complete_callback(callback_id, json.dumps(result).encode())
        except CallbackNotWaiting:
            raise CallbackClosed("the input request is not waiting any more", code="input_closed") from None

    def fail_callback(self, callback_id: str, error_type: str, message: str) -> None:
        CHECK.on_call("lambda", "SendDurableExecutionCallbackFailure", {})
        try:
            self.durable.fail_callback(callback_id, error_type, message)
        except CallbackNotWaiting:
            raise CallbackClosed("the input request is not waiting any more", code="input_closed") from None

    def stop_execution(self, execution_arn: str, error_type: str, message: str) -> None:
        CHECK.on_call("lambda", "StopDurableExecution", {})
        self.durable.stop(execution_arn, error_type, message)

    def execution_status(self, execution_arn: str) -> str | None:
        CHECK.on_call("lambda", "GetDurableExecution", {})
        return self.durable.status(execution_arn)

    def wait_for_execution(self, execution_name: str, timeout_s: float = 30.0) -> str:
        """The execution's final status once it has ended (after its run's end and all that follows it)."""
        deadline = time.monotonic() + timeout_s
        while True:
            arn = self.durable.running_or_ended(execution_name)
            status = self.durable.status(arn) if arn is not None else None
            if status is not None and status != "RUNNING":
                return status
            if time.monotonic() >= deadline:
                raise AssertionError(f"the execution {execution_name} is {status}, still not ended")
            time.sleep(0.02)

    def close(self) -> None:
        if self._durable is not None:
            self._durable.close()

    def _durable_invocation(self, function_id: str, invocation: Any) -> Any:
        handler = load_function(self._routes[function_id]).lambda_handler
        return handler(invocation, LambdaContextStub(self._invocation_timeout_s))


def _function(name: str) -> str:
    """``Name``, ``Name:qualifier`` or an ARN → the logical id."""
    if name.startswith("arn:"):
        name = name.split(":function:", 1)[-1]
    return name.split(":", 1)[0]


def wait_for_run(run_id: str, *statuses: str, timeout_s: float = 30.0) -> Any:
    """The run once its status is one of ``statuses`` (default: terminal), read from the store."""
    from switchboard.domain.runs import TERMINAL
    from switchboard.store import runs

    wanted = set(statuses) or {status.value for status in TERMINAL}
    deadline = time.monotonic() + timeout_s
    while True:
        run = runs.get_run(run_id)
        if run is not None and run.status.value in wanted:
            return run
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"run {run_id} is {run.status.value if run else 'missing'}, not {sorted(wanted)}"
            )
        time.sleep(0.02)
