"""Powertools singletons shared by every function (service name comes from POWERTOOLS_SERVICE_NAME).

``SWITCHBOARD_XRAY_SUBSEGMENTS=false`` (set on the API-facing functions in template.yaml) keeps only the
segments Lambda's active tracing records by itself and never imports the X-Ray SDK, which is a fifth of
those functions' cold import; the executor and credentials functions keep the SDK's subsegments (handler,
boto3 and HTTP calls).
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, Generator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.tracing.base import BaseProvider, BaseSegment


class _NoSegment(BaseSegment):
    def close(self, end_time: int | None = None) -> None:
        return None

    def add_subsegment(self, subsegment: Any) -> None:
        return None

    def remove_subsegment(self, subsegment: Any) -> None:
        return None

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def add_exception(self, exception: BaseException, stack: Any, remote: bool = False) -> None:
        return None


class LambdaSegmentsOnly(BaseProvider):
    """A tracing provider that records nothing itself: Lambda's own segments are the trace."""

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[BaseSegment, None, None]:
        yield _NoSegment()

    @asynccontextmanager
    async def in_subsegment_async(
        self, name: str | None = None, **kwargs: Any
    ) -> AsyncGenerator[BaseSegment, None]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def patch(self, modules: Sequence[str]) -> None:
        return None

    def patch_all(self) -> None:
        return None


def _tracer() -> Tracer:
    if os.environ.get("SWITCHBOARD_XRAY_SUBSEGMENTS", "true").lower() == "false":
        return Tracer(provider=LambdaSegmentsOnly(), auto_patch=False)
    return Tracer()


logger = Logger()
tracer = _tracer()
metrics = Metrics(namespace="Switchboard")
