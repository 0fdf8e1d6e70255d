"""The response-streaming seam: whether a handler may send its response while it is still running.

API Gateway HTTP APIs send a Lambda integration's response only once the handler has returned, so on AWS
there is no stream: ``open_stream`` returns None and the handler answers with its whole body, as usual. A
host that can stream (the local stack) installs a transport for one invocation at a time; ``open_stream``
then sends the status and headers at once and returns a writer whose chunks reach the client as they are
written.

The contract for a handler that opened a stream:

- the status and headers it passed to ``open_stream`` are the response's; the host has already sent them;
- it writes the body through the stream, then closes it (the host closes it when the handler returns, if the
  handler did not), and a ``write`` that raises ``StreamClosed`` means nobody is listening any more;
- it returns a response whose body is empty: the host ignores whatever the handler returns;
- a stream is opened at most once per invocation; a function another function invokes never gets one.

Functions never know which host they run on: they ask for a stream and handle both answers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Protocol


class StreamClosed(Exception):
    """The client went away, or the host is stopping: nothing written reaches anyone any more."""


class ResponseStream(Protocol):
    @property
    def closed(self) -> bool:
        """True once the stream was closed, the client went away or the host is stopping."""

    def write(self, chunk: bytes) -> None:
        """Send ``chunk`` to the client now; raise ``StreamClosed`` when it can no longer be delivered."""

    def close(self) -> None:
        """End the response body (idempotent)."""


class StreamTransport(Protocol):
    def open(self, status: int, headers: Mapping[str, str]) -> ResponseStream:
        """Send the status line and headers now and return the body's writer; only once per invocation."""


_transport: ContextVar[StreamTransport | None] = ContextVar("switchboard_stream_transport", default=None)


def open_stream(status: int, headers: Mapping[str, str]) -> ResponseStream | None:
    """Start the response now when the host can stream it; None means: return the whole body instead."""
    transport = _transport.get()
    return None if transport is None else transport.open(status, headers)


@contextmanager
def installed(transport: StreamTransport | None) -> Iterator[None]:
    """Offer ``transport`` (or, with None, no stream at all) to the code running in this context: a host
    wraps each invocation in it."""
    token = _transport.set(transport)
    try:
        yield
    finally:
        _transport.reset(token)
