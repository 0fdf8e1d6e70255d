"""Keeping links honest after a run: an upstream 401/403 through a linked connection marks it unauthorized."""

from __future__ import annotations

from switchboard.domain.errors import Conflict
from switchboard.domain.ids import utcnow
from switchboard.domain.runs import LinkStatus, Run
from switchboard.engine.contracts import AuthorizationFailure
from switchboard.observability import logger
from switchboard.store import links

REQUIREMENT_PREFIX = "requirement:"


def record_authorization_failures(run: Run, failures: list[AuthorizationFailure]) -> None:
    if run.user_id is None:
        return
    requirement_ids = {
        f.credential_key.removeprefix(REQUIREMENT_PREFIX): f
        for f in failures
        if f.credential_key.startswith(REQUIREMENT_PREFIX)
    }
    for requirement_id, failure in requirement_ids.items():
        link = links.get_link(run.app_id, run.user_id, requirement_id)
        if link is None or link.status is not LinkStatus.active:
            continue
        reason = f"upstream answered {failure.status_code} to node '{failure.node_id}' in run {run.id}"
        try:
            links.set_link_status(link, LinkStatus.unauthorized, reason, utcnow())
        except Conflict:
            logger.info("link changed while being marked unauthorized", extra={"link_id": link.id})
