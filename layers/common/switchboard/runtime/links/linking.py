"""End users' links: linking a connection for a requirement (connect token), revoking it (the end user or a
builder), listing them for builders, their history, and expiry.

A link is ``active`` until it is revoked, found unauthorized by a run
(``switchboard.runtime.links.lifecycle``) or expired: past its ``expires_at`` (given when linking, capped by
the requirement's ``max_age_seconds``). Expiry is lazy: nothing wakes up when the moment passes; the first
reader that needs the status (the requirement status, the pre-flight) records it, with its transition and
``link.expired`` event, and the credentials function never resolves an expired link meanwhile. Every change
writes its transition in the same transaction (``switchboard.store.links``) and emits its event
(``switchboard.runtime.links.events``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import Field

from switchboard.auth.principal import Principal
from switchboard.domain.base import Model
from switchboard.domain.connection_types import config_model, parse_config
from switchboard.domain.errors import Conflict, NotFound, Unauthorized, ValidationFailed, problem
from switchboard.domain.ids import iso, new_id, utcnow
from switchboard.domain.models import App, ProjectRole
from switchboard.domain.runs import SYSTEM_ACTOR, Link, LinkStatus, LinkTransition, UpstreamIdentity
from switchboard.egress import current_policy
from switchboard.observability import logger
from switchboard.runtime.building.versions import version_definition
from switchboard.runtime.identity.app_access import builder_app
from switchboard.runtime.links import events as link_events
from switchboard.runtime.links.connect_tokens import ConnectGrant
from switchboard.store import links, oauth_revocations, secrets

if TYPE_CHECKING:
    from switchboard.engine.definition import Requirement


class LinkView(Model):
    """A link as builders and end users see it: never a secret value, nor where the secret is."""

    id: str
    app_id: str
    user_id: str
    requirement_id: str
    connection_type: str
    status: LinkStatus
    status_reason: str | None = None
    status_changed_at: datetime
    config: dict[str, Any] = Field(description="Non-secret fields only")
    secret_fields: list[str] = Field(description="Fields stored as a secret (their values are never shown)")
    linked_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    upstream: UpstreamIdentity | None = Field(
        default=None, description="An OAuth link's account at the provider (sub, email or login, name)"
    )

    @classmethod
    def of(cls, link: Link) -> LinkView:
        return cls.model_validate(link.model_dump(include=set(cls.model_fields)))


def deployed_requirements(app: App) -> list[Requirement]:
    """The requirements of the App's deployed version (none without a deployment)."""
    if app.deployment is None:
        return []
    _, definition = version_definition(app.workflow_id, app.deployment.version)
    return definition.requirements


def declared_requirement(app: App, requirement_id: str) -> Requirement:
    """404 unless the App's deployed version declares the requirement."""
    for requirement in deployed_requirements(app):
        if requirement.id == requirement_id:
            return requirement
    raise NotFound("the App declares no such requirement", details={"requirement_id": requirement_id})


def refuse_entered_oauth(connection_type: str) -> None:
    """422 for a type end users cannot link by sending its fields: an OAuth account is authorized instead."""
    if not config_model(connection_type).entered_by_end_users:
        raise ValidationFailed(
            f"a '{connection_type}' connection is linked by authorizing at its provider, not with fields",
            code="authorization_required",
            details=[problem(["type"], "authorization_required", "linked through the OAuth flow")],
        )


def link_credentials(
    app: App,
    grant: ConnectGrant,
    requirement_id: str,
    connection_type: str,
    config: Any,
    expires_at: datetime | None = None,
) -> Link:
    """Link the grant's user's connection for the requirement: its secret fields are sealed into the link's
    item, the rest is on the link, which becomes ``active``; an existing link is replaced (new id).

    404 for a requirement the deployed version does not declare; 422 for another connection type, a config
    the type's model refuses (with details) or an ``expires_at`` in the past."""
    _check_grant(app, grant)
    requirement = declared_requirement(app, requirement_id)
    if connection_type != requirement.connection_type:
        raise ValidationFailed(
            f"the requirement needs a '{requirement.connection_type}' connection",
            code="connection_type_mismatch",
            details=[
                problem(
                    ["type"],
                    "connection_type_mismatch",
                    f"expected a '{requirement.connection_type}' connection",
                )
            ],
        )
    refuse_entered_oauth(connection_type)
    parsed = parse_config(connection_type, config)
    parsed.check_destinations(current_policy())
    now = utcnow()
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed(
            "expires_at must be in the future",
            details=[problem(["expires_at"], "expiry_in_past", "must be in the future")],
        )
    if requirement.max_age_seconds is not None:
        oldest = now + timedelta(seconds=requirement.max_age_seconds)
        expires_at = oldest if expires_at is None else min(expires_at, oldest)
    current = links.get_link(app.id, grant.user_id, requirement_id)
    link_id = new_id("link")
    link = Link(
        id=link_id,
        app_id=app.id,
        org_id=app.org_id,
        project_id=app.project_id,
        user_id=grant.user_id,
        requirement_id=requirement_id,
        connection_type=connection_type,
        status=LinkStatus.active,
        status_changed_at=now,
        config=parsed.public_part(),
        secret_fields=parsed.secret_field_names(),
        linked_at=now,
        expires_at=expires_at,
    )
    reason = f"replaces {current.id}" if current is not None else None
    stored = links.put_link(link, parsed.secret_part(), replacing=current, by=grant.actor, reason=reason)
    link_events.emit(app, "link.activated", stored, reason)
    return stored


