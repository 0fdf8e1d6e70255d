"""A run's callback deliveries and every attempt made (never the callback's token)."""

from __future__ import annotations

from datetime import datetime

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field

from apps_routes.http_io import RunToken, caller_app
from switchboard.api.envelopes import Page, documented
from switchboard.api.guards import OptionalPrincipal
from switchboard.api.responses import page
from switchboard.domain.base import Model
from switchboard.domain.deliveries import Delivery, DeliveryAttempt, DeliveryStatus
from switchboard.runtime.runs import run_deliveries

router = APIGatewayHttpRouter()


class AttemptOut(Model):
    number: int = Field(description="1 for the first attempt")
    at: datetime
    status_code: int | None = Field(default=None, description="The receiver's HTTP status, when it answered")
    error: str | None = Field(
        default=None,
        description="Why there was no answer or the attempt was not made: timeout, connection_error, "
        "tls_error, invalid_response, unresolvable_host, address_not_allowed, signing_secret_unavailable, …",
    )
    duration_ms: int

    @classmethod
    def of(cls, attempt: DeliveryAttempt) -> AttemptOut:
        return cls.model_validate(attempt.model_dump())


class DeliveryOut(Model):
    id: str = Field(description="Also the webhook-id header of every attempt")
    run_id: str
    url: str
    status: DeliveryStatus = Field(
        description="pending (more attempts to come), delivered (a 2xx), failed (attempts exhausted) or "
        "blocked (the URL resolved to a non-public address; never retried)"
    )
    attempts: list[AttemptOut]
    next_attempt_at: datetime | None = Field(description="When the next attempt is due while pending")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        return cls(
            id=delivery.id,
            run_id=delivery.run_id,
            url=delivery.url,
            status=delivery.status,
            attempts=[AttemptOut.of(attempt) for attempt in delivery.attempts],
            next_attempt_at=delivery.next_attempt_at,
            created_at=delivery.created_at,
            updated_at=delivery.updated_at,
        )


@router.get(
    "/v1/runs/<run_id>/deliveries",
    tags=["runs"],
    summary="The run's callback deliveries with every attempt",
    **documented(200, Page, DeliveryOut),
)
def list_deliveries(
    run_id: str, principal: OptionalPrincipal, run_token: RunToken = None
) -> Page[DeliveryOut]:
    app = caller_app(router, principal, run_id, run_token)
    return page([DeliveryOut.of(delivery) for delivery in run_deliveries(app.id, run_id)], None)
