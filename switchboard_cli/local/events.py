"""API Gateway HTTP API payload format 2.0: the event a request becomes, and the response a result becomes.

Like API Gateway: header names are lower-cased and repeated headers comma-joined; the ``Cookie`` header
moves to ``cookies``; repeated query parameters are comma-joined; a body is base64-encoded unless its
content type is textual; a result without ``statusCode`` is sent as JSON with status 200; a malformed
result or a handler error becomes ``500 {"message":"Internal Server Error"}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import parse_qsl

from switchboard.streaming import StreamTransport
from switchboard_cli.local.routing import RouteMatch, strip_port

MAX_BODY_BYTES = 10 * 1024 * 1024
"""API Gateway's payload limit."""

_TEXT_TYPES = (
    "application/json",
    "application/x-www-form-urlencoded",
    "application/xml",
    "application/javascript",
    "application/graphql",
    "application/x-ndjson",
)


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str
    """The request target as received: raw path plus ``?query``."""
    headers: Sequence[tuple[str, str]]
    body: bytes = b""
    source_ip: str = "127.0.0.1"
    protocol: str = "HTTP/1.1"

    @property
    def raw_path(self) -> str:
        return self.target.split("?", 1)[0] or "/"

    @property
    def raw_query_string(self) -> str:
        return self.target.split("?", 1)[1] if "?" in self.target else ""

    def header(self, name: str) -> str | None:
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ",".join(values) if values else None

    @property
    def host(self) -> str:
        return self.header("host") or "localhost"


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    function_id: str | None = None


class HttpResponseStream(StreamTransport, Protocol):
    """The HTTP server's side of ``switchboard.streaming`` for one request: a handler may open it once; the
    server then sends the chunks as they are written and ignores the response the handler returns."""

    def abort(self) -> None:
        """The handler failed after opening the stream: end the response without its terminator, so the
        client sees a broken response rather than a complete one (no effect on an unopened stream)."""


def json_response(status: int, document: Any, function_id: str | None = None) -> HttpResponse:
    return HttpResponse(
        status, [("content-type", "application/json")], json.dumps(document).encode(), function_id=function_id
    )


RETRY_AFTER_SECONDS = 1
"""What the local gateway's own 429 and 503 tell a client to wait, like the functions' ``Retry-After``."""


def gateway_error(status: int, message: str) -> HttpResponse:
    """An error API Gateway itself answers with (no function involved), in its own ``{"message"}`` shape; a
    429 or 503 carries ``Retry-After`` as every one the APIs answer does."""
    response = json_response(status, {"message": message})
    if status in (429, 503):
        response.headers.append(("retry-after", str(RETRY_AFTER_SECONDS)))
    return response


def internal_server_error(function_id: str | None = None) -> HttpResponse:
    return json_response(500, {"message": "Internal Server Error"}, function_id)


def is_textual(content_type: str | None) -> bool:
    if not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return (
        media_type.startswith("text/") or media_type in _TEXT_TYPES or media_type.endswith(("+json", "+xml"))
    )


def build_event(
    request: HttpRequest,
    match: RouteMatch,
    *,
    account_id: str,
    request_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        headers[key] = f"{headers[key]},{value}" if key in headers else value
    headers.setdefault("x-forwarded-for", request.source_ip)
    headers.setdefault("x-forwarded-proto", "http")
    if ":" in request.host and not request.host.endswith("]"):
        headers.setdefault("x-forwarded-port", request.host.rsplit(":", 1)[1])
    domain_name = strip_port(request.host)
    route_key = match.route.route_key
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query_string,
        "headers": headers,
        "requestContext": {
            "accountId": account_id,
            "apiId": match.route.api_id,
            "domainName": domain_name,
            "domainPrefix": domain_name.split(".", 1)[0],
            "http": {
                "method": request.method.upper(),
                "path": request.raw_path,
                "protocol": request.protocol,
                "sourceIp": request.source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": request_id or str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    query = _query_parameters(request.raw_query_string)
    if query:
        event["queryStringParameters"] = query
    if match.path_parameters:
        event["pathParameters"] = dict(match.path_parameters)
    if request.body:
        event["body"], event["isBase64Encoded"] = _encode_body(request.body, request.header("content-type"))
    return event


def _query_parameters(raw_query: str) -> dict[str, str]:
    parameters: dict[str, str] = {}
    for name, value in parse_qsl(raw_query, keep_blank_values=True):
        parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
    return parameters


def _encode_body(body: bytes, content_type: str | None) -> tuple[str, bool]:
    if is_textual(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def response_from_result(result: Any, function_id: str | None = None) -> HttpResponse:
    """Turn a handler's return value into the HTTP response API Gateway would send."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return json_response(200, result, function_id)
    status = result["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise ValueError(f"malformed Lambda proxy response: statusCode {status!r}")
    headers = [(str(name), str(value)) for name, value in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or [])
    body = result.get("body")
    if body is None:
        payload = b""
    elif result.get("isBase64Encoded"):
        try:
            payload = base64.b64decode(str(body), validate=True)
        except binascii.Error as error:
            raise ValueError("malformed Lambda proxy response: body is not base64") from error
    else:
        payload = (body if isinstance(body, str) else json.dumps(body)).encode("utf-8")
    return HttpResponse(status, headers, payload, function_id=function_id)
