"""Keeping links honest after a run: an upstream 401/403 through a linked connection marks it unauthorized
(transition recorded, ``link.unauthorized`` emitted), an OAuth link the credentials function found expired
(its grant gone: it recorded the transition) gets its ``link.expired``, and each link the run resolved
records its use (``last_used_at``, at most hourly: only a link whose last use, as the credentials function
read it, is missing or over an hour old costs a write). None ever fails the run: its result is decided."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from switchboard.domain.errors import Conflict
from switchboard.domain.ids import utcnow
from switchboard.domain.runs import SYSTEM_ACTOR, LinkStatus, Run
from switchboard.engine.contracts import AuthorizationFailure, requirement_of
from switchboard.observability import logger
from switchboard.runtime.links import events as link_events
from switchboard.store import apps, links


def record_authorization_failures(run: Run, failures: list[AuthorizationFailure]) -> None:
    if run.user_id is None:
        return
    requirement_ids = {
        requirement_id: failure
        for failure in failures
        if (requirement_id := requirement_of(failure.credential_key)) is not None
    }
    app = apps.get_app(run.app_id) if requirement_ids else None
    for requirement_id, failure in requirement_ids.items():
        link = links.get_link(run.app_id, run.user_id, requirement_id)
        if link is None or link.status is not LinkStatus.active:
            continue
        reason = f"upstream answered {failure.status_code} to node '{failure.node_id}' in run {run.id}"
        try:
            unauthorized = links.set_link_status(
                link, LinkStatus.unauthorized, reason, utcnow(), by=SYSTEM_ACTOR
            )
        except Conflict:
            logger.info("link changed while being marked unauthorized", extra={"link_id": link.id})
            continue
        if app is not None:
            link_events.emit(app, "link.unauthorized", unauthorized, reason)


def announce_expired(run: Run, resolutions: Iterable[dict[str, Any]]) -> None:
    """Emit ``link.expired`` for each link a resolution found expired (the credentials function marked it,
    but may not queue deliveries); only while the link is still that expired link."""
    if run.user_id is None:
        return
    for resolution in resolutions:
        requirement_id = requirement_of(str(resolution.get("reference", "")))
        if resolution.get("status") != LinkStatus.expired.value or requirement_id is None:
            continue
        link = links.get_link(run.app_id, run.user_id, requirement_id)
        if link is None or link.id != resolution.get("id") or link.status is not LinkStatus.expired:
            continue
        app = apps.get_app(run.app_id)
        if app is not None:
            link_events.emit(app, "link.expired", link, link.status_reason)


def touch_resolved_links(run: Run, resolutions: Iterable[dict[str, Any]]) -> None:
    """Record that the run used the links it resolved: a conditional write for each link whose recorded use
    is due (the condition still settles a race with another run), none for the others."""
    if run.user_id is None:
        return
    now = utcnow()
    for resolution in resolutions:
        requirement_id = requirement_of(str(resolution.get("reference", "")))
        if resolution.get("kind") != "link" or requirement_id is None:
            continue
        if not links.touch_is_due(_last_used_at(resolution), now):
            continue
        try:
            links.touch_link(
                run.app_id,
                run.user_id,
                requirement_id,
                str(resolution["id"]),
                now,
            )
        except Exception:
            logger.exception("a link's use could not be recorded", extra={"link_id": resolution.get("id")})


def _last_used_at(resolution: dict[str, Any]) -> datetime | None:
    """The link's last use as the credentials function read it; None (so a write is due) when absent."""
    value = resolution.get("last_used_at")
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
