"""Response envelopes: single resources as ``{"data": …}``, lists as ``{"data": [...], "next_token": …}``,
errors as ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

T = TypeVar("T")


class Data(BaseModel, Generic[T]):
    model_config = ConfigDict(defer_build=True)

    data: T


class Page(BaseModel, Generic[T]):
    model_config = ConfigDict(defer_build=True)

    data: list[T]
    next_token: str | None = Field(default=None, description="Pass as next_token to get the following page")


class ErrorBody(BaseModel):
    model_config = ConfigDict(defer_build=True)

    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    model_config = ConfigDict(
        defer_build=True,
        json_schema_extra={"example": {"error": {"code": "not_found", "message": "not found"}}},
    )

    error: ErrorBody


class RequestModel(BaseModel):
    """Base of every request body model: unknown fields are refused, and types are strict (``"1"`` is not
    ``1``, ``"true"`` not ``true``). Values JSON can only carry as text are declared lax: an enum
    (``Field(strict=False)``) and a date-time (``Timestamp``)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, strict=True, defer_build=True)


def _convertible_to_utc(moment: datetime) -> datetime:
    try:
        moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date-time is out of range in UTC") from None
    return moment


Timestamp = Annotated[AwareDatetime, Field(strict=False), AfterValidator(_convertible_to_utc)]
"""A date-time in a request: ISO 8601 text with a time zone (one without is 422 ``timezone_aware``), within
the years 1 to 9999 in UTC too."""


ERROR_RESPONSES: dict[int, dict[str, Any]] = {
    status: {"description": text, "content": {"application/json": {"model": ErrorEnvelope}}}
    for status, text in {
        400: "Malformed request",
        401: "Missing, invalid, revoked or expired token",
        403: "Valid token without the needed role or of the wrong kind",
        404: "Unknown or invisible resource",
        409: "Conflict with the current state",
        413: "Request body too large",
        415: "Unsupported content type",
        422: "Invalid input",
        429: "Throttled; retry after the Retry-After header",
        503: "Temporarily unavailable; retry",
    }.items()
}


_READ_ERRORS = (400, 401, 403, 404, 422, 503)
_WRITE_ERRORS = (*_READ_ERRORS, 409, 413, 415)


def without_content(description: str) -> dict[str, Any]:
    """A response documented without a body (a 204). The empty ``content`` keeps Powertools from documenting
    the handler's return type as a JSON body; ``switchboard.api.openapi`` drops it from the document."""
    return {"description": description, "content": {}}


class EnvelopedContent(Mapping[str, Any]):
    """A documented JSON body ``{"model": envelope[item]}`` whose model is parametrized when Powertools first
    reads it (the route's first request, or the OpenAPI document), not when the route module is imported: each
    parametrization builds a class, and the management function's forty were a tenth of its cold import."""

    def __init__(self, envelope: Any, item: Any) -> None:
        self._envelope = envelope
        self._item = item

    @cached_property
    def _content(self) -> dict[str, Any]:
        return {"model": self._envelope[self._item]}

    def __getitem__(self, key: str) -> Any:
        return self._content[key]

    def __iter__(self) -> Iterator[str]:
        return iter(("model",))

    def __len__(self) -> int:
        return 1


def documented(
    status: int,
    model: Any = None,
    item: Any = None,
    *,
    writes: bool | None = None,
) -> dict[str, Any]:
    """Route decorator arguments documenting the success response and the error envelopes it may answer.

    ``documented(200, Page, RunOut)`` documents ``Page[RunOut]`` (parametrized on first use, see
    ``EnvelopedContent``); ``documented(200, model)`` documents ``model`` as it is.
    """
    is_write = status != 200 if writes is None else writes
    responses: dict[int, dict[str, Any]] = {
        code: ERROR_RESPONSES[code] for code in (_WRITE_ERRORS if is_write else _READ_ERRORS)
    }
    if model is None:
        responses[status] = without_content("Done; no content")
    else:
        content = {"model": model} if item is None else EnvelopedContent(model, item)
        responses[status] = {"description": "Success", "content": {"application/json": content}}
    return {"status_code": status, "responses": responses}
