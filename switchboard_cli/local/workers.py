"""Execution environments as worker processes, as on Lambda: one process per environment.

A worker imports its function's handler once (a cold start) and then serves one invocation at a time, for as
long as the stack runs: module globals survive between invocations, as in a warm Lambda environment, and
nothing a handler or a library keeps per process (Powertools' resolver context, its metrics and log keys) is
shared with another environment. Workers are forked by a ``forkserver`` that has already imported the heavy
libraries every function uses (``PRELOAD``), so a cold start costs only the function's own modules.

A worker talks to the stack over one pipe. The stack sends ``invoke`` messages; the worker answers each with
a ``result`` or an ``error`` and, while its handler runs, sends ``request`` messages that the stack answers
with a ``reply`` (the handler waits for it): the function-invoker seam (Lambda invokes and durable executions,
checked against the caller rule as the calling function), the durable execution service's checkpoint API (for
a durable invocation) and the response stream (for an HTTP request that may stream). A worker ignores Ctrl-C
(the stack stops it) and exits as soon as the stack's end of the pipe closes, so it dies with the stack.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import io
import itertools
import multiprocessing
import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from multiprocessing import reduction
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from switchboard import streaming
from switchboard.invoker import FunctionInvoker, get_invoker
from switchboard.streaming import ResponseStream, StreamTransport

PRELOAD = (
    "boto3",
    "botocore.session",
    "pydantic",
    "aws_lambda_powertools",
    "aws_lambda_powertools.event_handler",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_durable_execution_sdk_python",
)
"""Imported once by the forkserver, before it forks any worker: the libraries every function imports."""
_INVOKER_CALLS = frozenset(
    {"invoke", "start_execution", "complete_callback", "fail_callback", "stop_execution", "execution_status"}
)
_SERVICE_CALLS = frozenset({"checkpoint", "get_execution_state"})

InvokerCaller = Callable[[str, tuple[Any, ...]], Any]
"""(invoker method, its arguments) → its answer, as the calling function."""

_context_lock = threading.Lock()
_context: Any = None


def _forkserver() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(list(PRELOAD))
            _context = context
        return _context


def start_forkserver() -> None:
    """Start the forkserver now (it imports ``PRELOAD`` while the stack goes on starting)."""
    from multiprocessing import forkserver

    _forkserver()
    forkserver.ensure_running()


class FunctionTimeoutError(RuntimeError):
    """The invocation ran longer than the function's timeout: its environment was stopped."""


class WorkerDiedError(RuntimeError):
    """The environment's process ended during the invocation (a crash, or the stack stopping)."""


@dataclass(frozen=True)
class WorkerSetup:
    function_id: str
    handler: str
    code_dir: str
    paths: tuple[str, ...]
    environment: Mapping[str, str]
    memory_mb: int
    timeout_s: int
    arn: str


