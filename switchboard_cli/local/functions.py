"""The template's functions as the local stack runs them: spec, environment, loaded handler, context.

Every function's code directory goes on ``sys.path`` (so its own uniquely named packages import as they do
in its Lambda bundle) and its handler module is loaded under a unique module name, so two ``app.py`` files
never collide. A handler that fails to import is kept as broken: its calls fail like a Lambda init error.

Execution environments. Lambda runs one invocation at a time per execution environment and scales a function
by adding environments, each a process of its own; handler modules rely on that and keep per-request state
on module-level objects (a Powertools resolver's request context). Locally, each function gets a small pool
of environments: an invocation takes an idle one, a new one is created (a cold start: the handler module and
the function's own packages, e.g. ``apps_routes``, imported afresh) when all are busy, up to
``MAX_ENVIRONMENTS``; beyond that an invocation waits for one to free up, at most the function's timeout. So
one long invocation (an event stream) never holds up the function's other requests, and two invocations
never share module-level state. The common layer stays shared, like any other library.

One process is still not many: Powertools keeps some request state process-wide, in class attributes
(every resolver's current event and Lambda context) and in the shared Metrics and Logger singletons (metrics
not yet flushed, appended log keys). ``isolate_invocation_state`` makes those per invocation: each call runs
in its own ``contextvars`` context that carries its own copies, so concurrent invocations, of the same
function or of different ones, neither see nor flush each other's.
"""

from __future__ import annotations

import contextvars
import copy
import importlib.util
import os
import sys
import threading
import time
import traceback
import uuid
from abc import ABCMeta
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from switchboard import streaming
from switchboard.api.routers import OnDemandResolver
from switchboard.streaming import StreamTransport
from switchboard_cli.local.template import Template, references
from switchboard_cli.local.workers import WorkerProcess, WorkerSetup, stack_caller, start_forkserver

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
MAX_ENVIRONMENTS = 8
"""Concurrent invocations of one function (its local "reserved concurrency")."""
_MODULE_PREFIX = "_switchboard_local_"
_LOCAL_STACK_SOURCE = Path(__file__).resolve().parents[1]

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


Handler = Callable[[dict[str, Any], Any], Any]


class FunctionInitError(RuntimeError):
    """The function's handler could not be loaded; every call fails like a Lambda init error."""


class FunctionThrottledError(RuntimeError):
    """Every execution environment of the function stayed busy for longer than the function's timeout."""


@dataclass(frozen=True)
class ExecutionEnvironment:
    number: int
    handler: Handler | None = None
    worker: WorkerProcess | None = None
    """The environment's own process (``workers.py``); None for an environment in the stack's process."""


