"""The HTTP client of every request a node sends out (``http``, ``llm``, ``agent``): through the egress guard.

``GuardedTransport`` checks each request before it leaves: ``http``/``https`` only, and the host resolved
once, every address allowed by the run's ``EgressPolicy`` (``switchboard.egress``). It then connects to a
checked address itself: the URL handed to the connection pool carries the address, while the ``Host``
header keeps the name and so does TLS (the ``sni_hostname`` extension: SNI and the certificate's check are
for the name). A DNS answer that changes after the check (rebinding) cannot send the request elsewhere.
Refusals raise ``EgressRefused``, which steps turn into the node error ``egress_blocked`` (``blocked``); a
host that does not resolve is a connection error, as it was before the guard (retried like one).

Clients never follow redirects (a credential is never replayed to another location; were one followed, its
hop would be checked again, since every request passes the transport) and never use proxies from the
environment (a proxy would resolve and connect on its own). Each request still gets its own client (no
connection, cookie or credential outlives it) on the process's shared SSL context (``steps.tls``).
"""

from __future__ import annotations

import ssl

import httpx

from switchboard.egress import EgressPolicy, EgressRefused, Resolver, send_pinned
from switchboard.engine.errors import StepError


class GuardedTransport(httpx.BaseTransport):
    def __init__(
        self, policy: EgressPolicy, ssl_context: ssl.SSLContext, resolver: Resolver | None = None
    ) -> None:
        self.policy = policy
        self.ssl_context = ssl_context
        self._resolver = resolver
        self._pool = httpx.HTTPTransport(verify=ssl_context, trust_env=False)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response: httpx.Response = send_pinned(request, self.policy, self._pool, httpx, self._resolver)
        return response

    def close(self) -> None:
        self._pool.close()


def guarded_client(
    policy: EgressPolicy, ssl_context: ssl.SSLContext, timeout: float, resolver: Resolver | None = None
) -> httpx.Client:
    """A client for one request (or one model call) whose every request goes through the guard."""
    return httpx.Client(
        transport=GuardedTransport(policy, ssl_context, resolver),
        timeout=timeout,
        trust_env=False,
        follow_redirects=False,
    )


def blocked(refused: EgressRefused, request: str) -> StepError:
    """The node error of a request the guard refused: not retried, the same address would be refused."""
    return StepError(
        "egress_blocked",
        f"{request} was not sent: {refused.message}",
        {"reason": refused.code},
        retryable=False,
    )
