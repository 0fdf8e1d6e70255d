"""The template's functions as the local stack runs them: spec, execution environments, Lambda context.

Execution environments. Lambda runs one invocation at a time per execution environment and scales a function
by adding environments, each a process of its own; handler modules rely on that and keep per-request state
on module-level objects (a Powertools resolver's request context, its metrics, its log keys). Locally too,
each environment is a worker process (``workers.py``) that imports the function's handler once, with the
function's code directory first on ``sys.path``, and keeps it warm. Each function gets a small pool of them:
an invocation takes an idle one, a new one is started (a cold start) when all are busy, up to
``MAX_ENVIRONMENTS``; beyond that an invocation waits for one to free up, at most the function's timeout. So
one long invocation (an event stream) never holds up the function's other requests, and two invocations
never share anything a process holds. An invocation that runs past the function's timeout has its process
killed (its environment is replaced by the next cold start), as on Lambda. A handler that fails to import
fails every call like a Lambda init error.
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchboard.streaming import StreamTransport
from switchboard_cli.local.template import Template, references
from switchboard_cli.local.workers import WorkerProcess, WorkerSetup, stack_caller, start_forkserver

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
MAX_ENVIRONMENTS = 8
"""Concurrent invocations of one function (its local "reserved concurrency")."""

current_function: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "switchboard_local_current_function", default=None
)
"""The logical id of the function whose handler is running in this context (None outside any)."""


@contextmanager
def running(function_id: str) -> Iterator[None]:
    token = current_function.set(function_id)
    try:
        yield
    finally:
        current_function.reset(token)


@dataclass(frozen=True)
class HttpApiEvent:
    name: str
    api_id: str
    path: str
    method: str


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    memory_mb: int
    timeout_s: int
    environment: dict[str, str]
    role_references: frozenset[str]
    http_events: tuple[HttpApiEvent, ...]
    durable_timeout_s: int | None = None
    """A durable function's ``DurableConfig.ExecutionTimeout``; None for an ordinary function."""


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def function_specs(template: Template) -> dict[str, FunctionSpec]:
    """Each ``AWS::Serverless::Function`` with Globals applied and intrinsics resolved."""
    globals_ = template.function_globals
    specs: dict[str, FunctionSpec] = {}
    for logical_id, resource in template.resources_of_type(SERVERLESS_FUNCTION).items():
        properties = resource.get("Properties", {})
        merged = {**globals_, **properties}
        variables = {
            **globals_.get("Environment", {}).get("Variables", {}),
            **properties.get("Environment", {}).get("Variables", {}),
        }
        environment = {name: _env_value(value) for name, value in template.resolve(variables).items()}
        specs[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_dir=(template.directory / str(template.resolve(merged.get("CodeUri", ".")))).resolve(),
            handler=str(merged.get("Handler", "app.lambda_handler")),
            memory_mb=int(template.resolve(merged.get("MemorySize", 128))),
            timeout_s=int(template.resolve(merged.get("Timeout", 3))),
            environment=environment,
            role_references=frozenset(references(properties.get("Role"))),
            http_events=tuple(_http_events(template, properties.get("Events", {}))),
            durable_timeout_s=_durable_timeout(template, merged.get("DurableConfig")),
        )
    return specs


def _durable_timeout(template: Template, config: Any) -> int | None:
    if not isinstance(config, dict):
        return None
    return int(template.resolve(config.get("ExecutionTimeout", 0))) or None


def _http_events(template: Template, events: dict[str, Any]) -> Iterator[HttpApiEvent]:
    for name, event in events.items():
        if event.get("Type") != "HttpApi":
            continue
        properties = template.resolve(event.get("Properties", {}))
        yield HttpApiEvent(
            name=name,
            api_id=str(properties.get("ApiId", "ServerlessHttpApi")),
            path=str(properties.get("Path", "$default")),
            method=str(properties.get("Method", "ANY")).upper(),
        )


@dataclass
class LambdaContext:
    """What the Lambda runtime passes as ``context``, with the attributes Powertools reads."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    invoked_function_arn: str = ""
    log_group_name: str = ""
    log_stream_name: str = ""
    identity: Any = None
    client_context: Any = None
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.log_group_name = self.log_group_name or f"/aws/lambda/{self.function_name}"
        self.log_stream_name = self.log_stream_name or time.strftime("%Y/%m/%d/[$LATEST]") + "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionInitError(RuntimeError):
    """The function's handler could not be loaded; every call fails like a Lambda init error."""


class FunctionThrottledError(RuntimeError):
    """Every execution environment of the function stayed busy for longer than the function's timeout."""


@dataclass(frozen=True)
class ExecutionEnvironment:
    number: int
    worker: WorkerProcess


