"""Bootstrap: the only way to create the first user. Creates a user, an organization it owns and a PAT."""

from __future__ import annotations

from dataclasses import dataclass

from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.models import TokenKind, User
from switchboard.runtime.identity.orgs import new_org
from switchboard.runtime.identity.profile import new_token, normalize_email
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
    user = User(id=new_id("user"), email=normalize_email(email), created_at=utcnow())
    org, owner = new_org(org_name.strip(), user, BOOTSTRAP_ACTOR)
    pat = new_token(TokenKind.pat, BOOTSTRAP_ACTOR, BOOTSTRAP_ACTOR, user_id=user.id)
    ops = [*identity.user_ops(user), *orgs.org_ops(org, owner), identity.token_op(pat.record)]
    control().transact(ops, EMAIL_TAKEN, "email_taken")
    return BootstrapResult(
        user_id=user.id, email=user.email, org_id=org.id, token_id=pat.record.id, token=pat.token
    )
