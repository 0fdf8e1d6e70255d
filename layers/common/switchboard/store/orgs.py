"""Organizations and their memberships. ``owner_count`` on the org keeps at least one owner, atomically."""

from __future__ import annotations

from datetime import datetime

from switchboard.domain.ids import iso
from switchboard.domain.models import Organization, OrgMembership, OrgRole
from switchboard.store import keys
from switchboard.store.control import control, from_item, to_item
from switchboard.store.table import Item, check_op, delete_op, put_op, update_op

NOT_EXISTS = "attribute_not_exists(pk)"
LAST_OWNER = "an organization must keep at least one owner"


def _member_item(member: OrgMembership) -> Item:
    return to_item(
        member,
        keys.org_member(member.org_id, member.user_id),
        keys.org_member_index(member.org_id, member.user_id),
    )


def org_ops(org: Organization, owner: OrgMembership) -> list[Item]:
    table = control().name
    org_item = {**to_item(org, keys.org(org.id)), "owner_count": 1}
    return [put_op(table, org_item, NOT_EXISTS), put_op(table, _member_item(owner), NOT_EXISTS)]


def create_org(org: Organization, owner: OrgMembership) -> None:
    control().transact(org_ops(org, owner), "the organization already exists")


def get_org(org_id: str) -> Organization | None:
    item = control().get(keys.org(org_id))
    return from_item(Organization, item) if item else None


def rename_org(org: Organization, name: str, by: str, at: datetime) -> Organization:
    item = control().update_returning(
        update_op(
            control().name,
            keys.org(org.id),
            "SET #name = :name, updated_at = :at, updated_by = :by, #version = #version + :one",
            "attribute_exists(pk) AND #version = :expected",
            {":name": name, ":at": iso(at), ":by": by, ":one": 1, ":expected": org.version},
        ),
        "the organization was changed concurrently; retry",
    )
    return from_item(Organization, item)


def get_membership(org_id: str, user_id: str) -> OrgMembership | None:
    item = control().get(keys.org_member(org_id, user_id))
    return from_item(OrgMembership, item) if item else None


def list_members(org_id: str, limit: int, next_token: str | None) -> tuple[list[OrgMembership], str | None]:
    partition, prefix = keys.org_members_prefix(org_id)
    page = control().query(partition, prefix=prefix, limit=limit, next_token=next_token)
    return [from_item(OrgMembership, i) for i in page.items], page.next_token


def user_org_ids(user_id: str) -> list[str]:
    partition, prefix = keys.user_orgs_prefix(user_id)
    return [i["org_id"] for i in control().query_all(partition, prefix=prefix, index=keys.GSI1)]


def get_orgs(org_ids: list[str]) -> list[Organization]:
    items = control().batch_get([keys.org(org_id) for org_id in org_ids])
    return sorted((from_item(Organization, i) for i in items), key=lambda o: (o.created_at, o.id))


ALREADY_MEMBER = "the user is already a member of this organization"


def member_ops(member: OrgMembership) -> list[Item]:
    """A new membership (refused when the user is one already), counting a new owner on the org."""
    table = control().name
    org_exists = "attribute_exists(pk)"
    org_op = (
        update_op(table, keys.org(member.org_id), "ADD owner_count :one", org_exists, {":one": 1})
        if member.role is OrgRole.owner
        else check_op(table, keys.org(member.org_id), org_exists)
    )
    return [put_op(table, _member_item(member), NOT_EXISTS), org_op]


def _owner_delta_op(org_id: str, before: OrgRole, after: OrgRole | None) -> Item | None:
    table = control().name
    if before is OrgRole.owner and after is not OrgRole.owner:
        return update_op(
            table, keys.org(org_id), "ADD owner_count :minus", "owner_count > :one", {":minus": -1, ":one": 1}
        )
    if before is not OrgRole.owner and after is OrgRole.owner:
        return update_op(
            table, keys.org(org_id), "ADD owner_count :plus", "attribute_exists(pk)", {":plus": 1}
        )
    return None


def change_role(member: OrgMembership, role: OrgRole, by: str, at: datetime) -> OrgMembership:
    table = control().name
    ops = [
        update_op(
            table,
            keys.org_member(member.org_id, member.user_id),
            "SET #role = :role, updated_at = :at, updated_by = :by",
            "#role = :before",
            {":role": role.value, ":at": iso(at), ":by": by, ":before": member.role.value},
        )
    ]
    owner_op = _owner_delta_op(member.org_id, member.role, role)
    if owner_op:
        ops.append(owner_op)
    demotes_owner = owner_op is not None and role is not OrgRole.owner
    control().transact(
        ops,
        LAST_OWNER if demotes_owner else "membership changed; retry",
        "last_owner" if demotes_owner else "conflict",
    )
    return member.model_copy(update={"role": role, "updated_at": at, "updated_by": by})


def remove_member(member: OrgMembership) -> None:
    table = control().name
    ops = [
        delete_op(
            table,
            keys.org_member(member.org_id, member.user_id),
            "#role = :before",
            {":before": member.role.value},
        )
    ]
    owner_op = _owner_delta_op(member.org_id, member.role, None)
    if owner_op:
        ops.append(owner_op)
    control().transact(
        ops, LAST_OWNER if owner_op else "membership changed; retry", "last_owner" if owner_op else "conflict"
    )
