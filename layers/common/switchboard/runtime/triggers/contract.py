"""The payloads of the trigger function: two kinds of request, and its answer.

scheduled: {"trigger_id", "scheduled_time", "execution_id"}
           (EventBridge Scheduler's target input, its context attributes substituted)
webhook:   {"trigger_id", "app_id", "webhook": {"id", "timestamp", "signature", "body_base64"}}
           (from the Apps function: the Standard Webhooks headers and the raw body, byte for byte)
answer:    {"event": {"id", "trigger_id", "status", "reason", "run_id", "received_at"}}
refusal:   {"error": {"code", "message", "details"}}

A request is refused with an error document (never a Lambda error); only a failure worth retrying (a store or
queue that is unavailable) is raised, so Scheduler retries the firing and the Apps function answers 503.
"""

from __future__ import annotations

import base64
import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter

from switchboard.domain.errors import Unauthorized
from switchboard.runtime.webhooks.signing import DEFAULT_TOLERANCE_SECONDS, unix_seconds

if TYPE_CHECKING:
    from switchboard.domain.triggers import TriggerEvent

TriggerId = Annotated[str, StringConstraints(pattern=r"^trg-[a-z0-9]{1,64}$")]
AppId = Annotated[str, StringConstraints(pattern=r"^app-[a-z0-9]{1,64}$")]
MAX_WEBHOOK_BODY_BYTES = 100_000
"""A webhook event is stored with its firing and becomes (part of) a run's input, which holds 100 kB."""
MAX_WEBHOOK_ID_LENGTH = 256
TIMESTAMP_TOLERANCE_SECONDS = DEFAULT_TOLERANCE_SECONDS
"""A webhook-timestamp more than 5 minutes away from now (either side) is refused: a replay window."""
EventStatus = Literal["accepted", "rejected", "skipped"]
RefusalCode = Literal[
    "invalid_request",
    "not_found",
    "missing_signature",
    "stale_timestamp",
    "invalid_signature",
    "duplicate_event",
]
REFUSAL_CODES: frozenset[str] = frozenset(get_args(RefusalCode))


class ScheduledFiring(BaseModel):
    """What the Scheduler schedule of a trigger sends."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    trigger_id: TriggerId
    scheduled_time: datetime = Field(description="<aws.scheduler.scheduled-time>: the firing's planned time")
    execution_id: str = Field(min_length=1, max_length=128, description="<aws.scheduler.execution-id>")


class WebhookDelivery(BaseModel):
    """The Standard Webhooks headers of one request, and its body exactly as it arrived (base64)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    id: str = Field(min_length=1, max_length=MAX_WEBHOOK_ID_LENGTH)
    timestamp: int
    signature: str = Field(min_length=1, max_length=4096)
    body_base64: str = Field(max_length=(MAX_WEBHOOK_BODY_BYTES + 2) // 3 * 4)

    def headers(self) -> dict[str, str]:
        return {
            "webhook-id": self.id,
            "webhook-timestamp": str(self.timestamp),
            "webhook-signature": self.signature,
        }


class WebhookFiring(BaseModel):
    """What the Apps function sends for ``POST /v1/triggers/{trigger_id}/events`` of an App."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    trigger_id: TriggerId
    app_id: AppId
    webhook: WebhookDelivery


REQUEST_ADAPTER: TypeAdapter[WebhookFiring | ScheduledFiring] = TypeAdapter(
    WebhookFiring | ScheduledFiring, config=ConfigDict(defer_build=True)
)


class EventSummary(BaseModel):
    """A recorded trigger event without its payload."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    id: str
    trigger_id: str
    status: EventStatus
    reason: str | None
    run_id: str | None
    received_at: datetime

    @classmethod
    def of(cls, event: TriggerEvent) -> EventSummary:
        return cls(
            id=event.id,
            trigger_id=event.trigger_id,
            status=event.status.value,
            reason=event.reason,
            run_id=event.run_id,
            received_at=event.received_at,
        )


class EventAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    event: EventSummary


class Refusal(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    code: RefusalCode
    message: str
    details: Any = None


class RefusalDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)

    error: Refusal


def webhook_delivery(headers: dict[str, str], body: bytes, now: float | None = None) -> WebhookDelivery:
    """The delivery of a request whose Standard Webhooks headers are present and fresh (401 otherwise);
    whether it is signed with the trigger's secret only the trigger function can tell."""
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id", "")
    timestamp_text = lowered.get("webhook-timestamp", "")
    signature = lowered.get("webhook-signature", "")
    if not message_id or not timestamp_text or not signature:
        raise Unauthorized(
            "sign the event: send webhook-id, webhook-timestamp and webhook-signature (Standard Webhooks)",
            code="missing_signature",
        )
    if len(message_id) > MAX_WEBHOOK_ID_LENGTH or len(signature) > 4096:
        raise Unauthorized("webhook-id or webhook-signature is too long", code="invalid_signature")
    return WebhookDelivery(
        id=message_id,
        timestamp=check_timestamp(timestamp_text, now),
        signature=signature,
        body_base64=base64.b64encode(body).decode(),
    )


def check_timestamp(timestamp_text: str, now: float | None = None) -> int:
    """``webhook-timestamp`` as unix seconds (``signing.unix_seconds``) within the tolerance of now; 401
    ``stale_timestamp`` otherwise."""
    timestamp = unix_seconds(timestamp_text)
    if timestamp is None:
        raise Unauthorized("webhook-timestamp is not unix seconds", code="stale_timestamp")
    current = time.time() if now is None else now
    if abs(current - timestamp) > TIMESTAMP_TOLERANCE_SECONDS:
        raise Unauthorized(
            f"webhook-timestamp is more than {TIMESTAMP_TOLERANCE_SECONDS} seconds away from now",
            code="stale_timestamp",
        )
    return timestamp
