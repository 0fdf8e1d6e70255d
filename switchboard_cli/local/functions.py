"""The template's functions as the local stack runs them: spec, environment, loaded handler, context.

Every function's code directory goes on ``sys.path`` (so its own uniquely named packages import as they do
in its Lambda bundle) and its handler module is loaded under a unique module name, so two ``app.py`` files
never collide. A handler that fails to import is kept as broken: its calls fail like a Lambda init error.

Each function is one warm instance that handles one invocation at a time (as if its reserved concurrency
were 1): handler modules keep per-request state on module-level singletons (a Powertools resolver's current
event), exactly as Lambda allows, so two threads must never be inside the same handler. Different functions
run concurrently; a function may invoke itself (the lock is re-entrant).
"""

from __future__ import annotations

import contextvars
import importlib.util
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchboard_cli.local.template import Template, references

SERVERLESS_FUNCTION = "AWS::Serverless::Function"

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
        )
    return specs


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


@dataclass
class LocalFunction:
    spec: FunctionSpec
    arn: str
    handler: Handler | None = None
    init_error: str | None = None
    _instance: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def load(self) -> None:
        try:
            self.handler = _load_handler(self.spec)
        except Exception:
            self.init_error = traceback.format_exc()
            sys.stderr.write(f"[switchboard local] {self.spec.logical_id} failed to load:\n{self.init_error}")

    def call(self, event: Any, request_id: str | None = None) -> Any:
        """Run the handler as the Lambda runtime would, marking this function as the current one."""
        if self.handler is None:
            raise FunctionInitError(f"{self.spec.logical_id} failed to initialise:\n{self.init_error}")
        with self._instance, running(self.spec.logical_id):
            context = LambdaContext(
                function_name=self.spec.logical_id,
                memory_limit_in_mb=self.spec.memory_mb,
                timeout_s=self.spec.timeout_s,
                aws_request_id=request_id or str(uuid.uuid4()),
                invoked_function_arn=self.arn,
            )
            return self.handler(event, context)


def _load_handler(spec: FunctionSpec) -> Handler:
    module_path, _, attribute = spec.handler.rpartition(".")
    source = spec.code_dir / (module_path.replace(".", "/") + ".py")
    if not source.is_file():
        raise FileNotFoundError(f"handler module {source} does not exist")
    add_to_sys_path(spec.code_dir)
    module_name = f"_switchboard_local_{spec.logical_id}_{module_path.replace('.', '_')}"
    module_spec = importlib.util.spec_from_file_location(module_name, source)
    if module_spec is None or module_spec.loader is None:
        raise ImportError(f"cannot load {source}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    module_spec.loader.exec_module(module)
    handler = getattr(module, attribute)
    if not callable(handler):
        raise TypeError(f"{spec.handler} in {spec.code_dir} is not callable")
    return handler  # type: ignore[no-any-return]


def add_to_sys_path(directory: Path) -> None:
    entry = str(directory)
    if entry not in sys.path:
        sys.path.insert(0, entry)


def load_functions(template: Template, specs: dict[str, FunctionSpec]) -> dict[str, LocalFunction]:
    functions = {
        logical_id: LocalFunction(spec, arn=template.get_att(logical_id, "Arn"))
        for logical_id, spec in specs.items()
    }
    for function in functions.values():
        function.load()
    return functions
