"""``switchboard local serve``: the local stack behind a stdlib threading HTTP server.

The server only adapts HTTP to ``LocalStack.handle``: it reads the body (refusing more than API Gateway's
10 MB with 413 before any function runs), writes the response, and logs one access line per request to
stderr (with token query parameters redacted: ``logged_target``). SIGINT and SIGTERM stop serving, save the
state and exit 0.

Streaming. Unlike API Gateway, the local server can send a response while the handler still runs: every
request (except ``HEAD``) offers its handler a ``ChunkedResponseStream`` through ``switchboard.streaming``. A
handler that opens it has its status and headers sent at once, then each chunk as soon as it is written:
with HTTP/1.1 chunked transfer encoding (the connection stays usable afterwards), or, for an HTTP/1.0
client, unframed until the connection closes. The response ends when the handler closes the stream or
returns; the result it returns is not sent. A handler that fails after opening the stream leaves the
response without its final chunk, so the client can tell it broke. Each connection has its own thread, and
each function several execution environments (``functions.py``), so an open stream holds up nothing else.
On shutdown, open streams report ``closed``, and the server gives their handlers a moment to notice.
"""

from __future__ import annotations

import json
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import unquote_plus

from switchboard.streaming import StreamClosed
from switchboard_cli.local.events import MAX_BODY_BYTES, HttpRequest, HttpResponse, gateway_error
from switchboard_cli.local.stack import DRAIN_S, LocalStack
from switchboard_cli.local.state import StateError
from switchboard_cli.local.template import TemplateError

READY_MARKER = "SWITCHBOARD_READY"
REDACTED = "[REDACTED]"
_CREDENTIAL_PARAMETERS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "code",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
    }
)
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})
STREAMS_STOP_TIMEOUT_S = 3.0
"""How long closing the server waits for the handlers of open streams to notice and return."""


class BodyTooLargeError(Exception):
    pass


class LocalHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], stack: LocalStack) -> None:
        super().__init__(address, LocalRequestHandler)
        self.stack = stack
        self.stopping = threading.Event()
        self._open_streams: set[ChunkedResponseStream] = set()
        self._streams_changed = threading.Condition()

    def stream_opened(self, stream: ChunkedResponseStream) -> None:
        with self._streams_changed:
            self._open_streams.add(stream)

    def stream_ended(self, stream: ChunkedResponseStream) -> None:
        with self._streams_changed:
            self._open_streams.discard(stream)
            self._streams_changed.notify_all()

    def server_close(self) -> None:
        """Tell open streams the server is stopping and wait a little for their handlers to return."""
        self.stopping.set()
        deadline = time.monotonic() + STREAMS_STOP_TIMEOUT_S
        with self._streams_changed:
            while self._open_streams and (remaining := deadline - time.monotonic()) > 0:
                self._streams_changed.wait(remaining)
        super().server_close()


class ChunkedResponseStream:
    """One request's response stream (``switchboard.streaming``), written to the request's socket."""

    def __init__(self, request: LocalRequestHandler) -> None:
        self._request = request
        self._chunked = request.request_version != "HTTP/1.0"
        self._lock = threading.Lock()
        self.status: int | None = None
        self._ended = False
        self._aborted = False

    @property
    def opened(self) -> bool:
        return self.status is not None

    @property
    def closed(self) -> bool:
        return self._ended or self._request.server.stopping.is_set() or self._peer_hung_up()

    def open(self, status: int, headers: Mapping[str, str]) -> ChunkedResponseStream:
        with self._lock:
            if self.status is not None:
                raise RuntimeError("the response stream is already open")
            self.status = status
            request = self._request
            request.send_response(status)
            for name, value in headers.items():
                if name.lower() not in _HOP_BY_HOP:
                    request.send_header(name, value)
            if self._chunked:
                request.send_header("Transfer-Encoding", "chunked")
            else:
                request.close_connection = True
                request.send_header("Connection", "close")
            try:
                request.end_headers()
            except OSError:
                self._ended = request.close_connection = True
        request.server.stream_opened(self)
        return self

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return  # an empty chunk would end a chunked body
        with self._lock:
            if self._ended or self.status is None:
                raise StreamClosed("the response stream is not open")
            framed = b"%X\r\n%s\r\n" % (len(chunk), chunk) if self._chunked else chunk
            try:
                self._request.wfile.write(framed)
            except OSError as error:
                self._ended = self._request.close_connection = True
                raise StreamClosed("the client went away") from error

    def close(self) -> None:
        with self._lock:
            if self._ended or self.status is None:
                return
            self._ended = True
            if self._aborted or not self._chunked:
                return
            try:
                self._request.wfile.write(b"0\r\n\r\n")
            except OSError:
                self._request.close_connection = True

    def abort(self) -> None:
        with self._lock:
            self._aborted = True
            if self.status is not None:
                self._request.close_connection = True
        self.close()

    def finish(self) -> None:
        """After the handler returned: end the body if the handler did not, and forget the stream (a
        stopping server also closes the connection)."""
        self.close()
        if self._request.server.stopping.is_set():
            self._request.close_connection = True
        self._request.server.stream_ended(self)

    def _peer_hung_up(self) -> bool:
        connection: socket.socket = self._request.connection
        try:
            readable, _, _ = select.select([connection], [], [], 0)
            return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
        except (OSError, ValueError):
            return True