@dataclass
class LocalFunction:
    spec: FunctionSpec
    arn: str
    init_error: str | None = None
    max_environments: int = MAX_ENVIRONMENTS
    processes: bool = False
    """Each environment is a worker process (``workers.py``); otherwise a thread of the stack's process."""
    _environments: list[ExecutionEnvironment] = field(default_factory=list, repr=False)
    _idle: list[ExecutionEnvironment] = field(default_factory=list, repr=False)
    _starting: int = field(default=0, repr=False)
    _numbers: int = field(default=1, repr=False)
    _pool: threading.Condition = field(default_factory=threading.Condition, repr=False)

    @property
    def handler(self) -> Handler | None:
        """The first environment's handler (the one an idle function always uses)."""
        return self._environments[0].handler if self._environments else None

    @property
    def environment_count(self) -> int:
        with self._pool:
            return len(self._environments)

    def load(self) -> None:
        """The first environment, at start (a later one is created only when this one is busy); a worker
        process imports its handler in the background, and the first call waits for it."""
        if self.processes:
            environment = ExecutionEnvironment(1, worker=self._start_worker(1))
            with self._pool:
                self._environments.append(environment)
                self._idle.append(environment)
            return
        isolate_invocation_state()
        try:
            environment = ExecutionEnvironment(1, _load_handler(self.spec, 1))
        except Exception:
            self.init_error = traceback.format_exc()
            sys.stderr.write(f"[switchboard local] {self.spec.logical_id} failed to load:\n{self.init_error}")
            return
        with self._pool:
            self._environments.append(environment)
            self._idle.append(environment)

    def call(self, event: Any, request_id: str | None = None, stream: StreamTransport | None = None) -> Any:
        """Run the handler as the Lambda runtime would: in an idle execution environment, as the current
        function, with its own invocation state; ``stream`` is the response stream the handler may open
        (only an HTTP request has one)."""
        if self.init_error is not None or not (self.processes or self._environments):
            raise FunctionInitError(f"{self.spec.logical_id} failed to initialise:\n{self.init_error}")
        with self._environment() as environment:
            if environment.worker is not None:
                return self._invoke_worker(environment.worker, event, request_id, stream)
            invocation = contextvars.copy_context()
            return invocation.run(self._invoke, environment, event, request_id, stream)

    def _invoke_worker(
        self, worker: WorkerProcess, event: Any, request_id: str | None, stream: StreamTransport | None
    ) -> Any:
        init_error = worker.wait_ready()
        if init_error is not None:
            self.init_error = init_error
            raise FunctionInitError(f"{self.spec.logical_id} failed to initialise:\n{init_error}")
        caller = stack_caller(self.spec.logical_id)
        return worker.invoke(event, request_id or str(uuid.uuid4()), stream, caller)

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

    def close(self) -> None:
        """Stop every environment's process."""
        with self._pool:
            environments, self._environments, self._idle = self._environments, [], []
        for environment in environments:
            if environment.worker is not None:
                environment.worker.stop()

    def _invoke(
        self,
        environment: ExecutionEnvironment,
        event: Any,
        request_id: str | None,
        stream: StreamTransport | None,
    ) -> Any:
        _invocation_values.set({})
        current_function.set(self.spec.logical_id)
        context = LambdaContext(
            function_name=self.spec.logical_id,
            memory_limit_in_mb=self.spec.memory_mb,
            timeout_s=self.spec.timeout_s,
            aws_request_id=request_id or str(uuid.uuid4()),
            invoked_function_arn=self.arn,
        )
        if environment.handler is None:
            raise FunctionInitError(f"{self.spec.logical_id} has no handler in this environment")
        with streaming.installed(stream):
            return environment.handler(event, context)

    @contextmanager
    def _environment(self) -> Iterator[ExecutionEnvironment]:
        environment = self._acquire()
        try:
            yield environment
        finally:
            with self._pool:
                if environment.worker is None or environment.worker.alive:
                    self._idle.append(environment)
                    self._idle.sort(key=lambda idle: idle.number)
                else:
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
            if self.processes:
                environment = ExecutionEnvironment(number, worker=self._start_worker(number))
            else:
                environment = ExecutionEnvironment(number, _load_handler(self.spec, number))
        finally:
            with self._pool:
                self._starting -= 1
                self._pool.notify()
        with self._pool:
            self._environments.append(environment)
        return environment


_loading = threading.Lock()
"""Loading a handler rearranges ``sys.modules`` for a moment: one at a time."""


def _load_handler(spec: FunctionSpec, environment: int = 1) -> Handler:
    """Import the handler module, and the function's own modules with it, afresh for one environment.

    The first environment's modules stay in ``sys.modules`` (as a lone Lambda's would); a later
    environment's own copies are reachable only from its handler module, and ``sys.modules`` is restored.
    So an API resolver includes all its routers now, while the environment's own modules are in place, rather
    than on demand (``switchboard.api.routers``): a later environment's would import the first one's, and
    what its models resolve by module name later (pydantic) must be in ``sys.modules`` by the first one.
    """
    module_path, _, attribute = spec.handler.rpartition(".")
    source = spec.code_dir / (module_path.replace(".", "/") + ".py")
    if not source.is_file():
        raise FileNotFoundError(f"handler module {source} does not exist")
    add_to_sys_path(spec.code_dir)
    suffix = "" if environment == 1 else f"_env{environment}"
    module_name = f"{_MODULE_PREFIX}{spec.logical_id}_{module_path.replace('.', '_')}{suffix}"
    module_spec = importlib.util.spec_from_file_location(module_name, source)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(module_spec)
    with _loading:
        others = _take_own_modules(spec.code_dir, source)
        sys.modules[module_name] = module
        try:
            module_spec.loader.exec_module(module)
            resolver = getattr(module, "app", None)
            if isinstance(resolver, OnDemandResolver):
                resolver.load_all()
        except BaseException:
            sys.modules.pop(module_name, None)
            raise
        finally:
            if environment != 1:
                _take_own_modules(spec.code_dir, source)
                sys.modules.update(others)
    handler = getattr(module, attribute)
    if not callable(handler):
        raise TypeError(f"{spec.handler} in {spec.code_dir} is not callable")
    return handler  # type: ignore[no-any-return]


