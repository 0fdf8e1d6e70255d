"""Projects and project memberships. ``app_count`` guards deletion while Apps exist."""

from __future__ import annotations

from datetime import datetime

from switchboard.domain.ids import iso
from switchboard.domain.models import Project, ProjectMembership, ProjectRole
from switchboard.store import keys
from switchboard.store.control import control, from_item, to_item
from switchboard.store.table import Item, check_op, delete_op, put_op, update_op

NOT_EXISTS = "attribute_not_exists(pk)"


def create_project(project: Project) -> None:
    table = control().name
    index = keys.listing_index(keys.org_projects(project.org_id), project.created_at, project.id)
    control().transact(
        [
            put_op(table, to_item(project, keys.project(project.id), index), NOT_EXISTS),
            check_op(table, keys.org(project.org_id), "attribute_exists(pk)"),
        ],
        "the project already exists",
    )


def get_project(project_id: str) -> Project | None:
    item = control().get(keys.project(project_id))
    return from_item(Project, item) if item else None


def list_org_projects(org_id: str, limit: int, next_token: str | None) -> tuple[list[Project], str | None]:
    page = control().query(keys.org_projects(org_id), index=keys.GSI1, limit=limit, next_token=next_token)
    return [from_item(Project, i) for i in page.items], page.next_token


def list_member_projects(
    user_id: str, org_id: str, limit: int, next_token: str | None
) -> tuple[list[Project], str | None]:
    partition, prefix = keys.user_projects_prefix(user_id, org_id)
    page = control().query(partition, prefix=prefix, index=keys.GSI1, limit=limit, next_token=next_token)
    items = control().batch_get([keys.project(i["project_id"]) for i in page.items])
    projects = sorted((from_item(Project, i) for i in items), key=lambda p: (p.created_at, p.id))
    return projects, page.next_token


def update_project(project: Project, changes: dict[str, str], by: str, at: datetime) -> Project:
    sets = ", ".join(f"#{name} = :{name}" for name in changes)
    values: Item = {f":{k}": v for k, v in changes.items()}
    item = control().update_returning(
        update_op(
            control().name,
            keys.project(project.id),
            f"SET {sets}, updated_at = :at, updated_by = :by, #version = #version + :one",
            "attribute_exists(pk) AND #version = :expected",
            {**values, ":at": iso(at), ":by": by, ":one": 1, ":expected": project.version},
        ),
        "the project was changed concurrently; retry",
    )
    return from_item(Project, item)


def delete_project(project: Project) -> None:
    control().write(
        delete_op(
            control().name,
            keys.project(project.id),
            "attribute_exists(pk) AND app_count = :zero",
            {":zero": 0},
        ),
        "the project still holds Apps; delete them first",
    )


def get_member(project_id: str, user_id: str) -> ProjectMembership | None:
    item = control().get(keys.project_member(project_id, user_id))
    return from_item(ProjectMembership, item) if item else None


def list_members(
    project_id: str, limit: int, next_token: str | None
) -> tuple[list[ProjectMembership], str | None]:
    partition, prefix = keys.project_members_prefix(project_id)
    page = control().query(partition, prefix=prefix, limit=limit, next_token=next_token)
    return [from_item(ProjectMembership, i) for i in page.items], page.next_token


def all_member_keys(project_id: str) -> list[Item]:
    partition, prefix = keys.project_members_prefix(project_id)
    return [{"pk": i["pk"], "sk": i["sk"]} for i in control().query_all(partition, prefix=prefix)]


def add_member(member: ProjectMembership) -> None:
    table = control().name
    index = keys.project_member_index(member.org_id, member.project_id, member.user_id)
    control().transact(
        [
            put_op(
                table,
                to_item(member, keys.project_member(member.project_id, member.user_id), index),
                NOT_EXISTS,
            ),
            check_op(table, keys.project(member.project_id), "attribute_exists(pk)"),
        ],
        "the user is already a member of this project",
        "already_member",
    )


def change_member_role(
    member: ProjectMembership, role: ProjectRole, by: str, at: datetime
) -> ProjectMembership:
    item = control().update_returning(
        update_op(
            control().name,
            keys.project_member(member.project_id, member.user_id),
            "SET #role = :role, updated_at = :at, updated_by = :by",
            "attribute_exists(pk)",
            {":role": role.value, ":at": iso(at), ":by": by},
        ),
        "the membership no longer exists",
    )
    return from_item(ProjectMembership, item)


def remove_member(member: ProjectMembership) -> None:
    control().write(
        delete_op(
            control().name, keys.project_member(member.project_id, member.user_id), "attribute_exists(pk)"
        ),
        "the membership no longer exists",
    )
