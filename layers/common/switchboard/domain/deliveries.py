"""Webhook deliveries: a run's callback and a link event sent to an App's event URL share one shape and one
lifecycle (``pending`` → ``delivered`` | ``failed`` | ``blocked``, every attempt recorded). Stored by
``switchboard.store.deliveries``.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import Field, SecretStr

from switchboard.domain.base import Record


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"
    blocked = "blocked"


class DeliveryAttempt(Record):
    number: int
    at: datetime
    status_code: int | None = None
    error: str | None = Field(default=None, description="Why no 2xx: timeout, connection_error, …")
    duration_ms: int = 0


class DeliveryRecord(Record):
    """What every delivery has, whatever it delivers."""

    id: str
    app_id: str
    url: str
    status: DeliveryStatus = DeliveryStatus.pending
    attempts: list[DeliveryAttempt] = Field(default_factory=list)
    attempt_count: int = 0
    next_attempt_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class Delivery(DeliveryRecord):
    """A run's callback."""

    run_id: str
    callback_index: int = Field(default=0, description="Position of its callback in the run's list")
    metadata: dict[str, Any] | None = None
    expires_at: int = Field(description="Epoch seconds; DynamoDB TTL")
    auth_token: SecretStr | None = Field(default=None, exclude=True, repr=False)
    body: str | None = Field(default=None, description="A notice's JSON; none: the finished run's")


class EventDelivery(DeliveryRecord):
    """A link event sent to the App's event URL."""

    event_id: str
    event_type: str
    body: str = Field(description="The JSON delivered: the same bytes on every attempt")
    ttl: int = Field(description="Epoch seconds; DynamoDB TTL")
