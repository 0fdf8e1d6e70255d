"""Errors mapped once: domain errors by their class, validation by Powertools, the rest as opaque 500/503."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from botocore.exceptions import BotoCoreError, ClientError

from switchboard.domain.errors import (
    ServiceUnavailable,
    SwitchboardError,
    error_body,
    retry_headers,
    validation_details,
)
from switchboard.observability import logger

_THROTTLING = {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response[Any]:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(error_body(code, message, details), default=str),
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _without_body(loc: list[str | int]) -> list[str | int]:
    """A body field's location as the client wrote it (Powertools puts ``body`` first)."""
    return loc[1:] if len(loc) > 1 and loc[0] == "body" else loc


def _error_response(error: SwitchboardError) -> Response[Any]:
    return error_response(error.status, error.error_code, error.message, error.details, retry_headers(error))


def register(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(SwitchboardError)
    def domain_error(error: SwitchboardError) -> Response[Any]:
        return _error_response(error)

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response[Any]:
        details = validation_details(error.errors(), relocate=_without_body)
        if any(detail["code"] == "json_invalid" for detail in details):
            return error_response(400, "malformed_json", "the request body is not valid JSON")
        return error_response(422, "validation_failed", "the request is invalid", details)

    @app.exception_handler(RequestUnsupportedContentType)
    def unsupported_type(_: RequestUnsupportedContentType) -> Response[Any]:
        return error_response(415, "unsupported_media_type", "send the body as application/json")

    @app.not_found
    def route_not_found(_: NotFoundError) -> Response[Any]:
        return error_response(404, "route_not_found", "no such route")

    @app.exception_handler(ClientError)
    def aws_error(error: ClientError) -> Response[Any]:
        code = error.response.get("Error", {}).get("Code", "")
        if code in _THROTTLING:
            return _error_response(ServiceUnavailable("the service is busy, retry shortly"))
        logger.exception("unexpected AWS error", extra={"aws_error_code": code})
        return error_response(500, "internal_error", "internal error")

    @app.exception_handler(BotoCoreError)
    def aws_unreachable(_: BotoCoreError) -> Response[Any]:
        logger.exception("AWS unreachable")
        return _error_response(ServiceUnavailable("a dependency is unavailable, retry shortly"))

    @app.exception_handler(Exception)
    def unexpected(_: Exception) -> Response[Any]:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "internal error")
