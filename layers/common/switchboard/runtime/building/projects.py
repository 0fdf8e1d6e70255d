"""Projects and their members."""

from __future__ import annotations

from switchboard.auth.access import org_role, project_role, require_org_role, require_project
from switchboard.auth.principal import Principal
from switchboard.domain.errors import NotFound, ValidationFailed, problem
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.models import OrgRole, Project, ProjectMembership, ProjectRole
from switchboard.runtime.building import cleanup
from switchboard.store import identity, orgs, projects


def create_project(principal: Principal, org_id: str, name: str, description: str) -> Project:
    require_org_role(principal, org_id, OrgRole.admin)
    now = utcnow()
    project = Project(
        id=new_id("project"),
        org_id=org_id,
        name=name,
        description=description,
        created_at=now,
        created_by=principal.actor,
        updated_at=now,
        updated_by=principal.actor,
    )
    projects.create_project(project)
    return project


def list_projects(
    principal: Principal, org_id: str, limit: int, next_token: str | None
) -> tuple[list[Project], str | None]:
    role = org_role(principal, org_id)
    if role in (OrgRole.owner, OrgRole.admin):
        return projects.list_org_projects(org_id, limit, next_token)
    assert principal.user_id is not None
    return projects.list_member_projects(principal.user_id, org_id, limit, next_token)


def get_project(principal: Principal, project_id: str) -> tuple[Project, ProjectRole]:
    project = require_project(principal, project_id, ProjectRole.viewer)
    return project, project_role(principal, project)


def update_project(principal: Principal, project_id: str, changes: dict[str, str]) -> Project:
    project = require_project(principal, project_id, ProjectRole.admin)
    if not changes:
        return project
    return projects.update_project(project, changes, principal.actor, utcnow())


def delete_project(principal: Principal, project_id: str) -> None:
    project = require_project(principal, project_id, ProjectRole.admin)
    projects.delete_project(project)
    cleanup.project_contents(project)


def list_members(
    principal: Principal, project_id: str, limit: int, next_token: str | None
) -> tuple[list[ProjectMembership], str | None]:
    require_project(principal, project_id, ProjectRole.viewer)
    return projects.list_members(project_id, limit, next_token)


def add_member(principal: Principal, project_id: str, email: str, role: ProjectRole) -> ProjectMembership:
    project = require_project(principal, project_id, ProjectRole.admin)
    user = identity.find_user_by_email(email.strip().lower())
    if user is None or orgs.get_membership(project.org_id, user.id) is None:
        raise ValidationFailed(
            "only members of the project's organization can join it",
            details=[problem(["email"], "not_an_org_member", "not a member of the organization")],
        )
    now = utcnow()
    member = ProjectMembership(
        project_id=project.id,
        org_id=project.org_id,
        user_id=user.id,
        email=user.email,
        role=role,
        created_at=now,
        created_by=principal.actor,
        updated_at=now,
        updated_by=principal.actor,
    )
    projects.add_member(member)
    return member


def _member(project_id: str, user_id: str) -> ProjectMembership:
    member = projects.get_member(project_id, user_id)
    if member is None:
        raise NotFound("member not found")
    return member


def change_member_role(
    principal: Principal, project_id: str, user_id: str, role: ProjectRole
) -> ProjectMembership:
    require_project(principal, project_id, ProjectRole.admin)
    member = _member(project_id, user_id)
    if member.role is role:
        return member
    return projects.change_member_role(member, role, principal.actor, utcnow())


def remove_member(principal: Principal, project_id: str, user_id: str) -> None:
    minimum = ProjectRole.viewer if user_id == principal.user_id else ProjectRole.admin
    require_project(principal, project_id, minimum)
    projects.remove_member(_member(project_id, user_id))
