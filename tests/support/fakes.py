"""Loopback servers for tests (127.0.0.1, a free port, stopped on exit; bounded in body size, socket time
and how many requests they keep):

- ``HttpTarget``: records every request and answers with scripted replies per path.
- ``FakeOpenAI``: an OpenAI-compatible ``/v1/chat/completions`` endpoint answering from a queue of replies.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

MAX_BODY_BYTES = 1024 * 1024
MAX_RECORDED = 1000
SOCKET_TIMEOUT_SECONDS = 10


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes
    received_at: float = 0.0
    """``time.monotonic()`` at arrival: lets tests see which requests were in flight together."""

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """One scripted answer of an ``HttpTarget``: ``body`` as JSON, or ``text``; ``echo`` answers with the
    request itself as JSON (method, path, query, headers, body)."""

    status: int = 200
    body: Any = None
    text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_ms: int = 0
    echo: bool = False


class _LoopbackServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer (a node timing out, on purpose in some tests) is not an
        error of the fake: anything else is still printed."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class _Server:
    """Serves ``handle`` on a loopback port from a background thread, for the ``with`` block."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            timeout = SOCKET_TIMEOUT_SECONDS

            def do_request(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY_BYTES)
                parts = urlsplit(self.path)
                recorded = Recorded(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                    received_at=time.monotonic(),
                )
                owner._record(recorded)
                owner.handle(self, recorded)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_request  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = _LoopbackServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def origin(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _record(self, recorded: Recorded) -> None:
        with self._lock:
            if len(self.requests) < MAX_RECORDED:
                self.requests.append(recorded)

    def handle(self, handler: BaseHTTPRequestHandler, request: Recorded) -> None:
        raise NotImplementedError


def _send(handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str]) -> None:
    handler.send_response(status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(body)


class HttpTarget(_Server):
    """Unknown paths answer 404. For a path, each reply is used once, in order; the last one repeats."""

    def __init__(self) -> None:
        super().__init__()
        self._routes: dict[str, deque[Reply]] = {}

    @property
    def url(self) -> str:
        return self.origin

    def respond(self, path: str, *replies: Reply) -> None:
        with self._lock:
            self._routes[path] = deque(replies)

    def requests_to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def handle(self, handler: BaseHTTPRequestHandler, request: Recorded) -> None:
        with self._lock:
            queue = self._routes.get(request.path)
            reply = (queue.popleft() if len(queue) > 1 else queue[0]) if queue else Reply(status=404)
        time.sleep(reply.delay_ms / 1000)
        if reply.echo:
            echoed = {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "headers": request.headers,
                "body": request.body.decode("utf-8", errors="replace"),
            }
            content, content_type = json.dumps(echoed).encode(), "application/json"
        elif reply.text is not None:
            content, content_type = reply.text.encode(), "text/plain; charset=utf-8"
        else:
            content, content_type = json.dumps(reply.body).encode(), "application/json"
        _send(handler, reply.status, content, {"Content-Type": content_type, **reply.headers})


@dataclass(frozen=True)
class Completion:
    """One scripted answer of ``FakeOpenAI``. ``tool_calls``: ``[{"name", "arguments": {...}}]``.
    ``deltas`` splits ``content`` when the request streams (default: one delta per word)."""

    content: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    deltas: list[str] | None = None
    status: int = 200
    message: str = "error"
    delay_ms: int = 0
    usage: dict[str, int] = field(
        default_factory=lambda: {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    )


class FakeOpenAI(_Server):
    def __init__(self) -> None:
        super().__init__()
        self._replies: deque[Completion] = deque()
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def script(self, *replies: Completion) -> None:
        with self._lock:
            self._replies.extend(replies)

    def bodies(self) -> list[dict[str, Any]]:
        with self._lock:
            return [request.json() for request in self.requests]

    def handle(self, handler: BaseHTTPRequestHandler, request: Recorded) -> None:
        if request.path != "/v1/chat/completions":
            _send(handler, 404, b"{}", {"Content-Type": "application/json"})
            return
        with self._lock:
            reply = self._replies.popleft() if self._replies else Completion(status=500, message="no reply")
        time.sleep(reply.delay_ms / 1000)
        if reply.status != 200:
            error = {"error": {"message": reply.message, "type": "fake_error", "code": None}}
            _send(handler, reply.status, json.dumps(error).encode(), {"Content-Type": "application/json"})
            return
        body = request.json()
        if body.get("stream"):
            self._stream(handler, body, reply)
            return
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": f"call_{next(self._ids)}",
                    "type": "function",
                    "function": {"name": call["name"], "arguments": json.dumps(call.get("arguments", {}))},
                }
                for call in reply.tool_calls
            ]
        finish_reason = "tool_calls" if reply.tool_calls else "stop"
        completion = {
            **self._envelope(body, "chat.completion"),
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": reply.usage,
        }
        _send(handler, 200, json.dumps(completion).encode(), {"Content-Type": "application/json"})

    def _stream(self, handler: BaseHTTPRequestHandler, body: dict[str, Any], reply: Completion) -> None:
        deltas = reply.deltas if reply.deltas is not None else _words(reply.content or "")
        chunks: list[dict[str, Any]] = [
            {**self._envelope(body, "chat.completion.chunk"), "choices": [_choice({"content": delta})]}
            for delta in deltas
        ]
        chunks.append({**self._envelope(body, "chat.completion.chunk"), "choices": [_choice({}, "stop")]})
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append(
                {**self._envelope(body, "chat.completion.chunk"), "choices": [], "usage": reply.usage}
            )
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        for chunk in chunks:
            handler.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            handler.wfile.flush()
        handler.wfile.write(b"data: [DONE]\n\n")

    def _envelope(self, body: dict[str, Any], kind: str) -> dict[str, Any]:
        return {"id": f"chatcmpl-{next(self._ids)}", "object": kind, "created": 0, "model": body["model"]}


def _choice(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {"index": 0, "delta": delta, "finish_reason": finish_reason}


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [word if i == len(words) - 1 else f"{word} " for i, word in enumerate(words)]
