"""``switchboard local serve``: the local stack behind a stdlib threading HTTP server.

The server only adapts HTTP to ``LocalStack.handle``: it reads the body (refusing more than API Gateway's
10 MB with 413 before any function runs), writes the response, and logs one access line per request to
stderr. SIGINT and SIGTERM stop serving, save the state and exit 0.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType

from switchboard_cli.local.events import MAX_BODY_BYTES, HttpRequest, HttpResponse, gateway_error
from switchboard_cli.local.stack import LocalStack
from switchboard_cli.local.state import StateError
from switchboard_cli.local.template import TemplateError

READY_MARKER = "SWITCHBOARD_READY"
_HOP_BY_HOP = frozenset({"content-length", "transfer-encoding", "connection", "keep-alive"})


class BodyTooLargeError(Exception):
    pass


class LocalHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], stack: LocalStack) -> None:
        super().__init__(address, LocalRequestHandler)
        self.stack = stack


class LocalRequestHandler(BaseHTTPRequestHandler):
    server: LocalHttpServer
    protocol_version = "HTTP/1.1"
    server_version = "switchboard-local"

    def handle_any(self) -> None:
        started = time.monotonic()
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
            response = self.server.stack.handle(request)
        elapsed = (time.monotonic() - started) * 1000
        target = f" -> {response.function_id}" if response.function_id else ""
        sys.stderr.write(
            f'[switchboard local] "{self.command} {self.path}" {response.status} {elapsed:.0f}ms{target}\n'
        )
        try:
            self._write(response)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any  # noqa: N815

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


def banner(stack: LocalStack) -> str:
    admin = stack.admin
    base = stack.base_url
    return "\n".join(
        [
            "",
            "Switchboard local stack is running (AWS: moto in-process; nothing leaves this machine).",
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


def serve(template_path: Path, state_path: Path, port: int, host: str = "127.0.0.1") -> int:
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
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    stack.stop()
    sys.stderr.write(f"switchboard: stopped; state saved to {stack.state.path}\n")
    return 0
