"""Sending a webhook (a run callback, an App's event) to a destination the egress guard checked.

``switchboard.egress.check_url`` decides where a webhook may go (at creation and again before every
attempt); ``post`` connects to the very addresses it checked (the host's name still goes into ``Host`` and
TLS SNI, and the certificate is verified against it), so a DNS answer that changes between check and
connect cannot redirect it inside. Redirects are not followed; they count as failures.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Literal

from switchboard.egress import Destination

DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    error: Literal["timeout", "connection_error", "tls_error", "invalid_response"] | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _connect_to(addresses: tuple[str, ...], port: int, timeout: float) -> socket.socket:
    """Like ``socket.create_connection``, but only to the checked addresses."""
    last_error: OSError = OSError("no address")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as error:
            last_error = error
    raise last_error


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, destination: Destination, timeout: float) -> None:
        super().__init__(destination.host, destination.port, timeout=timeout)
        self._create_connection = lambda *_args, **_kwargs: _connect_to(
            destination.addresses, destination.port, timeout
        )


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, destination: Destination, timeout: float) -> None:
        super().__init__(
            destination.host, destination.port, timeout=timeout, context=ssl.create_default_context()
        )
        self._create_connection = lambda *_args, **_kwargs: _connect_to(
            destination.addresses, destination.port, timeout
        )


def post(
    destination: Destination, body: bytes, headers: dict[str, str], timeout: float = DEFAULT_TIMEOUT_SECONDS
) -> PostResult:
    """POST once; ``timeout`` bounds connecting and each read. The response body is not read."""
    connection: http.client.HTTPConnection = (
        _PinnedHTTPSConnection(destination, timeout)
        if destination.scheme == "https"
        else _PinnedHTTPConnection(destination, timeout)
    )
    started = time.monotonic()
    status_code: int | None = None
    error: Literal["timeout", "connection_error", "tls_error", "invalid_response"] | None = None
    try:
        connection.request("POST", destination.target, body=body, headers=headers)
        status_code = connection.getresponse().status
    except TimeoutError:
        error = "timeout"
    except ssl.SSLError:
        error = "tls_error"
    except http.client.HTTPException:
        error = "invalid_response"
    except OSError:
        error = "connection_error"
    finally:
        connection.close()
    return PostResult(status_code, error, int((time.monotonic() - started) * 1000))
