"""``http``: one request, built in three layers: connection config → node config → run input.

- ``headers`` and ``params`` merge key by key (header names case-insensitively); the body (the ``http``
  connection's ``data``, the node's ``body``, the input ``body``) merges key by key when both sides are
  objects, and otherwise the more specific layer replaces it.
- The run-input layer is the node's resolved inputs named ``headers``, ``params`` and ``body``. A method
  comes from the node, else the connection, else ``GET``; the base URL only ever from the connection (or,
  without one, from ``config.url``); ``path`` is appended to it, and a request whose origin would differ
  from the base URL's is refused, so a connection's credentials only go to its own host.
- An ``http_api_key`` connection sends ``<header>: <scheme> <key>``; an ``oauth2`` one (an end user's OAuth
  link, or a project connection a builder authorized) ``Authorization: Bearer <access token>``
  (``oauth2_not_authorized`` while it holds none), and when the upstream answers 401 it asks for a refreshed
  token once (``RunContext.refresh_credential``) and sends the request once more with it. With a
  connection, the node and the run input cannot set the headers it owns (``engine.owned_headers``: ``Host``,
  its auth header and its own headers, ``Cookie``, forwarding, proxy and hop-by-hop headers): the node fails
  ``header_not_allowed``.
- Every request goes through the egress guard (``steps.outbound``): a non-public address fails the node
  with ``egress_blocked`` before anything is sent. Redirects are not followed: a credential is never
  replayed to another location.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from switchboard.egress import EgressRefused
from switchboard.engine.contracts import Credential
from switchboard.engine.errors import StepError
from switchboard.engine.nodes import HttpNode
from switchboard.engine.owned_headers import connection_header_names, owned_by_connection
from switchboard.engine.steps.base import StepContext
from switchboard.engine.steps.outbound import blocked, guarded_client
from switchboard.engine.steps.tls import http_ssl_context

AUTHORIZATION = "Authorization"
MAX_RESPONSE_BYTES = 10 * 1024 * 1024
MAX_ERROR_BODY = 1000


@dataclass
class Request:
    method: str
    url: httpx.URL
    headers: dict[str, str]
    params: list[tuple[str, str | int | float | bool | None]]
    body: Any


def run_http(step: StepContext, node: HttpNode) -> dict[str, Any]:
    connection = step.credential()
    request = build_request(step, node, connection[1] if connection else None)
    shown_url = str(request.url.copy_with(query=None))
    step.annotate({"http.method": request.method, "http.url": shown_url})
    with guarded_client(step.services.egress, http_ssl_context(), step.remaining()) as client:
        status, headers, content = _send(step, client, request, shown_url)
        if status == 401 and connection is not None and connection[1].connection_type == "oauth2":
            fresh = _refreshed(step, connection[1])
            if fresh is not None:
                request.headers[AUTHORIZATION] = _bearer(fresh)
                status, headers, content = _send(step, client, request, shown_url)
    step.annotate({"http.status_code": status})
    success = status in node.config.success_codes if node.config.success_codes else 200 <= status < 300
    if not success:
        if connection is not None and status in {401, 403}:
            raise step.unauthorized(connection[0], status, f"{request.method} {shown_url}")
        text = content[:MAX_ERROR_BODY].decode("utf-8", errors="replace")
        raise StepError(
            "http_error",
            f"{request.method} {shown_url} answered HTTP {status}",
            {"status_code": status, "body": text},
        )
    return {"status": status, "headers": headers, "body": _parse(content, headers, node)}


def build_request(step: StepContext, node: HttpNode, credential: Credential | None) -> Request:
    config = node.config
    connection: Mapping[str, Any] = credential.config if credential is not None else {}
    base = httpx.URL(
        str(connection["url"]) if credential is not None else _text(step.materialize(config.url))
    )
    if base.scheme not in {"http", "https"} or not base.host:
        raise StepError("invalid_url", "the request URL must be an absolute http(s) URL", retryable=False)
    path = step.materialize(config.path, templated=True) if config.path is not None else ""
    params: dict[str, Any] = dict(base.params.multi_items())
    for layer in (
        connection.get("params") or {},
        step.materialize(config.params, templated=True),
        _input_object(step, "params"),
    ):
        params.update(layer)
    body: Any = None
    for layer in (
        connection.get("data") or None,
        step.materialize(config.body, templated=True),
        step.inputs.get("body"),
    ):
        if layer is not None:
            body = {**body, **layer} if isinstance(body, dict) and isinstance(layer, dict) else layer
    return Request(
        method=config.method or str(connection.get("method") or "GET"),
        url=_join(base, _text(path)),
        headers=_headers(step, node, credential),
        params=[(name, _text(item)) for name, value in params.items() for item in _items(value)],
        body=body,
    )


def _headers(step: StepContext, node: HttpNode, credential: Credential | None) -> dict[str, str]:
    """Merged case-insensitively; the name is spelled as the layer that set the value spelled it. The
    connection's layers come first and the node's and the input's may not touch what the connection owns."""
    connection: Mapping[str, Any] = credential.config if credential is not None else {}
    layers = [connection.get("headers") or {}]
    if credential is not None and credential.connection_type == "oauth2":
        layers.append({AUTHORIZATION: _bearer(credential)})
    if credential is not None and credential.connection_type == "http_api_key":
        scheme = connection.get("scheme")
        prefix = "Bearer" if scheme is None else str(scheme)
        name = str(connection.get("header") or "Authorization")
        layers.append({name: f"{prefix} {connection.get('api_key', '')}".strip()})
    workflow_layers = [step.materialize(node.config.headers, templated=True), _input_object(step, "headers")]
    if credential is not None:
        owned = connection_header_names(credential.connection_type, connection)
        for layer in workflow_layers:
            _refuse_owned(layer, owned)
    merged: dict[str, tuple[str, str]] = {}
    for layer in [*layers, *workflow_layers]:
        merged.update(
            {name.lower(): (name, _text(value)) for name, value in layer.items() if value is not None}
        )
    return dict(merged.values())


