"""Headers a connection owns: with a connection, node config and run input (and so an agent's model, through
a tool call's inputs) cannot set them.

A connection decides where its credential goes and how it is presented: ``Host``, its auth header
(``Authorization``; the header an ``http_api_key`` connection names; every header an ``http`` connection
sets), ``Cookie``, ``Forwarded``, ``X-Forwarded-*`` and the routing overrides some proxies honour, ``Proxy-*``
and the hop-by-hop headers. A literal header name is refused when the workflow is saved (422
``header_not_allowed``); one that arrives through a reference fails the node with ``header_not_allowed``
before anything is sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

OWNED = frozenset(
    {
        "host",
        "authorization",
        "cookie",
        "forwarded",
        "x-real-ip",
        "x-host",
        "x-original-url",
        "x-rewrite-url",
        # hop-by-hop (RFC 9110, 7.6.1)
        "connection",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
OWNED_PREFIXES = ("x-forwarded-", "proxy-")


def connection_header_names(connection_type: str, config: Mapping[str, Any]) -> set[str]:
    """The headers a connection's own config sets (lower case)."""
    names = {str(name).lower() for name in (config.get("headers") or {})}
    if connection_type == "http_api_key":
        names.add(str(config.get("header") or "Authorization").lower())
    if connection_type == "oauth2":
        names.add("authorization")
    return names


def owned_by_connection(name: str, connection_headers: Iterable[str] = ()) -> bool:
    lowered = name.lower()
    return lowered in OWNED or lowered.startswith(OWNED_PREFIXES) or lowered in set(connection_headers)
