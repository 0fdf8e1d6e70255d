"""moto's server on 127.0.0.1: the local stack's AWS endpoint (``AWS_ENDPOINT_URL``).

It is moto's own server application (``moto.moto_server.werkzeug_app``: what ``moto_server`` and
``ThreadedMotoServer`` run, which build it where nothing can be put in front of it) on Werkzeug's threaded
server with moto's request handler, a free port, in a daemon thread, with one thing in front of it: a request
for SQS is presented as addressed to SQS's regional host (``https://sqs.<region>.amazonaws.com``), so the
queue URLs moto answers are the ones AWS answers, whatever endpoint the client reached (on AWS, a VPC
endpoint answers them too), and equal to each queue's ``Ref`` in the functions' environment.

moto keeps what it holds in the process (one set of backends per process, whichever server serves them):
``start`` and ``stop`` empty it through the server's own ``POST /moto-api/reset``, so every stack starts from
nothing, as with a fresh process, and leaves nothing behind (a test process runs several stacks).
"""

from __future__ import annotations

import logging
import threading
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
_SQS_TARGET = "AmazonSQS."
RESET_PATH = "/moto-api/reset"
_RESET_TIMEOUT_S = 10


def sqs_region(environ: dict[str, Any]) -> str | None:
    """The region of an SQS request (from its credential scope), or None for another service's."""
    scope = str(environ.get("HTTP_AUTHORIZATION", "")).partition("Credential=")[2].split(",")[0]
    parts = scope.split("/")
    is_sqs = str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith(_SQS_TARGET) or (
        len(parts) > 3 and parts[3] == "sqs"
    )
    return parts[2] if is_sqs and len(parts) > 2 else None


def with_sqs_host(app: WsgiApp) -> WsgiApp:
    def application(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        region = sqs_region(environ)
        if region is not None:
            environ.update(
                {"HTTP_HOST": f"sqs.{region}.amazonaws.com", "wsgi.url_scheme": "https", "SERVER_PORT": "443"}
            )
        return app(environ, start_response)

    return application


class AwsServer:
    """moto's server on ``127.0.0.1`` at a free port, serving on threads until ``stop``."""

    def __init__(self) -> None:
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the AWS server is not running")
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> None:
        # Werkzeug logs every request: a line per AWS call would drown the stack's own output.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        application = with_sqs_host(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(
            "127.0.0.1", 0, application, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-server", daemon=True)
        self._thread.start()
        self.reset()

    def reset(self) -> None:
        """Empty every moto backend (moto's own reset, over HTTP like any other call)."""
        request = urllib.request.Request(self.url + RESET_PATH, method="POST")  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=_RESET_TIMEOUT_S):  # noqa: S310 - loopback
            pass

    def stop(self) -> None:
        if self._server is not None:
            self.reset()
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()
            self._thread = None
