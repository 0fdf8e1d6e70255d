"""Invitations: the only way into an organization. An admin invites an email; the token is shown once. A new
user accepts without any token and gets their account and first PAT; an existing user accepts with their own
PAT, so nobody joins an organization without consent. Accepting is one transaction, on condition that the
invitation is still pending and unexpired: of two accepts, one wins."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

from switchboard.auth import tokens
from switchboard.auth.access import require_org_role
from switchboard.auth.principal import Principal
from switchboard.domain.errors import (
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    Unauthorized,
    ValidationFailed,
    problem,
)
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.models import Invitation, InvitationStatus, OrgMembership, OrgRole, TokenKind, User
from switchboard.runtime.identity.orgs import require_owner_for
from switchboard.runtime.identity.profile import CreatedToken, new_token, normalize_email
from switchboard.store import identity, invitations, orgs
from switchboard.store.control import control

DEFAULT_LIFETIME = timedelta(days=7)
MAX_LIFETIME = timedelta(days=30)
FIRST_TOKEN_NAME = "first token"  # noqa: S105 (a name, not a secret)


@dataclass(frozen=True)
class CreatedInvitation:
    record: Invitation
    token: str


@dataclass(frozen=True)
class Acceptance:
    membership: OrgMembership
    user: User
    first_token: CreatedToken | None
    """Only for a new user: their first PAT (shown once)."""


def _lifetime_end(expires_at: datetime | None, now: datetime) -> datetime:
    if expires_at is None:
        return now + DEFAULT_LIFETIME
    if expires_at <= now or expires_at > now + MAX_LIFETIME:
        raise ValidationFailed(
            "expires_at must be in the future, at most 30 days away",
            details=[problem(["expires_at"], "expiry_out_of_range", "must be within the next 30 days")],
        )
    return expires_at.replace(microsecond=expires_at.microsecond // 1000 * 1000)


def invite(
    principal: Principal, org_id: str, email: str, role: OrgRole, expires_at: datetime | None
) -> CreatedInvitation:
    caller_role = require_org_role(principal, org_id, OrgRole.admin)
    require_owner_for(caller_role, role)
    normalized = normalize_email(email)
    existing = identity.find_user_by_email(normalized)
    if existing is not None and orgs.get_membership(org_id, existing.id) is not None:
        raise Conflict(orgs.ALREADY_MEMBER, code="already_member")
    now = utcnow()
    issued = tokens.issue(TokenKind.invitation)
    record = Invitation(
        id=issued.token_id,
        org_id=org_id,
        email=normalized,
        role=role,
        token_hash=issued.token_hash,
        preview=issued.preview,
        expires_at=_lifetime_end(expires_at, now),
        created_at=now,
        created_by=principal.actor,
        updated_at=now,
        updated_by=principal.actor,
    )
    invitations.create_invitation(record)
    return CreatedInvitation(record=record, token=issued.token)


def list_invitations(
    principal: Principal, org_id: str, limit: int, next_token: str | None
) -> tuple[list[Invitation], str | None]:
    require_org_role(principal, org_id, OrgRole.admin)
    return invitations.list_invitations(org_id, limit, next_token)


def _org_invitation(org_id: str, invitation_id: str) -> Invitation:
    record = invitations.get_invitation(invitation_id)
    if record is None or record.org_id != org_id:
        raise NotFound("invitation not found")
    return record


def revoke(principal: Principal, org_id: str, invitation_id: str) -> Invitation:
    """Revoke a pending (or expired) invitation; revoking a revoked one answers it as it is."""
    caller_role = require_org_role(principal, org_id, OrgRole.admin)
    record = _org_invitation(org_id, invitation_id)
    require_owner_for(caller_role, record.role)
    if record.status is InvitationStatus.pending and invitations.revoke_invitation(
        record.id, principal.actor, utcnow()
    ):
        return _org_invitation(org_id, invitation_id)
    record = _org_invitation(org_id, invitation_id)
    if record.status is InvitationStatus.accepted:
        raise Conflict("the invitation was already accepted", code="invitation_used")
    return record


def _redeemable(token: str) -> Invitation:
    """The invitation this token opens, if it can still be accepted."""
    parsed = tokens.parse(token)
    record = invitations.get_invitation(parsed.token_id) if parsed else None
    if (
        parsed is None
        or parsed.kind is not TokenKind.invitation
        or record is None
        or not tokens.same_hash(record.token_hash, parsed.token_hash)
    ):
        raise NotFound("no invitation has this token", code="invitation_not_found")
    _refuse_closed(record)
    return record


def _refuse_closed(record: Invitation) -> None:
    status = record.status_at(utcnow())
    if status is InvitationStatus.accepted:
        raise Conflict("the invitation was already accepted", code="invitation_used")
    if status is InvitationStatus.revoked:
        raise Gone("the invitation was revoked", code="invitation_revoked")
    if status is InvitationStatus.expired:
        raise Gone("the invitation has expired", code="invitation_expired")


def _invitee(record: Invitation, principal: Principal | None) -> User | None:
    """The invited user when they have an account (who must be the caller), None for a new user."""
    existing = identity.find_user_by_email(record.email)
    if principal is None:
        if existing is not None:
            raise Unauthorized(
                "this email already has an account: accept with that user's personal access token",
                code="invitation_requires_login",
            )
        return None
    if existing is None or existing.id != principal.user_id:
        raise Forbidden("the invitation is for another user", code="invitation_wrong_user")
    return existing


def accept(token: str, principal: Principal | None, token_name: str | None) -> Acceptance:
    record = _redeemable(token)
    try:
        user = _invitee(record, principal)
    except (Unauthorized, Forbidden):
        _refuse_closed(_current(record.id))  # a racing accept may have just made the invitee's account
        raise
    now = utcnow()
    first_token = None
    new_user_ops = []
    if user is None:
        user = User(id=new_id("user"), email=record.email, created_at=now)
        first_token = new_token(TokenKind.pat, token_name or FIRST_TOKEN_NAME, user.id, user_id=user.id)
        new_user_ops = [*identity.user_ops(user), identity.token_op(first_token.record)]
    membership = OrgMembership(
        org_id=record.org_id,
        user_id=user.id,
        email=user.email,
        role=record.role,
        created_at=now,
        created_by=user.id,
        updated_at=now,
        updated_by=user.id,
    )
    ops = [invitations.accept_op(record.id, user.id, now), *orgs.member_ops(membership), *new_user_ops]
    reasons = control().transact_reasons(ops)
    if reasons is not None:
        _explain(record.id, reasons)
    return Acceptance(membership=membership, user=user, first_token=first_token)


def _current(invitation_id: str) -> Invitation:
    record = invitations.get_invitation(invitation_id)
    if record is None:
        raise NotFound("no invitation has this token", code="invitation_not_found")
    return record


def _explain(invitation_id: str, reasons: list[str]) -> NoReturn:
    """Why the accepting transaction was refused: the invitation closed meanwhile (the race's loser), the user
    is already a member, or the email got an account meanwhile."""
    failed = "ConditionalCheckFailed"
    if reasons[0] == failed:
        _refuse_closed(_current(invitation_id))
    if reasons[1] == failed:
        raise Conflict(orgs.ALREADY_MEMBER, code="already_member")
    if reasons[2] == failed:
        raise NotFound("organization not found")
    raise Conflict(
        "this email got an account meanwhile: accept with that user's personal access token",
        code="email_taken",
    )
