"""Typed domain errors. Each class carries its HTTP status and error code; the API maps them once."""

from __future__ import annotations

from typing import Any, ClassVar


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
