"""Response envelopes: single resources as ``{"data": …}``, lists as ``{"data": [...], "next_token": …}``,
errors as ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Data(BaseModel, Generic[T]):
    data: T


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_token: str | None = Field(default=None, description="Pass as next_token to get the following page")


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"error": {"code": "not_found", "message": "not found"}}}
    )

    error: ErrorBody


class RequestModel(BaseModel):
    """Base of every request body model: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
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
