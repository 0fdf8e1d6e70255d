"""Bootstrap: the only way to create the first user. Creates a user, an organization it owns and a PAT."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.auth import tokens
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.models import ApiToken, Organization, OrgMembership, OrgRole, TokenKind, User
from switchboard.runtime.identity import normalize_email
from switchboard.store import identity, orgs
from switchboard.store.control import control
from switchboard.store.identity import EMAIL_TAKEN

BOOTSTRAP_ACTOR = "bootstrap"


@dataclass(frozen=True)
class BootstrapResult:
    user_id: str
    email: str
    org_id: str
    token_id: str
    token: str


def bootstrap_admin(email: str, org_name: str) -> BootstrapResult:
    """Create user + org (owned by the user) + PAT in one transaction; 409 if the email exists."""
    now = utcnow()
    user = User(id=new_id("user"), email=normalize_email(email), created_at=now)
    org = Organization(
        id=new_id("org"),
        name=org_name.strip(),
        created_at=now,
        created_by=user.id,
        updated_at=now,
        updated_by=user.id,
    )
    owner = OrgMembership(
        org_id=org.id,
        user_id=user.id,
        email=user.email,
        role=OrgRole.owner,
        created_at=now,
        created_by=BOOTSTRAP_ACTOR,
        updated_at=now,
        updated_by=BOOTSTRAP_ACTOR,
    )
    issued = tokens.issue(TokenKind.pat)
    pat = ApiToken(
        id=issued.token_id,
        kind=TokenKind.pat,
        name=BOOTSTRAP_ACTOR,
        token_hash=issued.token_hash,
        preview=issued.preview,
        user_id=user.id,
        created_at=now,
        created_by=BOOTSTRAP_ACTOR,
    )
    ops = [*identity.user_ops(user), *orgs.org_ops(org, owner), identity.token_op(pat)]
    control().transact(ops, EMAIL_TAKEN, "email_taken")
    return BootstrapResult(
        user_id=user.id, email=user.email, org_id=org.id, token_id=pat.id, token=issued.token
    )