class WorkerProcess:
    """The stack's side of one environment's process."""

    def __init__(self, setup: WorkerSetup, number: int) -> None:
        self.setup = setup
        self.number = number
        self.alive = True
        self._send_lock = threading.Lock()
        self._stop_lock = threading.Lock()
        self._stopped = False
        self._ready = threading.Event()
        self._init_error: str | None = None
        context = _forkserver()
        self._connection, child = context.Pipe()
        relays = [os.pipe() for _ in (1, 2)]
        outputs = tuple(_InheritedFd(write) for _, write in relays)
        self._process = context.Process(
            target=serve, args=(child, setup, outputs), name=f"{setup.function_id}-env{number}", daemon=True
        )
        try:
            self._process.start()
        finally:
            child.close()
            for target, (read, write) in enumerate(relays, start=1):
                os.close(write)
                threading.Thread(
                    target=_relay, args=(read, target), name="environment-output", daemon=True
                ).start()

    def wait_ready(self) -> str | None:
        """Block until the handler is imported; the init error's traceback when it failed."""
        if not self._ready.is_set():
            with self._send_lock:
                if not self._ready.is_set():
                    try:
                        message = self._connection.recv()
                    except (EOFError, OSError):
                        message = ("init_error", "the environment's process ended while starting")
                    if message[0] == "init_error":
                        self._init_error = str(message[1])
                        self.alive = False
                    self._ready.set()
        return self._init_error

    def invoke(
        self, event: Any, request_id: str, stream: StreamTransport | None, caller: InvokerCaller
    ) -> Any:
        """Run one invocation and answer the worker's requests meanwhile; ``caller`` runs the invoker calls
        as the calling function (the stack's ``functions.running``)."""
        service_client = getattr(event, "service_client", None)
        if service_client is not None:
            event = dataclasses.replace(event, service_client=None)
        self._send(("invoke", event, request_id, stream is not None))
        try:
            outcome = self._serve_requests(service_client, stream, caller)
        except BaseException:
            self.stop()  # the stack failed mid-invocation: the environment cannot be reused
            raise
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    def _serve_requests(
        self, service_client: Any, stream: StreamTransport | None, caller: InvokerCaller
    ) -> Any:
        """Answer the worker's requests until its handler returns; its result, or the exception it raised."""
        deadline = time.monotonic() + self.setup.timeout_s
        opened: list[ResponseStream] = []
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0 or not self._connection.poll(remaining):
                    raise FunctionTimeoutError(
                        f"{self.setup.function_id} timed out after {self.setup.timeout_s} s"
                    )
                message = self._connection.recv()
            except (EOFError, OSError):
                raise WorkerDiedError(
                    f"{self.setup.function_id}'s environment ended during an invocation"
                ) from None
            kind = message[0]
            if kind == "result":
                return message[1]
            if kind == "error":
                return message[1] if isinstance(message[1], BaseException) else RuntimeError(str(message[1]))
            _, request, name, arguments = message
            if name == "stream_open" and stream is not None:
                self._answer(request, functools.partial(_open, stream, arguments, opened))
            elif name.startswith("stream_") and opened:
                self._answer(request, _stream_call(opened[0], name, arguments))
            elif name in _SERVICE_CALLS and service_client is not None:
                self._answer(
                    request, functools.partial(getattr(service_client, name), *arguments[0], **arguments[1])
                )
            elif name in _INVOKER_CALLS:
                call = functools.partial(caller, name, arguments)
                threading.Thread(target=self._answer, args=(request, call), daemon=True).start()
            else:
                self._answer(request, _refuse(name))

    def _answer(self, request: int, call: Callable[[], Any]) -> None:
        try:
            reply: tuple[Any, ...] = ("reply", request, True, call())
        except Exception as error:
            reply = ("reply", request, False, _portable(error))
        with contextlib.suppress(OSError, ValueError):  # the environment was stopped meanwhile
            self._send(reply)

    def _send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            self._connection.send(message)

    def stop(self) -> None:
        """End the environment, once: the invocation that saw it fail and the stack's own stop may both
        ask at the same moment (a second close of the pipe would close another file's descriptor)."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self.alive = False
        if self._process.is_alive():
            self._process.kill()
        self._process.join(5)
        self._connection.close()


def _relay(source: int, target: int) -> None:
    """Copy a worker's output, line by line, to the stack's file descriptor ``target`` as it is now: a
    worker prints where the stack prints."""
    with open(source, "rb") as output:
        for line in output:
            os.write(target, line)


class _InheritedFd:
    """A file descriptor of the stack, duplicated into the worker as it starts."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[Any, ...]:
        return (_detach, (reduction.DupFd(self.fd),))


def _detach(duplicate: Any) -> int:
    return int(duplicate.detach())


def _stream_call(stream: ResponseStream, name: str, arguments: tuple[Any, ...]) -> Callable[[], Any]:
    if name == "stream_write":
        return lambda: stream.write(arguments[0])
    if name == "stream_close":
        return stream.close
    return lambda: stream.closed


def _open(stream: StreamTransport, arguments: tuple[Any, ...], opened: list[ResponseStream]) -> None:
    opened.append(stream.open(*arguments))


def _refuse(name: str) -> Callable[[], Any]:
    def refuse() -> Any:
        raise RuntimeError(f"the local stack offers no {name} to this invocation")

    return refuse


def _portable(error: BaseException) -> BaseException:
    """The exception itself when it survives pickling, else a RuntimeError that names it."""
    try:
        copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes, checked before they cross
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return copy if isinstance(copy, BaseException) else RuntimeError(str(error))


def invoker_call(invoker: FunctionInvoker, name: str, arguments: tuple[Any, ...]) -> Any:
    return getattr(invoker, name)(*arguments)


# The worker's side (runs in the environment's process).


