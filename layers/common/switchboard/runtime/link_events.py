"""Link events, delivered to the App's ``event_url`` (when it has one) signed and retried exactly like run
callbacks (``switchboard.runtime.deliveries``).

Types: ``link.activated``, ``link.unauthorized``, ``link.expired``, ``link.revoked``. The delivered JSON:

    {"id": "evt-…", "type": "link.unauthorized", "created_at": "…Z",
     "data": {"link_id", "app_id", "user_id", "requirement_id", "status", "reason"}}

It never holds a secret. Emitting never fails the change that caused it: a link's state is the truth, an
event that could not be scheduled is logged and counted (``LinkEventsUnscheduled``).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Literal

from switchboard.domain.ids import iso, new_id, utcnow
from switchboard.domain.models import App
from switchboard.domain.runs import Link
from switchboard.observability import logger, metrics
from switchboard.settings import get_settings
from switchboard.store.deliveries import EventDelivery

LinkEventType = Literal["link.activated", "link.unauthorized", "link.expired", "link.revoked"]


def event_body(event_id: str, event_type: LinkEventType, link: Link, reason: str | None, at: str) -> str:
    document = {
        "id": event_id,
        "type": event_type,
        "created_at": at,
        "data": {
            "link_id": link.id,
            "app_id": link.app_id,
            "user_id": link.user_id,
            "requirement_id": link.requirement_id,
            "status": link.status.value,
            "reason": reason,
        },
    }
    return json.dumps(document, separators=(",", ":"))


def emit(app: App, event_type: LinkEventType, link: Link, reason: str | None) -> None:
    """Schedule the event's delivery when the App has an event URL; never raises."""
    if not app.event_url:
        return
    # The delivery machinery (signing, the credentials client) is imported by the requests that emit.
    from switchboard.runtime import deliveries

    context = {"app_id": app.id, "link_id": link.id, "event_type": event_type}
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
                body=event_body(event_id, event_type, link, reason, iso(now)),
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
                ttl=int((now + retention).timestamp()),
            )
        )
    except Exception:
        logger.exception("a link event could not be scheduled", extra=context)
        metrics.add_metric(name="LinkEventsUnscheduled", unit="Count", value=1)
        return
    logger.info("link event scheduled", extra={**context, "event_id": event_id})
