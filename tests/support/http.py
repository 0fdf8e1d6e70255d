"""A tiny HTTP client for the tests that call a running stack over 127.0.0.1 (stdlib only): status,
lower-cased headers and parsed JSON."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

# The local stack is on this machine: never go through a proxy the environment may configure.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    """The parsed JSON body, or None when the body is empty or not JSON."""
    text: str


def request(
    method: str,
    url: str,
    *,
    token: str | None = None,
    json_body: Any = None,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> Reply:
    all_headers = dict(headers or {})
    if json_body is not None:
        data = json.dumps(json_body).encode()
        all_headers.setdefault("Content-Type", "application/json")
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    prepared = urllib.request.Request(url, data=data, headers=all_headers, method=method)
    try:
        with _OPENER.open(prepared, timeout=timeout) as response:
            return _reply(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        return _reply(error.code, dict(error.headers.items()), error.read())


def _reply(status: int, headers: dict[str, str], raw: bytes) -> Reply:
    text = raw.decode("utf-8", errors="replace")
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    return Reply(status, {name.lower(): value for name, value in headers.items()}, body, text)
