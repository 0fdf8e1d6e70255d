"""Events posted to the App's webhook triggers: signed with the trigger's secret (Standard Webhooks) instead
of authenticated with an access key, whatever the App's access."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field

from apps_routes.resolver import WebhookBody
from switchboard.api.envelopes import Data, documented
from switchboard.api.responses import one
from switchboard.domain.base import Model
from switchboard.runtime.identity import addressed_app_id
from switchboard.runtime.triggers import EventStatus

router = APIGatewayHttpRouter()

WebhookId = Annotated[
    str | None,
    Header(alias="webhook-id", description="The event's id: the same on every retry of it; received once"),
]
WebhookTimestamp = Annotated[
    str | None,
    Header(alias="webhook-timestamp", description="Unix seconds of this attempt, within 5 minutes"),
]
WebhookSignature = Annotated[
    str | None,
    Header(
        alias="webhook-signature",
        description='Space-separated "v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>" entries',
    ),
]


class TriggerEventOut(Model):
    event_id: str
    status: EventStatus = Field(
        description="accepted (run_id names the run it started), rejected (reason says why, nothing ran) or "
        "skipped (the trigger is disabled)"
    )
    reason: str | None = None
    run_id: str | None = None


@router.post(
    "/v1/triggers/<trigger_id>/events",
    tags=["triggers"],
    summary="Post an event to a webhook trigger (signed, no access key): 202 with the event it recorded",
    **documented(202, Data, TriggerEventOut),
)
def post_trigger_event(
    trigger_id: str,
    webhook_id: WebhookId = None,
    webhook_timestamp: WebhookTimestamp = None,
    webhook_signature: WebhookSignature = None,
) -> Response[Data[TriggerEventOut]]:
    # webhook events only: the invoker's client and more
    from switchboard.runtime.triggers import client as trigger_client

    event = router.current_event
    app_id = addressed_app_id(event.path_parameters, event.headers.get("host"))
    body = router.context.get("webhook_body")
    headers = {
        name: value
        for name, value in (
            ("webhook-id", webhook_id),
            ("webhook-timestamp", webhook_timestamp),
            ("webhook-signature", webhook_signature),
        )
        if value is not None
    }
    content = body.content if isinstance(body, WebhookBody) else b""
    recorded = trigger_client.post_webhook(trigger_id, app_id, headers, content)
    out = TriggerEventOut(
        event_id=recorded.id, status=recorded.status, reason=recorded.reason, run_id=recorded.run_id
    )
    return one(out, status=202)
