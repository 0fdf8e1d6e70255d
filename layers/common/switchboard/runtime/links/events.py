"""Link events: ``link.activated``, ``link.unauthorized``, ``link.expired``, ``link.revoked``, delivered to
the App's ``event_url`` like every App event (``switchboard.runtime.webhooks.app_events``), with the data::

    {"link_id", "app_id", "user_id", "requirement_id", "status", "reason"}
"""

from __future__ import annotations

from typing import Literal

from switchboard.domain.models import App
from switchboard.domain.runs import Link
from switchboard.runtime.webhooks import app_events

LinkEventType = Literal["link.activated", "link.unauthorized", "link.expired", "link.revoked"]


def emit(app: App, event_type: LinkEventType, link: Link, reason: str | None) -> None:
    """Schedule the event's delivery when the App has an event URL; never raises."""
    data = {
        "link_id": link.id,
        "app_id": link.app_id,
        "user_id": link.user_id,
        "requirement_id": link.requirement_id,
        "status": link.status.value,
        "reason": reason,
    }
    app_events.emit(app, event_type, data)
