"""The caller's profile, personal access tokens and organization access keys."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from switchboard.auth import tokens
from switchboard.auth.access import require_org_role, require_project
from switchboard.auth.principal import Principal
from switchboard.domain.errors import NotFound, ValidationFailed, problem
from switchboard.domain.ids import utcnow
from switchboard.domain.models import ApiToken, OrgRole, ProjectRole, TokenKind, User
from switchboard.store import identity, keys

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")


def normalize_email(email: str) -> str:
    normalized = email.strip().lower()
    if len(normalized) > 254 or not _EMAIL.match(normalized):
        raise ValidationFailed(
            "invalid email address", details=[problem(["email"], "invalid_email", "not an email address")]
        )
    return normalized


@dataclass(frozen=True)
class CreatedToken:
    record: ApiToken
    token: str


def me(principal: Principal) -> User:
    user = identity.get_user(principal.user_id) if principal.user_id else None
    if user is None:
        raise NotFound("user not found")
    return user


def _check_expiry(expires_at: datetime | None, now: datetime) -> None:
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed(
            "expires_at must be in the future",
            details=[problem(["expires_at"], "expiry_in_past", "must be in the future")],
        )


def new_token(
    kind: TokenKind,
    name: str,
    actor: str,
    *,
    user_id: str | None = None,
    org_id: str | None = None,
    project_id: str | None = None,
    expires_at: datetime | None = None,
) -> CreatedToken:
    """Issue a token and its record (not yet stored); the token itself exists only in the result."""
    now = utcnow()
    _check_expiry(expires_at, now)
    issued = tokens.issue(kind)
    record = ApiToken(
        id=issued.token_id,
        kind=kind,
        name=name,
        token_hash=issued.token_hash,
        preview=issued.preview,
        user_id=user_id,
        org_id=org_id,
        project_id=project_id,
        created_at=now,
        created_by=actor,
        expires_at=expires_at,
    )
    return CreatedToken(record=record, token=issued.token)


def create_pat(principal: Principal, name: str, expires_at: datetime | None) -> CreatedToken:
    assert principal.user_id is not None
    created = new_token(
        TokenKind.pat, name, principal.actor, user_id=principal.user_id, expires_at=expires_at
    )
    identity.create_token(created.record)
    return created


def list_pats(principal: Principal, limit: int, next_token: str | None) -> tuple[list[ApiToken], str | None]:
    assert principal.user_id is not None
    return identity.list_tokens(keys.user_tokens(principal.user_id), limit, next_token)


def revoke_pat(principal: Principal, token_id: str) -> ApiToken:
    record = identity.get_token(token_id)
    if record is None or record.kind is not TokenKind.pat or record.user_id != principal.user_id:
        raise NotFound("token not found")
    if record.revoked_at is not None:
        return record
    return identity.revoke_token(token_id, principal.actor, utcnow())


def create_access_key(
    principal: Principal, org_id: str, name: str, project_id: str | None, expires_at: datetime | None
) -> CreatedToken:
    require_org_role(principal, org_id, OrgRole.admin)
    if project_id is not None:
        project = require_project(principal, project_id, ProjectRole.admin)
        if project.org_id != org_id:
            raise NotFound("project not found")
    created = new_token(
        TokenKind.access_key,
        name,
        principal.actor,
        org_id=org_id,
        project_id=project_id,
        expires_at=expires_at,
    )
    identity.create_token(created.record)
    return created


def list_access_keys(
    principal: Principal, org_id: str, limit: int, next_token: str | None
) -> tuple[list[ApiToken], str | None]:
    require_org_role(principal, org_id, OrgRole.admin)
    return identity.list_tokens(keys.org_access_keys(org_id), limit, next_token)


def revoke_access_key(principal: Principal, key_id: str) -> ApiToken:
    record = identity.get_token(key_id)
    if record is None or record.kind is not TokenKind.access_key or record.org_id is None:
        raise NotFound("access key not found")
    try:
        require_org_role(principal, record.org_id, OrgRole.admin)
    except NotFound:
        raise NotFound("access key not found") from None
    if record.revoked_at is not None:
        return record
    return identity.revoke_token(key_id, principal.actor, utcnow())