def _take_own_modules(code_dir: Path, handler_source: Path) -> dict[str, ModuleType]:
    """Remove from ``sys.modules`` (and return) the modules imported from the function's code directory,
    so the next import of them is a fresh one. A code directory that holds the local stack itself (a
    ``CodeUri`` of the whole repository) has no modules of its own to isolate."""
    if _LOCAL_STACK_SOURCE.is_relative_to(code_dir):
        return {}
    own: dict[str, ModuleType] = {}
    for name, module in list(sys.modules.items()):
        location = getattr(module, "__file__", None)
        if name.startswith(_MODULE_PREFIX) or not location:
            continue
        path = Path(location).resolve()
        if path != handler_source and path.is_relative_to(code_dir):
            own[name] = sys.modules.pop(name)
    return own


def add_to_sys_path(directory: Path) -> None:
    entry = str(directory)
    if entry not in sys.path:
        sys.path.insert(0, entry)


def load_functions(
    template: Template, specs: dict[str, FunctionSpec], *, processes: bool = False
) -> dict[str, LocalFunction]:
    if processes:
        start_forkserver()
    functions = {
        logical_id: LocalFunction(spec, arn=template.get_att(logical_id, "Arn"), processes=processes)
        for logical_id, spec in specs.items()
    }
    for function in functions.values():
        function.load()
    return functions


# Per-invocation copies of Powertools' process-wide request state (see the module docstring).

_invocation_values: contextvars.ContextVar[dict[tuple[int, str], Any] | None] = contextvars.ContextVar(
    "switchboard_local_invocation_values", default=None
)
"""The running invocation's own values, by (owner id, attribute name); None outside any invocation."""
_process_values: dict[tuple[int, str], Any] = {}


class _PerInvocationAttribute:
    """An instance attribute whose value, as set outside any invocation (at import), stays the instance's
    own; each invocation reads and changes a shallow copy of it."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        if instance is None:
            return self
        try:
            base = vars(instance)[self.name]
        except KeyError:
            raise AttributeError(self.name) from None
        values = _invocation_values.get()
        if values is None:
            return base
        key = (id(instance), self.name)
        if key not in values:
            values[key] = copy.copy(base)
        return values[key]

    def __set__(self, instance: object, value: Any) -> None:
        values = _invocation_values.get()
        if values is None or self.name not in vars(instance):
            vars(instance)[self.name] = value
        else:
            values[(id(instance), self.name)] = value


class _PerInvocationClassAttribute:
    """A class attribute that each invocation sets for itself (outside invocations: for the process)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, instance: object, owner: type | None = None) -> Any:
        key = (id(self), self.name)
        values = _invocation_values.get()
        if values is not None and key in values:
            return values[key]
        if key in _process_values:
            return _process_values[key]
        raise AttributeError(self.name)

    def __set__(self, instance: object, value: Any) -> None:
        self.assign(value)

    def assign(self, value: Any) -> None:
        values = _invocation_values.get()
        (_process_values if values is None else values)[(id(self), self.name)] = value


class _PerInvocationClassState(ABCMeta):
    """Metaclass that routes ``Class.attribute = value`` to a ``_PerInvocationClassAttribute``."""

    def __setattr__(cls, name: str, value: Any) -> None:
        attribute = cls.__dict__.get(name)
        if isinstance(attribute, _PerInvocationClassAttribute):
            attribute.assign(value)
        else:
            super().__setattr__(name, value)


_isolating = threading.Lock()
_isolated = False


def isolate_invocation_state() -> None:
    """Make Powertools' process-wide request state per invocation (idempotent; see the module docstring)."""
    global _isolated
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    with _isolating:
        if _isolated:
            return
        if type(BaseRouter) is not ABCMeta:
            raise RuntimeError(
                "Powertools' BaseRouter changed: its request state cannot be made per invocation"
            )
        for name in ("current_event", "lambda_context"):
            type.__setattr__(BaseRouter, name, _PerInvocationClassAttribute(name))
        setattr(BaseRouter, "__class__", _PerInvocationClassState)  # noqa: B010 - a metaclass swap
        for name in ("metric_set", "dimension_set", "metadata_set", "dimension_sets"):
            setattr(AmazonCloudWatchEMFProvider, name, _PerInvocationAttribute(name))
        setattr(LambdaPowertoolsFormatter, "log_format", _PerInvocationAttribute("log_format"))  # noqa: B010
        _isolated = True
