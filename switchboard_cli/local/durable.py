"""Lambda durable functions on the local stack: AWS's local durable execution service, from its testing SDK
(``aws-durable-execution-sdk-python-testing``), running a function's handler in one of its execution
environments (a worker process, whose checkpoint calls come back to this service).

It is the same service emulation AWS ships for testing durable functions (checkpoints, replay, step retries,
waits, callbacks and their timeouts, invocation retries after a failed invocation, stop), with three things
the local stack adds:

- **names**: an execution is started by name (``DurableExecutionName``, the run's id), and starting a name
  again answers the execution that has it, as the Lambda API does. The stack's durable functions (the sync
  and the background executor) share one name index, where Lambda keeps one per function: a run started on
  one executor and then asked of the other answers its execution, where AWS would start a second one that
  finds the run claimed and ends at once (``runtime.runs.program``), so either way one execution runs it;
- **persistence**: every execution (its operations and checkpoints) lives in a store the state file saves
  (``dump``/``restore``), with the name index;
- **restart**: after a restart on the same state file, ``resume`` invokes every execution that had not ended
  (the SDK replays it: finished steps answer from their checkpoints, an interrupted node runs again as a new
  attempt). Timers the service armed before the restart are gone: a wait or a retry fires again when the
  replay reaches it; a callback's timeout is the sweeper's to enforce (see ``runtime.runs.sweeper``).

``drain`` waits for the invocations in flight (``SIGTERM``): after it, what ran is checkpointed and what did
not will resume. A handler that raises (a crash: anything escaping the durable SDK) fails its invocation, and
the service invokes the execution again after ``retry_backoff_s``, as Lambda retries a failed invocation.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

from aws_durable_execution_sdk_python.execution import (
    DurableExecutionInvocationInput,
    DurableExecutionInvocationInputWithClient,
    InitialExecutionState,
)
from aws_durable_execution_sdk_python.lambda_service import ErrorObject
from aws_durable_execution_sdk_python_testing.checkpoint.processor import CheckpointProcessor
from aws_durable_execution_sdk_python_testing.client import InMemoryServiceClient
from aws_durable_execution_sdk_python_testing.clock import RealClock
from aws_durable_execution_sdk_python_testing.exceptions import (
    IllegalStateException,
    InvalidParameterValueException,
    ResourceNotFoundException,
)
from aws_durable_execution_sdk_python_testing.execution import Execution, OperationPaginatorState
from aws_durable_execution_sdk_python_testing.executor import Executor
from aws_durable_execution_sdk_python_testing.invoker import InvokeResponse
from aws_durable_execution_sdk_python_testing.model import StartDurableExecutionInput
from aws_durable_execution_sdk_python_testing.scheduler import Scheduler
from aws_durable_execution_sdk_python_testing.stores.base import BaseExecutionStore
from aws_durable_execution_sdk_python_testing.worker.registry import ExecutionRegistry

Handler = Callable[[str, Any], Any]
"""(function logical id, the durable invocation input) → the handler's output (what Lambda would return)."""

ACCOUNT_ID = "123456789012"
DEFAULT_EXECUTION_TIMEOUT_S = 90_000
RETENTION_DAYS = 14
MAX_PAGE_BYTES = 6 * 1024 * 1024


class DurableFunctionError(RuntimeError):
    """A start the Lambda API would refuse (a name already started with another input)."""


class CallbackNotWaiting(RuntimeError):
    """The callback is unknown, already completed, or timed out."""


class _Store(BaseExecutionStore):
    """Executions as JSON (what the state file holds), under a lock; each save calls ``on_save`` (the stack
    marks its state dirty)."""

    def __init__(self) -> None:
        self._executions: dict[str, str] = {}
        self._lock = threading.Lock()
        self.on_save: Callable[[], None] = lambda: None

    def save(self, execution: Execution) -> None:
        document = json.dumps(execution.to_json_dict(), separators=(",", ":"))
        with self._lock:
            self._executions[execution.durable_execution_arn] = document
        self.on_save()

    def load(self, execution_arn: str) -> Execution:
        with self._lock:
            document = self._executions.get(execution_arn)
        if document is None:
            raise ResourceNotFoundException("Durable Execution does not exist")
        return Execution.from_json_dict(json.loads(document))

    def update(self, execution: Execution) -> None:
        self.save(execution)

    def list_all(self) -> list[Execution]:
        with self._lock:
            documents = list(self._executions.values())
        return [Execution.from_json_dict(json.loads(document)) for document in documents]

    def dump(self) -> dict[str, Any]:
        with self._lock:
            return {arn: json.loads(document) for arn, document in self._executions.items()}

    def restore(self, executions: dict[str, Any]) -> None:
        with self._lock:
            self._executions = {
                arn: json.dumps(document, separators=(",", ":")) for arn, document in executions.items()
            }


