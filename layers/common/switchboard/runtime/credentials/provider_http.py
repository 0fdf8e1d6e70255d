"""The HTTP client of the credentials function's requests to an OAuth provider (code exchange, userinfo, JWKS,
revocation): Authlib's ``OAuth2Client`` runs on httpx2, with this module's transport under it.

``PinnedTransport`` is the httpx2 twin of the engine's ``GuardedTransport`` (``engine.steps.outbound``, an
httpx transport, which the credentials function does not ship): each request's host is resolved once, every
address judged by the deployment's ``EgressPolicy`` (``switchboard.egress``), and the request connects to a
checked address while its ``Host`` header and TLS (``sni_hostname``) keep the name. A DNS answer that
changes between the check and the connection (rebinding) cannot send a client secret or a token inside.
A refused destination raises ``EgressRefused`` (the caller answers ``destination_not_allowed``); a host that
does not resolve is a connection error. No redirect is followed, no proxy from the environment is used.
"""

from __future__ import annotations

from typing import Any

import httpx2

from switchboard import egress
from switchboard.egress import EgressPolicy

TIMEOUT_SECONDS = 5.0


class PinnedTransport(httpx2.BaseTransport):
    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self._pool = httpx2.HTTPTransport(trust_env=False)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        response: httpx2.Response = egress.send_pinned(request, self.policy, self._pool, httpx2)
        return response

    def close(self) -> None:
        self._pool.close()


def provider_client(config: dict[str, Any], redirect_uri: str | None = None) -> Any:
    """Authlib's ``OAuth2Client`` for an ``oauth2_app`` config (its client secret included), authenticating
    with the app's method at the token and revocation endpoints alike (Authlib's revocation default is
    basic), every request through ``PinnedTransport``. Close it (``with``) after use."""
    from authlib.integrations.httpx_client import OAuth2Client

    method = str(config.get("token_endpoint_auth_method") or "client_secret_basic")
    return OAuth2Client(
        client_id=config["client_id"],
        client_secret=config["client_secret"],
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        transport=PinnedTransport(egress.current_policy()),
        timeout=TIMEOUT_SECONDS,
        trust_env=False,
        follow_redirects=False,
    )