def revoke_link(app: App, link: Link, by: str, reason: str | None = None) -> Link:
    """The link becomes ``revoked`` and its secret is deleted; revoking a revoked link changes nothing.
    An OAuth link's tokens are also revoked at the provider, best effort and after the fact
    (``oauth_flow.hand_over_revocation``): the link is revoked here whatever the provider answers."""
    if link.status is LinkStatus.revoked:
        return link
    why = reason or f"revoked by {by}"
    now = utcnow()
    revocation = oauth_revocations.pending_revocation(link, now)
    also = [oauth_revocations.put_op_for(revocation)] if revocation is not None else []
    revoked = links.set_link_status(link, LinkStatus.revoked, why, now, by=by, also=also)
    if link.secret_name:  # a link made before sealed secrets (the sealed one left with the status change)
        secrets.delete_secret(link.secret_name)
    if revocation is not None:
        from switchboard.runtime.links.oauth_flow import hand_over_revocation

        hand_over_revocation(link.id)
    link_events.emit(app, "link.revoked", revoked, why)
    return revoked


def revoke_requirement(app: App, grant: ConnectGrant, requirement_id: str) -> Link:
    """The connect flow's unlink: the grant's user's link for the requirement (404 when there is none)."""
    _check_grant(app, grant)
    declared_requirement(app, requirement_id)
    link = links.get_link(app.id, grant.user_id, requirement_id)
    if link is None:
        raise NotFound("nothing is linked for this requirement", details={"requirement_id": requirement_id})
    return revoke_link(app, link, grant.actor, "revoked by the user")


def expire_if_due(app: App, link: Link, now: datetime) -> Link:
    """An ``active`` link past its ``expires_at`` becomes ``expired`` (recorded, ``link.expired``); any
    other link is returned as it is. A concurrent change wins: the link is read again."""
    if link.status is not LinkStatus.active or link.expires_at is None or link.expires_at > now:
        return link
    reason = f"the link expired at {iso(link.expires_at)}"
    try:
        expired = links.set_link_status(link, LinkStatus.expired, reason, now, by=SYSTEM_ACTOR)
    except Conflict:
        logger.info("link changed while being marked expired", extra={"link_id": link.id})
        current = links.get_link(link.app_id, link.user_id, link.requirement_id)
        if current is None:
            raise NotFound("the link no longer exists") from None
        return current
    link_events.emit(app, "link.expired", expired, reason)
    return expired


def _check_grant(app: App, grant: ConnectGrant) -> None:
    if grant.app_id != app.id:
        raise Unauthorized("the connect token is for another App", code="invalid_token")


# ---------------------------------------------------------------- builders (PAT)


def list_links(
    principal: Principal, app_id: str, user_id: str | None, limit: int, next_token: str | None
) -> tuple[list[LinkView], str | None]:
    """The App's links (project viewer), optionally one user's, without secret values."""
    app = builder_app(principal, app_id, ProjectRole.viewer)
    items, cursor = links.list_app_links(app.id, user_id, limit, next_token)
    return [LinkView.of(link) for link in items], cursor


def link_transitions(principal: Principal, app_id: str, link_id: str) -> list[LinkTransition]:
    """A link's history, oldest first (project viewer); a replaced link's too."""
    app = builder_app(principal, app_id, ProjectRole.viewer)
    ref = links.get_link_ref(link_id)
    if ref is None or ref.app_id != app.id:
        raise NotFound("link not found")
    return links.list_transitions(link_id)


def revoke_app_link(principal: Principal, app_id: str, link_id: str) -> Link:
    """A builder revokes a user's link (project editor); idempotent."""
    app = builder_app(principal, app_id, ProjectRole.editor)
    link = links.get_link_by_id(link_id)
    if link is None or link.app_id != app.id:
        raise NotFound("link not found")
    return revoke_link(app, link, principal.actor)
