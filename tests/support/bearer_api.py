"""A loopback upstream API protected by the test authorization server: each request's bearer token is checked
with the provider's introspection endpoint (RFC 7662, as the ``upstream-api`` resource server). An active
token gets 200 ``{"sub", "path"}``; anything else 401 ``invalid_token``. ``reject_all`` makes it refuse
every token (an upstream that no longer accepts the account, whatever the token); ``on_request`` runs before
each answer (something that happens while a node's request is in flight).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler

import httpx

from tests.support.fakes import Recorded, _send, _Server
from tests.support.oauth_provider import OAuthProvider


class IntrospectedApi(_Server):
    def __init__(self, provider: OAuthProvider) -> None:
        super().__init__()
        self._introspection = str(provider.discovery()["introspection_endpoint"])
        self._client = provider.resource_server
        self.reject_all = False
        self.on_request: Callable[[], None] | None = None

    @property
    def url(self) -> str:
        return self.origin

    def bearer_tokens(self) -> list[str]:
        """The bearer token of each request received, in order."""
        return [r.headers.get("authorization", "").removeprefix("Bearer ") for r in self.requests]

    def handle(self, handler: BaseHTTPRequestHandler, request: Recorded) -> None:
        if self.on_request is not None:
            self.on_request()
        claims = None if self.reject_all else self._introspect(request.headers.get("authorization", ""))
        if claims is None:
            body = json.dumps({"error": "invalid_token"}).encode()
            headers = {"Content-Type": "application/json", "WWW-Authenticate": 'Bearer error="invalid_token"'}
            _send(handler, 401, body, headers)
            return
        body = json.dumps({"sub": claims.get("sub"), "path": request.path}).encode()
        _send(handler, 200, body, {"Content-Type": "application/json"})

    def _introspect(self, authorization: str) -> dict[str, object] | None:
        if not authorization.startswith("Bearer "):
            return None
        response = httpx.post(
            self._introspection,
            data={"token": authorization.removeprefix("Bearer "), "token_type_hint": "access_token"},
            auth=(self._client.client_id, self._client.client_secret),
            timeout=10,
            trust_env=False,
        )
        claims = response.json() if response.status_code == 200 else {}
        return claims if isinstance(claims, dict) and claims.get("active") is True else None