class LocalRequestHandler(BaseHTTPRequestHandler):
    server: LocalHttpServer
    protocol_version = "HTTP/1.1"
    server_version = "switchboard-local"
    disable_nagle_algorithm = True
    """TCP_NODELAY: headers and body go out in separate sends, and with Nagle's algorithm on, the body of a
    keep-alive response waits for the client's delayed ACK of the headers (~40 ms); a stream's chunks would
    wait the same way."""

    def handle_any(self) -> None:
        started = time.monotonic()
        stream = ChunkedResponseStream(self) if self.command != "HEAD" else None
        try:
            body = self._read_body()
        except BodyTooLargeError:
            self.close_connection = True
            response = gateway_error(413, "Request Entity Too Large")
        else:
            request = HttpRequest(
                method=self.command,
                target=self.path,
                headers=list(self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
                protocol=self.request_version,
            )
            response = self.server.stack.handle(request, stream)
        streamed = stream is not None and stream.opened
        if stream is not None and streamed:
            stream.finish()
            status, how = stream.status, " (streamed)"
        else:
            status, how = response.status, ""
        elapsed = (time.monotonic() - started) * 1000
        target = f" -> {response.function_id}" if response.function_id else ""
        request_line = f"{self.command} {logged_target(self.path)}"
        sys.stderr.write(f'[switchboard local] "{request_line}" {status} {elapsed:.0f}ms{target}{how}\n')
        if streamed:
            return
        try:
            self._write(response)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any  # noqa: N815

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, QUERY, ...) reaches the router too, which answers it like API Gateway.
        if name.startswith("do_"):
            return self.handle_any
        raise AttributeError(name)

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise BodyTooLargeError
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            length = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if length == 0:
                while self.rfile.readline().strip():
                    pass
                return b"".join(chunks)
            size += length
            if size > MAX_BODY_BYTES:
                raise BodyTooLargeError
            chunks.append(self.rfile.read(length))
            self.rfile.readline()

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """The access line is written once the response is ready (see ``handle_any``)."""


def logged_target(target: str) -> str:
    """The request target as the access line shows it: the value of every query parameter that carries a
    credential (a connect page's ``?token=sb_ct_…``, a presigned URL's signature, any ``sb_…`` token)
    replaced by ``[REDACTED]``; the rest as it came."""
    path, separator, query = target.partition("?")
    if not separator:
        return target
    shown = []
    for parameter in query.split("&"):
        name, equals, value = parameter.partition("=")
        secret = unquote_plus(name).lower() in _CREDENTIAL_PARAMETERS or unquote_plus(value).startswith("sb_")
        shown.append(f"{name}{equals}{REDACTED}" if equals and secret else parameter)
    return f"{path}?{'&'.join(shown)}"


def banner(stack: LocalStack) -> str:
    admin = stack.admin
    base = stack.base_url
    return "\n".join(
        [
            "",
            "Switchboard local stack is running "
            f"(AWS: moto at {stack.backend.endpoint_url}; nothing leaves this machine).",
            f"  Base URL                 {base}",
            f"  Management API           {base}/v1",
            f"  Admin                    {admin.email} (organization {admin.org_id})",
            f"  Personal access token    {admin.token}",
            f"  Apps                     http://<app_id>.{stack.apps_domain}/",
            f"                           {base}/apps/<app_id>/",
            f"  State file               {stack.state.path}",
            "",
            "Try it:",
            f'  curl -s -H "Authorization: Bearer {admin.token}" {base}/v1/me',
            "",
            "Press Ctrl-C to stop (the state is saved).",
            "",
        ]
    )


def serve(
    template_path: Path, state_path: Path, port: int, host: str = "127.0.0.1", drain_s: float = DRAIN_S
) -> int:
    stack = LocalStack(template_path, state_path, host=host)
    try:
        server = LocalHttpServer((host, port), stack)
    except OSError as error:
        sys.stderr.write(f"switchboard: cannot listen on {host}:{port}: {error.strerror or error}\n")
        return 1
    try:
        stack.start(server.server_address[1])
    except (StateError, TemplateError, FileNotFoundError) as error:
        sys.stderr.write(f"switchboard: {error}\n")
        server.server_close()
        stack.stop()
        return 1
    except KeyboardInterrupt:
        server.server_close()
        stack.stop()
        return 130

    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    worker = threading.Thread(target=server.serve_forever, name="switchboard-local-http", daemon=True)
    worker.start()
    admin = stack.admin
    print(banner(stack), flush=True)
    ready = {"base_url": stack.base_url, "pat": admin.token, "org_id": admin.org_id, "port": stack.port}
    print(f"{READY_MARKER} {json.dumps(ready)}", flush=True)
    stack.warm_up()
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    stack.stop(drain_s)
    sys.stderr.write(f"switchboard: stopped; state saved to {stack.state.path}\n")
    return 0
