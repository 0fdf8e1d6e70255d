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

from switchboard.domain.errors import ServiceUnavailable, SwitchboardError, Throttled
from switchboard.observability import logger

_THROTTLING = {"ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded"}


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> Response[Any]:
    body = {"error": {"code": code, "message": message, "details": details}}
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, default=str),
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def _validation_details(error: RequestValidationError) -> tuple[bool, list[dict[str, Any]]]:
    details: list[dict[str, Any]] = []
    malformed = False
    for item in error.errors():
        code = str(item.get("type", "invalid"))
        malformed = malformed or code == "json_invalid"
        loc = [part for part in item.get("loc", ()) if part != "body" or len(item.get("loc", ())) == 1]
        details.append({"loc": loc, "code": code, "message": str(item.get("msg", ""))})
    return malformed, details


def register(app: APIGatewayHttpResolver) -> None:
    @app.exception_handler(SwitchboardError)
    def domain_error(error: SwitchboardError) -> Response[Any]:
        headers = (
            {"Retry-After": str(error.retry_after)}
            if isinstance(error, Throttled | ServiceUnavailable)
            else None
        )
        return error_response(error.status, error.error_code, error.message, error.details, headers)

    @app.exception_handler(RequestValidationError)
    def invalid_request(error: RequestValidationError) -> Response[Any]:
        malformed, details = _validation_details(error)
        if malformed:
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
            return error_response(
                503, "service_unavailable", "the service is busy, retry shortly", headers={"Retry-After": "1"}
            )
        logger.exception("unexpected AWS error", extra={"aws_error_code": code})
        return error_response(500, "internal_error", "internal error")

    @app.exception_handler(BotoCoreError)
    def aws_unreachable(_: BotoCoreError) -> Response[Any]:
        logger.exception("AWS unreachable")
        return error_response(
            503,
            "service_unavailable",
            "a dependency is unavailable, retry shortly",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(Exception)
    def unexpected(_: Exception) -> Response[Any]:
        logger.exception("unhandled error")
        return error_response(500, "internal_error", "internal error")
