"""Every 429 and 503 an API answers carries ``Retry-After``: a domain ``Throttled`` or ``ServiceUnavailable``,
AWS throttling a route meets, AWS unreachable, and a throttled store met by the guard before any route runs
(the management API, the Apps API and the connect page share these handlers; their own tests cover the rest).
"""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import EndpointConnectionError

from switchboard import aws
from switchboard.api import errors
from switchboard.api.guards import GuardedResolver, OptionalPrincipal
from switchboard.auth import tokens
from switchboard.domain.errors import ServiceUnavailable, Throttled
from switchboard.domain.models import TokenKind
from tests.support.stack import LambdaContextStub, http_event
from tests.support.throttled_aws import throttled_dynamodb


def _resolver() -> GuardedResolver:
    resolver = GuardedResolver(token_kind=TokenKind.access_key, token_optional=True)

    @resolver.get("/v1/throttled")
    def throttled(principal: OptionalPrincipal) -> dict[str, Any]:
        raise Throttled("too many requests for this App", retry_after=7)

    @resolver.get("/v1/unavailable")
    def unavailable(principal: OptionalPrincipal) -> dict[str, Any]:
        raise ServiceUnavailable("the run queue is not configured")

    @resolver.get("/v1/read")
    def read(principal: OptionalPrincipal) -> dict[str, Any]:
        aws.dynamodb_resource().Table("any").get_item(Key={"pk": "a", "sk": "b"})
        return {}

    @resolver.get("/v1/unreachable")
    def unreachable(principal: OptionalPrincipal) -> dict[str, Any]:
        raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    errors.register(resolver)
    return resolver


def _call(path: str, token: str | None = None) -> tuple[int, dict[str, str], Any]:
    event = http_event("GET", path, token=token)
    result = _resolver().resolve(event, cast(LambdaContext, LambdaContextStub()))
    headers = {name.lower(): value for name, value in (result.get("headers") or {}).items()}
    return result["statusCode"], headers, json.loads(result["body"])


def _envelope(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": None}}


@pytest.mark.parametrize(
    ("path", "status", "retry_after", "body"),
    [
        ("/v1/throttled", 429, "7", _envelope("throttled", "too many requests for this App")),
        ("/v1/unavailable", 503, "1", _envelope("service_unavailable", "the run queue is not configured")),
        (
            "/v1/unreachable",
            503,
            "1",
            _envelope("service_unavailable", "a dependency is unavailable, retry shortly"),
        ),
    ],
)
def test_a_route_that_must_be_retried_answers_retry_after(
    stack: None, path: str, status: int, retry_after: str, body: dict[str, Any]
) -> None:
    # Given a route that is throttled, finds a dependency unavailable or cannot reach AWS
    # When it is called
    answer = _call(path)
    # Then the answer is the envelope with its status and says when to retry
    assert (answer[0], answer[1]["retry-after"], answer[2]) == (status, retry_after, body)


def test_aws_throttling_met_by_a_route_is_503_with_retry_after(
    stack: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a DynamoDB that throttles every request
    with throttled_dynamodb(monkeypatch) as dynamodb:
        # When a route reads from it
        status, headers, body = _call("/v1/read")
    # Then (once the SDK's retries are spent) 503 service_unavailable with Retry-After, no AWS detail in it
    assert (status, headers["retry-after"]) == (503, "1")
    assert body == _envelope("service_unavailable", "the service is busy, retry shortly")
    assert {request.headers["x-amz-target"] for request in dynamodb.requests} == {"DynamoDB_20120810.GetItem"}


def test_a_throttled_store_met_by_the_guard_is_503_with_retry_after(
    stack: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a DynamoDB that throttles every request
    with throttled_dynamodb(monkeypatch):
        # When a request with an access key is authenticated (before any route runs)
        status, headers, body = _call("/v1/throttled", token=tokens.issue(TokenKind.access_key).token)
    # Then 503 with Retry-After, not a failed invocation
    assert (status, headers["retry-after"]) == (503, "1")
    assert body == _envelope("service_unavailable", "the service is busy, retry shortly")


def test_an_answer_that_needs_no_retry_has_no_retry_after(stack: None) -> None:
    # Given a path no route serves / When it is called without a token
    status, headers, _ = _call("/v1/nowhere")
    # Then 404, and no Retry-After
    assert status == 404
    assert "retry-after" not in headers
