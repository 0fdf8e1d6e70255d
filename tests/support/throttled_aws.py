"""DynamoDB that throttles every request: a loopback endpoint answering as DynamoDB does when a table's
throughput is exceeded, reached through ``AWS_ENDPOINT_URL_DYNAMODB`` like any other endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from switchboard import aws
from tests.support.fakes import HttpTarget, Reply

THROTTLED = Reply(
    status=400,
    body={"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", "message": "Rate exceeded"},
    headers={"Content-Type": "application/x-amz-json-1.0"},
)


@contextmanager
def throttled_dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpTarget]:
    """Every DynamoDB call made inside answers ``ThrottlingException`` (after the SDK's own retries)."""
    with HttpTarget() as target, monkeypatch.context() as patched:
        target.respond("/", THROTTLED)
        patched.setenv("AWS_ENDPOINT_URL_DYNAMODB", target.url)
        aws.reset()
        try:
            yield target
        finally:
            patched.undo()
            aws.reset()