def _bearer(credential: Credential) -> str:
    """An OAuth credential's ``Authorization`` value; the node fails rather than send a request without it."""
    if credential.unusable is not None:
        raise StepError(credential.unusable.type, credential.unusable.message, retryable=False)
    token = credential.config.get("access_token")
    if not isinstance(token, str) or not token:
        raise StepError(
            "oauth2_not_authorized", "the OAuth connection holds no access token yet", retryable=False
        )
    return f"Bearer {token}"


def _refreshed(step: StepContext, used: Credential) -> Credential | None:
    """The credential with a newer access token (the credentials function refreshes it once, whichever run
    asks first), recorded on the node's span; None when it cannot be refreshed."""
    fresh = step.services.refresh(used)
    if fresh is not None:
        step.annotate({"credential.refreshed": True, "credential.reference": used.key})
    return fresh


def _refuse_owned(layer: Mapping[str, Any], owned: set[str]) -> None:
    for name in layer:
        if owned_by_connection(name, owned):
            shown = name[:128]
            raise StepError(
                "header_not_allowed",
                f"'{shown}' is the connection's to set: node config and run input cannot set it",
                {"header": shown},
                retryable=False,
            )


def _join(base: httpx.URL, path: str) -> httpx.URL:
    root = str(base.copy_with(query=None, fragment=None)).rstrip("/")
    if path and not path.startswith("/"):
        path = "/" + path
    url = httpx.URL(root + path)
    if (url.scheme, url.host, url.port, url.userinfo) != (base.scheme, base.host, base.port, base.userinfo):
        raise StepError("invalid_url", "the path would leave the base URL's origin", retryable=False)
    return url


def _send(
    step: StepContext, client: httpx.Client, request: Request, shown_url: str
) -> tuple[int, dict[str, str], bytes]:
    try:
        with client.stream(
            request.method,
            request.url,
            headers=request.headers,
            params=request.params,
            json=request.body,
        ) as response:
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_RESPONSE_BYTES:
                    raise StepError("response_too_large", f"the response exceeds {MAX_RESPONSE_BYTES} bytes")
                if time.monotonic() > step.deadline:
                    step.remaining()
                chunks.append(chunk)
            headers = {name.lower(): value for name, value in response.headers.items()}
            return response.status_code, headers, b"".join(chunks)
    except EgressRefused as refused:
        raise blocked(refused, f"{request.method} {shown_url}") from None
    except httpx.TimeoutException:
        step.remaining()
        raise StepError("timeout", f"{request.method} {shown_url} did not answer in time") from None
    except httpx.HTTPError as error:
        raise StepError(
            "http_connection_error", f"{request.method} {shown_url} failed: {type(error).__name__}"
        ) from None


def _parse(content: bytes, headers: Mapping[str, str], node: HttpNode) -> Any:
    response_format = node.config.response_format
    if response_format == "auto":
        response_format = "json" if "json" in headers.get("content-type", "") else "text"
    text = content.decode("utf-8", errors="replace")
    if response_format == "text":
        return text
    if not content.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        raise StepError("invalid_response", "the response body is not valid JSON") from None


def _input_object(step: StepContext, name: str) -> dict[str, Any]:
    value = step.inputs.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StepError("invalid_request", f"input '{name}' must be an object", retryable=False)
    return value


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _items(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
