"""An App's events, delivered to its ``event_url`` (when it has one) signed and retried exactly like run
callbacks (``switchboard.runtime.webhooks.deliveries``).

Types: ``link.activated``, ``link.unauthorized``, ``link.expired``, ``link.revoked``
(``switchboard.runtime.links.events``) and ``run.awaiting_input``. The delivered JSON:

    {"id": "evt-…", "type": "<type>", "created_at": "…Z", "data": {…}}

It never holds a secret. Emitting never fails the change that caused it: the state is the truth, an event that
could not be scheduled is logged and counted (``AppEventsUnscheduled``).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Literal

from switchboard.domain.deliveries import EventDelivery
from switchboard.domain.ids import iso, new_id, utcnow
from switchboard.domain.models import App
from switchboard.observability import logger, metrics
from switchboard.settings import get_settings

AppEventType = Literal[
    "link.activated", "link.unauthorized", "link.expired", "link.revoked", "run.awaiting_input"
]


def event_body(event_id: str, event_type: AppEventType, data: dict[str, Any], at: str) -> str:
    document = {"id": event_id, "type": event_type, "created_at": at, "data": data}
    return json.dumps(document, separators=(",", ":"), default=str)


def emit(app: App, event_type: AppEventType, data: dict[str, Any]) -> None:
    """Schedule the event's delivery when the App has an event URL; never raises."""
    if not app.event_url:
        return
    # The delivery machinery (signing, the credentials client) is imported by the requests that emit.
    from switchboard.runtime.webhooks import deliveries

    context = {"app_id": app.id, "event_type": event_type}
    try:
        now = utcnow()
        event_id = new_id("event")
        retention = timedelta(days=get_settings().run_retention_days)
        deliveries.schedule_event(
            EventDelivery(
                id=deliveries.new_delivery_id(),
                app_id=app.id,
                url=app.event_url,
                event_id=event_id,
                event_type=event_type,
                body=event_body(event_id, event_type, data, iso(now)),
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
                ttl=int((now + retention).timestamp()),
            )
        )
    except Exception:
        logger.exception("an App event could not be scheduled", extra=context)
        metrics.add_metric(name="AppEventsUnscheduled", unit="Count", value=1)
        return
    logger.info("App event scheduled", extra={**context, "event_id": event_id})
