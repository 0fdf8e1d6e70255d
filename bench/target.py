"""A loopback HTTP target: answers every request with ``{"ok": true}`` after a fixed delay, one thread per
request, and counts what it served. 127.0.0.1 only, a free port, stopped when the ``with`` block ends."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

BODY = b'{"ok": true}'
SOCKET_TIMEOUT_SECONDS = 10


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    """The default backlog (5) would drop SYNs of a burst of parallel requests and add 1 s retries."""


class Target:
    def __init__(self, delay_seconds: float = 0.0) -> None:
        self.delay_seconds = delay_seconds
        self.served = 0
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            timeout = SOCKET_TIMEOUT_SECONDS

            def do_GET(self) -> None:
                time.sleep(owner.delay_seconds)
                with owner._lock:
                    owner.served += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(BODY)))
                self.end_headers()
                self.wfile.write(BODY)

            def log_message(self, *_: Any) -> None:
                return

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
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
