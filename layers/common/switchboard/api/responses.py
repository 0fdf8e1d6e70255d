"""Building success responses in the envelope shapes."""

from __future__ import annotations

from typing import Any, TypeVar

from aws_lambda_powertools.event_handler import Response, content_types
from pydantic import BaseModel

from switchboard.api.envelopes import Data, Page

T = TypeVar("T", bound=BaseModel)


def one(item: T, status: int = 200, headers: dict[str, str] | None = None) -> Response[Data[T]]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=Data[Any](data=item),
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def page(items: list[T], next_token: str | None) -> Page[T]:
    return Page[Any](data=items, next_token=next_token)


def no_content() -> Response[None]:
    return Response(status_code=204, body=None, headers={"Cache-Control": "no-store"})
