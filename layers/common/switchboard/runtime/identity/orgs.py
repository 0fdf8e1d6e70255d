"""Organizations and their members."""

from __future__ import annotations

from switchboard.auth.access import org_role, require_org_role
from switchboard.auth.principal import Principal
from switchboard.domain.errors import Forbidden, NotFound
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.models import Organization, OrgMembership, OrgRole, User
from switchboard.store import identity, orgs


def new_org(name: str, owner: User, actor: str) -> tuple[Organization, OrgMembership]:
    """An organization and its first owner's membership (not yet stored)."""
    now = utcnow()
    org = Organization(
        id=new_id("org"), name=name, created_at=now, created_by=actor, updated_at=now, updated_by=actor
    )
    membership = OrgMembership(
        org_id=org.id,
        user_id=owner.id,
        email=owner.email,
        role=OrgRole.owner,
        created_at=now,
        created_by=actor,
        updated_at=now,
        updated_by=actor,
    )
    return org, membership


def create_org(principal: Principal, name: str) -> Organization:
    assert principal.user_id is not None
    user = identity.get_user(principal.user_id)
    if user is None:
        raise NotFound("user not found")
    org, owner = new_org(name, user, principal.actor)
    orgs.create_org(org, owner)
    return org


def list_orgs(principal: Principal) -> list[tuple[Organization, OrgRole]]:
    assert principal.user_id is not None
    org_ids = orgs.user_org_ids(principal.user_id)
    found = orgs.get_orgs(org_ids)
    return [(org, org_role(principal, org.id)) for org in found]


def get_org(principal: Principal, org_id: str) -> tuple[Organization, OrgRole]:
    role = org_role(principal, org_id)
    org = orgs.get_org(org_id)
    if org is None:
        raise NotFound("organization not found")
    return org, role


def rename_org(principal: Principal, org_id: str, name: str) -> tuple[Organization, OrgRole]:
    role = require_org_role(principal, org_id, OrgRole.admin)
    org = orgs.get_org(org_id)
    if org is None:
        raise NotFound("organization not found")
    return orgs.rename_org(org, name, principal.actor, utcnow()), role


def list_members(
    principal: Principal, org_id: str, limit: int, next_token: str | None
) -> tuple[list[OrgMembership], str | None]:
    org_role(principal, org_id)
    return orgs.list_members(org_id, limit, next_token)


def require_owner_for(caller_role: OrgRole, *roles: OrgRole) -> None:
    """Only an owner grants, changes or removes the owner role (invitations included)."""
    if OrgRole.owner in roles and caller_role is not OrgRole.owner:
        raise Forbidden("only an owner can grant, change or remove the owner role")


def _member(org_id: str, user_id: str) -> OrgMembership:
    member = orgs.get_membership(org_id, user_id)
    if member is None:
        raise NotFound("member not found")
    return member


def change_member_role(principal: Principal, org_id: str, user_id: str, role: OrgRole) -> OrgMembership:
    caller_role = require_org_role(principal, org_id, OrgRole.admin)
    member = _member(org_id, user_id)
    require_owner_for(caller_role, member.role, role)
    if member.role is role:
        return member
    return orgs.change_role(member, role, principal.actor, utcnow())


def remove_member(principal: Principal, org_id: str, user_id: str) -> None:
    if user_id == principal.user_id:
        orgs.remove_member(_member(org_id, user_id))
        return
    caller_role = require_org_role(principal, org_id, OrgRole.admin)
    member = _member(org_id, user_id)
    require_owner_for(caller_role, member.role)
    orgs.remove_member(member)
