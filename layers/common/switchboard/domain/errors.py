"""Typed domain errors. Each class carries its HTTP status and error code; the API maps them once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from pydantic import ValidationError


class SwitchboardError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        self.error_code = code or self.code


class BadRequest(SwitchboardError):
    status = 400
    code = "bad_request"


class Unauthorized(SwitchboardError):
    status = 401
    code = "unauthorized"


class Forbidden(SwitchboardError):
    status = 403
    code = "forbidden"


class NotFound(SwitchboardError):
    status = 404
    code = "not_found"


class Conflict(SwitchboardError):
    status = 409
    code = "conflict"


class Gone(SwitchboardError):
    """The resource existed but is no longer usable (an expired connect token)."""

    status = 410
    code = "gone"


class PayloadTooLarge(SwitchboardError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(SwitchboardError):
    status = 415
    code = "unsupported_media_type"


class ValidationFailed(SwitchboardError):
    status = 422
    code = "validation_failed"


class Throttled(SwitchboardError):
    status = 429
    code = "throttled"

    def __init__(self, message: str, *, retry_after: int = 1, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after


class ServiceUnavailable(SwitchboardError):
    """Try again shortly: answered with ``Retry-After``."""

    status = 503
    code = "service_unavailable"
    retry_after = 1


class RequirementNotSatisfied(ValidationFailed):
    """A run needs an end user's link that is missing or not active; ``details`` names each requirement."""

    code = "requirement_not_satisfied"


Loc = Sequence[str | int]


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The error envelope, the one spelling of it: API responses, the credentials and trigger functions'
    refusals and the local stack's own errors are all built here."""
    return {"error": {"code": code, "message": message, "details": details}}


def error_document(error: SwitchboardError) -> dict[str, Any]:
    return error_body(error.error_code, error.message, error.details)


def retry_headers(error: SwitchboardError) -> dict[str, str]:
    """``Retry-After`` for an error a client should retry (429, 503); nothing for the others."""
    retry_after = getattr(error, "retry_after", None)
    return {"Retry-After": str(retry_after)} if retry_after is not None else {}


def problem(loc: Loc, code: str, message: str) -> dict[str, Any]:
    """One validation detail ``{"loc", "code", "message"}``: the one shape of ``ValidationFailed.details``."""
    return {"loc": list(loc), "code": code, "message": message}


def validation_details(
    error: ValidationError | Iterable[Mapping[str, Any]],
    *,
    prefix: Loc = (),
    relocate: Callable[[list[str | int]], list[str | int]] | None = None,
) -> list[dict[str, Any]]:
    """Pydantic's errors (a ``ValidationError`` or its ``errors()``) as validation details: ``loc`` under
    ``prefix`` (``relocate`` first rewrites it as the client wrote it), no submitted value ever echoed."""
    items = (
        error.errors(include_input=False, include_url=False, include_context=False)
        if isinstance(error, ValidationError)
        else error
    )
    details = []
    for item in items:
        loc = list(item.get("loc", ()))
        loc = [*prefix, *(relocate(loc) if relocate else loc)]
        details.append(problem(loc, str(item.get("type")), str(item.get("msg"))))
    return details