@dataclass
class LocalFunction:
    spec: FunctionSpec
    arn: str
    init_error: str | None = None
    max_environments: int = MAX_ENVIRONMENTS
    _environments: list[ExecutionEnvironment] = field(default_factory=list, repr=False)
    _idle: list[ExecutionEnvironment] = field(default_factory=list, repr=False)
    _starting: int = field(default=0, repr=False)
    _numbers: int = field(default=1, repr=False)
    _pool: threading.Condition = field(default_factory=threading.Condition, repr=False)

    @property
    def environment_count(self) -> int:
        with self._pool:
            return len(self._environments)

    def warm_up(self) -> None:
        """Start the first environment ahead of any call, unless a call already started one, and wait until
        its process imported the handler (a call that takes it meanwhile waits for that too)."""
        with self._pool:
            if self._environments or self._starting:
                return
            self._starting += 1
        try:
            environment = ExecutionEnvironment(1, self._start_worker(1))
        finally:
            with self._pool:
                self._starting -= 1
        with self._pool:
            self._environments.append(environment)
            self._idle.append(environment)
            self._pool.notify()
        environment.worker.wait_ready()

    def call(self, event: Any, request_id: str | None = None, stream: StreamTransport | None = None) -> Any:
        """Run the handler as the Lambda runtime would: in an idle execution environment, as this function,
        within its timeout; ``stream`` is the response stream the handler may open (only an HTTP request has
        one)."""
        if self.init_error is not None:
            raise FunctionInitError(f"{self.spec.logical_id} failed to initialise:\n{self.init_error}")
        with self._environment() as environment:
            init_error = environment.worker.wait_ready()
            if init_error is not None:
                self.init_error = init_error
                raise FunctionInitError(f"{self.spec.logical_id} failed to initialise:\n{init_error}")
            caller = stack_caller(self.spec.logical_id)
            return environment.worker.invoke(event, request_id or str(uuid.uuid4()), stream, caller)

    def close(self) -> None:
        """Stop every environment's process."""
        with self._pool:
            environments, self._environments, self._idle = self._environments, [], []
        for environment in environments:
            environment.worker.stop()

    def _start_worker(self, number: int) -> WorkerProcess:
        setup = WorkerSetup(
            function_id=self.spec.logical_id,
            handler=self.spec.handler,
            code_dir=str(self.spec.code_dir),
            paths=tuple(entry for entry in sys.path if entry),
            environment=dict(os.environ),
            memory_mb=self.spec.memory_mb,
            timeout_s=self.spec.timeout_s,
            arn=self.arn,
        )
        return WorkerProcess(setup, number)

    @contextmanager
    def _environment(self) -> Iterator[ExecutionEnvironment]:
        """An idle environment for one invocation; one whose process ended (a timeout, a crash) is dropped."""
        environment = self._acquire()
        try:
            yield environment
        finally:
            with self._pool:
                if environment.worker.alive:
                    self._idle.append(environment)
                    self._idle.sort(key=lambda idle: idle.number)
                elif environment in self._environments:  # (not when the stack closed the function meanwhile)
                    self._environments.remove(environment)
                self._pool.notify()

    def _acquire(self) -> ExecutionEnvironment:
        deadline = time.monotonic() + self.spec.timeout_s
        with self._pool:
            while not self._idle and len(self._environments) + self._starting >= self.max_environments:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._pool.wait(remaining):
                    raise FunctionThrottledError(
                        f"{self.spec.logical_id}: all {self.max_environments} execution environments are busy"
                    )
            if self._idle:
                return self._idle.pop(0)
            self._starting += 1
            self._numbers += 1
            number = self._numbers
        try:
            environment = ExecutionEnvironment(number, self._start_worker(number))
        finally:
            with self._pool:
                self._starting -= 1
                self._pool.notify()
        with self._pool:
            self._environments.append(environment)
        return environment


def add_to_sys_path(directory: Path) -> None:
    entry = str(directory)
    if entry not in sys.path:
        sys.path.insert(0, entry)


def load_functions(template: Template, specs: dict[str, FunctionSpec]) -> dict[str, LocalFunction]:
    """The template's functions, with no environment yet: the first call of each is a cold start unless
    ``warm_up`` started one before."""
    start_forkserver()
    return {
        logical_id: LocalFunction(spec, arn=template.get_att(logical_id, "Arn"))
        for logical_id, spec in specs.items()
    }


def warm_up(functions: Iterable[LocalFunction]) -> threading.Thread:
    """Start each function's first environment, in the background (the stack serves meanwhile), one at a
    time so each cold start has the machine to itself: the functions that serve HTTP routes first."""

    def start_all() -> None:
        for function in sorted(functions, key=lambda function: not function.spec.http_events):
            function.warm_up()

    thread = threading.Thread(target=start_all, name="warm-up", daemon=True)
    thread.start()
    return thread
