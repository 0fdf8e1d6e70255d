"""Requests become API Gateway HTTP API payload 2.0 events; results become HTTP responses."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from switchboard_cli.local.events import (
    HttpRequest,
    build_event,
    gateway_error,
    is_textual,
    response_from_result,
)
from switchboard_cli.local.routing import Route, RouteMatch

MATCH = RouteMatch(
    Route("AppsApi", "ANY", "/apps/{app_id}/{proxy+}", "AppsFunction"),
    {"app_id": "app-x", "proxy": "v1/runs"},
)
NOW = datetime(2026, 3, 12, 19, 3, 58, 390000, tzinfo=UTC)


def event_for(request: HttpRequest) -> dict[str, Any]:
    return build_event(request, MATCH, account_id="123456789012", request_id="req-1", now=NOW)


def test_event_has_the_payload_2_shape():
    # Given a request with mixed-case, repeated headers, cookies and a repeated query parameter
    request = HttpRequest(
        method="post",
        target="/apps/app-x/v1/runs?b=2&a=1&b=3&empty=",
        headers=[
            ("Host", "127.0.0.1:3000"),
            ("Content-Type", "application/json"),
            ("X-Multi", "one"),
            ("x-multi", "two"),
            ("User-Agent", "curl/8"),
            ("Cookie", "a=1; b=2"),
        ],
        body=b'{"input": {}}',
        source_ip="127.0.0.1",
    )

    # When it becomes an event
    event = event_for(request)

    # Then it matches what API Gateway sends
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /apps/{app_id}/{proxy+}"
    assert event["rawPath"] == "/apps/app-x/v1/runs"
    assert event["rawQueryString"] == "b=2&a=1&b=3&empty="
    assert event["queryStringParameters"] == {"b": "2,3", "a": "1", "empty": ""}
    assert event["pathParameters"] == {"app_id": "app-x", "proxy": "v1/runs"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["headers"]["x-multi"] == "one,two"
    assert event["headers"]["content-type"] == "application/json"
    assert event["headers"]["host"] == "127.0.0.1:3000"
    assert "cookie" not in event["headers"]
    assert all(name == name.lower() for name in event["headers"])
    assert event["body"] == '{"input": {}}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"] == {
        "method": "POST",
        "path": "/apps/app-x/v1/runs",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "curl/8",
    }
    assert (context["domainName"], context["domainPrefix"]) == ("127.0.0.1", "127")
    assert (context["stage"], context["routeKey"], context["apiId"]) == (
        "$default",
        event["routeKey"],
        "AppsApi",
    )
    assert (context["requestId"], context["accountId"]) == ("req-1", "123456789012")
    assert context["time"] == "12/Mar/2026:19:03:58 +0000"
    assert context["timeEpoch"] == 1773342238390


def test_optional_members_are_absent_when_empty():
    event = build_event(
        HttpRequest("GET", "/", [("Host", "app-x.apps.localhost:3000")]),
        RouteMatch(Route("AppsApi", "ANY", "/", "AppsFunction"), {}),
        account_id="123456789012",
    )
    assert {"queryStringParameters", "pathParameters", "cookies", "body"}.isdisjoint(event)
    assert event["isBase64Encoded"] is False
    assert event["requestContext"]["domainName"] == "app-x.apps.localhost"
    assert event["requestContext"]["domainPrefix"] == "app-x"


@pytest.mark.parametrize("content_type", ["application/octet-stream", "image/png", None])
def test_binary_bodies_are_base64_encoded(content_type):
    headers = [("Host", "h")] + ([("Content-Type", content_type)] if content_type else [])
    event = event_for(HttpRequest("POST", "/x", headers, body=b"\x00\xffdata"))
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x00\xffdata"


def test_textual_content_that_is_not_utf8_is_base64_encoded():
    event = event_for(HttpRequest("POST", "/x", [("Content-Type", "text/plain")], body=b"\xff\xfe"))
    assert event["isBase64Encoded"] is True


@pytest.mark.parametrize(
    ("content_type", "textual"),
    [
        ("application/json; charset=utf-8", True),
        ("application/problem+json", True),
        ("application/x-www-form-urlencoded", True),
        ("text/csv", True),
        ("multipart/form-data; boundary=x", False),
        ("application/pdf", False),
    ],
)
def test_textual_content_types(content_type, textual):
    assert is_textual(content_type) is textual


def test_result_becomes_the_response_with_cookies_and_multi_value_headers():
    # Given a proxy result
    result = {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"X-Several": ["a", "b"]},
        "cookies": ["s=1; HttpOnly", "t=2"],
        "body": '{"data": 1}',
    }

    # When it becomes the HTTP response
    response = response_from_result(result, "F")

    # Then status, headers, each cookie and the body are kept
    assert response.status == 201
    assert ("Content-Type", "application/json") in response.headers
    assert [value for name, value in response.headers if name == "X-Several"] == ["a", "b"]
    assert [value for name, value in response.headers if name == "set-cookie"] == ["s=1; HttpOnly", "t=2"]
    assert json.loads(response.body) == {"data": 1}
    assert response.function_id == "F"


def test_base64_result_bodies_are_decoded():
    result = {"statusCode": 200, "body": base64.b64encode(b"\x89PNG").decode(), "isBase64Encoded": True}
    assert response_from_result(result).body == b"\x89PNG"


def test_a_result_without_status_code_is_json_200():
    response = response_from_result({"hello": "world"})
    assert (response.status, json.loads(response.body)) == (200, {"hello": "world"})
    assert ("content-type", "application/json") in response.headers


@pytest.mark.parametrize("status", ["abc", 42, True, None])
def test_malformed_status_code_is_an_error(status):
    with pytest.raises(ValueError, match="statusCode"):
        response_from_result({"statusCode": status})


@pytest.mark.parametrize(
    ("status", "message", "retry_after"),
    [
        (429, "Too Many Requests", [("retry-after", "1")]),
        (503, "Service Unavailable", [("retry-after", "1")]),
        (404, "Not Found", []),
    ],
)
def test_the_gateways_own_429_and_503_say_when_to_retry(status, message, retry_after):
    # Given an error the local gateway answers itself (no function involved)
    # When it is built
    response = gateway_error(status, message)
    # Then it has API Gateway's own body, and Retry-After exactly when the client should retry
    assert (response.status, json.loads(response.body)) == (status, {"message": message})
    assert response.headers == [("content-type", "application/json"), *retry_after]