class _CountingClient(InMemoryServiceClient):
    """The in-memory checkpoint API, counting its calls (what Lambda's ``CheckpointDurableExecution`` and
    ``GetDurableExecutionState`` would be)."""

    def __init__(self, processor: CheckpointProcessor, registry: ExecutionRegistry) -> None:
        super().__init__(processor, registry)
        self.calls: Counter[str] = Counter()

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        self.calls["lambda.CheckpointDurableExecution"] += 1
        return super().checkpoint(*args, **kwargs)

    def get_execution_state(self, *args: Any, **kwargs: Any) -> Any:
        self.calls["lambda.GetDurableExecutionState"] += 1
        return super().get_execution_state(*args, **kwargs)


class _Invoker:
    """The service's invoker (the testing SDK's ``Invoker`` protocol): the handler runs through the stack,
    with the in-memory service client as its checkpoint API."""

    def __init__(self, handler: Handler, service_client: InMemoryServiceClient) -> None:
        self._handler = handler
        self._client = service_client
        self.running = 0
        self._lock = threading.Condition()

    def create_invocation_input(self, execution: Execution) -> DurableExecutionInvocationInput:
        paginator = OperationPaginatorState.pin(execution)
        operations, marker = paginator.page(None, MAX_PAGE_BYTES)
        return DurableExecutionInvocationInputWithClient(
            durable_execution_arn=execution.durable_execution_arn,
            checkpoint_token=execution.get_new_checkpoint_token(),
            initial_execution_state=InitialExecutionState(operations=operations, next_marker=marker or ""),
            updated_operation_ids=list(execution.updated_operation_ids),
            service_client=self._client,
        )

    def invoke(
        self, function_name: str, input: DurableExecutionInvocationInput, *_: Any, **__: Any
    ) -> InvokeResponse:
        request_id = str(uuid.uuid4())
        with self._lock:
            self.running += 1
        try:
            output = self._handler(function_name.split(":", 1)[0], input)
        except BaseException as crash:  # a crashed invocation, which the service retries
            sys.stderr.write(f"[switchboard local] {function_name} invocation failed: {crash!r}\n")
            raise RuntimeError(f"the invocation failed: {type(crash).__name__}") from None
        finally:
            with self._lock:
                self.running -= 1
                self._lock.notify_all()
        return InvokeResponse.from_output(output, request_id)

    def wait_idle(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self.running:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
        return True

    def update_endpoint(self, endpoint_url: str, region_name: str) -> None:
        del endpoint_url, region_name

    def inherit_endpoint(self, child_execution_arn: str, parent_execution_arn: str) -> None:
        del child_execution_arn, parent_execution_arn


class DurableService:
    """``invocation_timeout_s`` is the durable function's own ``Timeout``: an invocation still running after
    it is abandoned as Lambda stops one (its later checkpoints are refused) and the execution is invoked
    again, replaying from its checkpoints."""

    def __init__(
        self,
        handler: Handler,
        *,
        execution_timeouts: dict[str, int] | None = None,
        invocation_timeout_s: int = 900,
        retry_backoff_s: float = 5.0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._timeouts = dict(execution_timeouts or {})
        self._invocation_timeout_s = invocation_timeout_s
        self._retry_backoff_s = retry_backoff_s
        self._store = _Store()
        if on_change is not None:
            self._store.on_save = on_change
        self._names: dict[str, str] = {}
        self._names_lock = threading.Lock()
        self._scheduler = Scheduler()
        self._scheduler.start()
        self._clock = RealClock()
        self._registry = ExecutionRegistry(self._store, self._scheduler)
        self._processor = CheckpointProcessor(store=self._store, scheduler=self._scheduler, clock=self._clock)
        self.client = _CountingClient(self._processor, self._registry)
        self._invoker = _Invoker(handler, self.client)
        self._built: Executor | None = None
        self._build_lock = threading.Lock()

    @property
    def _executor(self) -> Executor:
        """The service itself, built on first use (after ``set_functions`` gave it the invocation timeout)."""
        with self._build_lock:
            if self._built is None:
                executor_class = type(
                    "LocalExecutor", (Executor,), {"RETRY_BACKOFF_SECONDS": self._retry_backoff_s}
                )
                self._built = executor_class(
                    store=self._store,
                    scheduler=self._scheduler,
                    invoker=self._invoker,
                    checkpoint_processor=self._processor,
                    invocation_timeout_seconds=self._invocation_timeout_s,
                    registry=self._registry,
                    clock=self._clock,
                )
                self._processor.add_execution_observer(self._built)
            return self._built

    def is_durable(self, function_id: str) -> bool:
        return function_id in self._timeouts

    def set_functions(
        self, execution_timeouts: dict[str, int], invocation_timeout_s: int | None = None
    ) -> None:
        """The durable functions (logical id → ``ExecutionTimeout``) and their invocations' timeout, once the
        template is read (before the first start or resume)."""
        self._timeouts = dict(execution_timeouts)
        if invocation_timeout_s is not None:
            self._invocation_timeout_s = invocation_timeout_s

    def start(self, function_id: str, execution_name: str, payload: dict[str, Any]) -> str:
        """The execution named ``execution_name``, started now or before: its ARN."""
        document = json.dumps(payload, separators=(",", ":"))
        with self._names_lock:
            known = self._names.get(execution_name)
            if known is not None:
                if self._store.load(known).start_input.input != document:
                    raise DurableFunctionError(f"{execution_name} was started with another input")
                return known
            start = StartDurableExecutionInput(
                account_id=ACCOUNT_ID,
                function_name=function_id,
                function_qualifier="live",
                execution_name=execution_name,
                execution_timeout_seconds=self._timeouts.get(function_id, DEFAULT_EXECUTION_TIMEOUT_S),
                execution_retention_period_days=RETENTION_DAYS,
                input=document,
            )
            arn = str(self._executor.start_execution(start).execution_arn)
            self._names[execution_name] = arn
            return arn

    def complete_callback(self, callback_id: str, result: bytes) -> None:
        self._callback(lambda: self._executor.send_callback_success(callback_id=callback_id, result=result))

    def fail_callback(self, callback_id: str, error_type: str, message: str) -> None:
        error = ErrorObject(message=message, type=error_type, data=error_type, stack_trace=None)
        self._callback(lambda: self._executor.send_callback_failure(callback_id=callback_id, error=error))

    @staticmethod
    def _callback(send: Callable[[], object]) -> None:
        try:
            send()
        except (ResourceNotFoundException, InvalidParameterValueException, IllegalStateException) as closed:
            raise CallbackNotWaiting(str(closed)) from None

    def stop(self, execution_arn: str, error_type: str, message: str) -> None:
        error = ErrorObject(message=message, type=error_type, data=None, stack_trace=None)
        try:
            self._executor.stop_execution(execution_arn, error)
        except ResourceNotFoundException:
            return

    def status(self, execution_arn: str) -> str | None:
        try:
            return self._store.load(execution_arn).current_status().value
        except ResourceNotFoundException:
            return None

    def function_of(self, execution_arn: str) -> str:
        """The logical id of the durable function the execution runs on."""
        return str(self._store.load(execution_arn).start_input.function_name)

    def running_or_ended(self, execution_name: str) -> str | None:
        """The ARN of the execution that has that name, if one was started."""
        with self._names_lock:
            return self._names.get(execution_name)

    def operations(self, execution_arn: str) -> list[dict[str, Any]]:
        """The execution's operations as the service holds them: ``{type, name, status, attempt}`` each."""
        execution = self._store.load(execution_arn)
        return [
            {
                "type": operation.operation_type.value,
                "name": operation.name,
                "status": operation.status.value,
                "attempt": operation.step_details.attempt if operation.step_details is not None else 0,
            }
            for operation in execution.operations
        ]

    def billed_operations(self, execution_arn: str) -> int:
        """Durable operations as Lambda meters them: the start, then each operation once, plus each step
        retry (its attempts after the first)."""
        found = self.operations(execution_arn)
        return sum(1 + (max(op["attempt"] - 1, 0) if op["type"] == "STEP" else 0) for op in found)

    def running_executions(self) -> list[str]:
        return [e.durable_execution_arn for e in self._store.list_all() if not e.is_complete]

    def resume(self) -> list[str]:
        """Invoke every execution that had not ended (after a restart): the SDK replays each."""
        resumed = []
        for execution in self._store.list_all():
            if execution.is_complete:
                continue
            execution.pause()
            execution.defer_invocation()
            self._store.save(execution)
            self._executor.resume_execution(execution.durable_execution_arn)
            resumed.append(execution.durable_execution_arn)
        return resumed

    def invocations_running(self) -> int:
        """Invocations in flight now (an execution that waits, for a callback or a timer, has none)."""
        return self._invoker.running

    def drain(self, timeout_s: float) -> bool:
        """Wait until no invocation runs (True), or ``timeout_s`` passed with some still running (False)."""
        return self._invoker.wait_idle(timeout_s)

    def dump(self) -> dict[str, Any]:
        with self._names_lock:
            names = dict(self._names)
        return {"executions": self._store.dump(), "names": names}

    def restore(self, data: dict[str, Any]) -> None:
        self._store.restore(dict(data.get("executions") or {}))
        with self._names_lock:
            self._names = dict(data.get("names") or {})

    def close(self, *, abandon: bool = False) -> None:
        """Stop the service. ``abandon``: invocations still run (a drain that timed out); they are abandoned
        as Lambda abandons a stopped invocation, and their failures to checkpoint are not reported."""
        if abandon:
            logging.getLogger("aws_durable_execution_sdk_python").setLevel(logging.CRITICAL)
        if self._built is not None:
            self._built.shutdown()
        self._registry.shutdown()
        self._scheduler.stop()
