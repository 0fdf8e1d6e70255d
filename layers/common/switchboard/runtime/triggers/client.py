"""The Apps function's client of the trigger function (reached only through the function-invoker seam): hands
it an event posted to a webhook trigger and turns its refusals into the typed errors they stand for."""

from __future__ import annotations

from pydantic import ValidationError

from switchboard.domain.errors import Conflict, NotFound, ServiceUnavailable, SwitchboardError, Unauthorized
from switchboard.invoker import FunctionError, get_invoker
from switchboard.observability import logger
from switchboard.runtime.triggers.contract import (
    EventAnswer,
    EventSummary,
    RefusalDocument,
    WebhookDelivery,
    WebhookFiring,
    webhook_delivery,
)
from switchboard.settings import get_settings

_ERRORS: dict[str, type[SwitchboardError]] = {
    "not_found": NotFound,
    "missing_signature": Unauthorized,
    "stale_timestamp": Unauthorized,
    "invalid_signature": Unauthorized,
    "duplicate_event": Conflict,
}


def post_webhook(trigger_id: str, app_id: str | None, headers: dict[str, str], body: bytes) -> EventSummary:
    """An event posted to a webhook trigger of the addressed App (``app_id``; ``None``: no App is addressed,
    404): its Standard Webhooks headers present and fresh (401 otherwise), handed to the trigger function."""
    if app_id is None:
        raise NotFound("App not found")
    return post_event(trigger_id, app_id, webhook_delivery(headers, body))


def post_event(trigger_id: str, app_id: str, delivery: WebhookDelivery) -> EventSummary:
    """The event the trigger recorded for the delivery; 404, 401 or 409 as the trigger function refused it,
    503 when it could not be reached or failed (the sender retries)."""
    function_name = get_settings().trigger_function
    if not function_name:
        raise ServiceUnavailable("webhook triggers are not configured")
    try:
        request = WebhookFiring(trigger_id=trigger_id, app_id=app_id, webhook=delivery)
    except ValidationError:
        # An id no trigger or App can have: there is nothing the trigger function could find.
        raise NotFound("trigger not found") from None
    try:
        reply = get_invoker().invoke(function_name, request.model_dump(mode="json"))
    except FunctionError as failure:
        error_type = failure.payload.get("errorType") if isinstance(failure.payload, dict) else None
        logger.warning(
            "the trigger function failed", extra={"trigger_id": trigger_id, "error_type": error_type}
        )
        raise ServiceUnavailable("the event could not be received, retry shortly") from None
    if isinstance(reply, dict) and "error" in reply:
        refusal = RefusalDocument.model_validate(reply).error
        error_class = _ERRORS.get(refusal.code, SwitchboardError)
        raise error_class(refusal.message, code=refusal.code, details=refusal.details)
    return EventAnswer.model_validate(reply).event