class _Channel:
    """The worker's end of the pipe: a reader thread takes invocations and replies; ``request`` waits for
    the stack's reply. The stack's end closing ends the process."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._send_lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._waiting: dict[int, Future[Any]] = {}
        self.invocations: queue.Queue[tuple[Any, ...]] = queue.Queue()
        threading.Thread(target=self._read, name="environment-channel", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                message = self._connection.recv()
            except (EOFError, OSError):
                os._exit(0)
            if message[0] == "invoke":
                self.invocations.put(message)
                continue
            _, request, succeeded, value = message
            waiting = self._waiting.pop(request)
            if succeeded:
                waiting.set_result(value)
            else:
                waiting.set_exception(value)

    def send(self, message: tuple[Any, ...]) -> None:
        with self._send_lock:
            self._connection.send(message)

    def request(self, name: str, *arguments: Any) -> Any:
        request = next(self._numbers)
        answer: Future[Any] = Future()
        self._waiting[request] = answer
        self.send(("request", request, name, arguments))
        return answer.result()


class _ChannelInvoker:
    """The function-invoker seam inside a worker: every call is made by the stack, as this function."""

    def __init__(self, channel: _Channel) -> None:
        self._channel = channel

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in _INVOKER_CALLS:
            raise AttributeError(name)
        return lambda *arguments: self._channel.request(name, *arguments)


class _ChannelServiceClient:
    """The durable execution service's checkpoint API, answered by the stack's service."""

    def __init__(self, channel: _Channel) -> None:
        self._channel = channel

    def checkpoint(self, *arguments: Any, **keywords: Any) -> Any:
        return self._channel.request("checkpoint", arguments, keywords)

    def get_execution_state(self, *arguments: Any, **keywords: Any) -> Any:
        return self._channel.request("get_execution_state", arguments, keywords)


class _ChannelStream:
    def __init__(self, channel: _Channel) -> None:
        self._channel = channel

    @property
    def closed(self) -> bool:
        return bool(self._channel.request("stream_closed"))

    def write(self, chunk: bytes) -> None:
        self._channel.request("stream_write", chunk)

    def close(self) -> None:
        self._channel.request("stream_close")


class _ChannelTransport:
    def __init__(self, channel: _Channel) -> None:
        self._channel = channel

    def open(self, status: int, headers: Mapping[str, str]) -> ResponseStream:
        self._channel.request("stream_open", status, dict(headers))
        return _ChannelStream(self._channel)


def serve(connection: Connection, setup: WorkerSetup, outputs: tuple[int, int]) -> None:
    """The environment's process: import the handler, then serve invocations until the stack goes away."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for target, fd in enumerate(outputs, start=1):
        os.dup2(fd, target)
        os.close(fd)
    for output in (sys.stdout, sys.stderr):
        if isinstance(output, io.TextIOWrapper):
            output.reconfigure(line_buffering=True)
    os.environ.clear()
    os.environ.update(setup.environment)
    sys.path[:] = [setup.code_dir, *(path for path in setup.paths if path != setup.code_dir)]
    channel = _Channel(connection)
    from switchboard.invoker import set_invoker
    from switchboard_cli.local.functions import LambdaContext, current_function

    set_invoker(_ChannelInvoker(channel))
    current_function.set(setup.function_id)
    try:
        handler = _import_handler(setup)
    except BaseException:
        channel.send(("init_error", traceback.format_exc()))
        sys.stderr.write(f"[switchboard local] {setup.function_id} failed to load:\n{traceback.format_exc()}")
        return
    channel.send(("ready",))
    service_client = _ChannelServiceClient(channel)
    while True:
        _, event, request_id, may_stream = channel.invocations.get()
        if getattr(event, "service_client", False) is None:
            event = dataclasses.replace(event, service_client=service_client)
        context = LambdaContext(
            function_name=setup.function_id,
            memory_limit_in_mb=setup.memory_mb,
            timeout_s=setup.timeout_s,
            aws_request_id=request_id,
            invoked_function_arn=setup.arn,
        )
        try:
            with streaming.installed(_ChannelTransport(channel) if may_stream else None):
                answer: tuple[Any, ...] = ("result", handler(event, context))
        except BaseException as error:
            sys.stderr.write(f"[switchboard local] {setup.function_id} raised:\n{traceback.format_exc()}")
            answer = ("error", _portable(error))
        try:
            channel.send(answer)
        except Exception as error:  # a result that cannot cross (not picklable)
            channel.send(("error", RuntimeError(f"the handler's result cannot be returned: {error}")))


def _import_handler(setup: WorkerSetup) -> Callable[[Any, Any], Any]:
    module_path, _, attribute = setup.handler.rpartition(".")
    source = Path(setup.code_dir) / (module_path.replace(".", "/") + ".py")
    if not source.is_file():
        raise FileNotFoundError(f"handler module {source} does not exist")
    handler = getattr(importlib.import_module(module_path), attribute)
    if not callable(handler):
        raise TypeError(f"{setup.handler} in {setup.code_dir} is not callable")
    return handler  # type: ignore[no-any-return]


def stack_caller(function_id: str) -> InvokerCaller:
    """Invoker calls a worker makes, made by the stack's invoker as ``function_id``."""
    from switchboard_cli.local.functions import running

    def call(name: str, arguments: tuple[Any, ...]) -> Any:
        with running(function_id):
            return invoker_call(get_invoker(), name, arguments)

    return call
