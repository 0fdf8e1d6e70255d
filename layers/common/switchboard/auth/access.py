"""Role checks. Resources of an organization the caller does not belong to are invisible (404); a member
whose role is too low gets 403. Organization owners and admins act as admins of every project in the org.

| action                                         | minimum role                      |
|------------------------------------------------|-----------------------------------|
| see an org, list its members                   | org member                        |
| rename an org, manage members, access keys     | org admin (owners: only by owner) |
| create a project                               | org admin                         |
| see a project and everything in it             | project viewer                    |
| create/change connections, workflows, Apps,    | project editor                    |
| deploy and roll back                           |                                   |
| rename/delete a project, manage its members    | project admin                     |
"""

from __future__ import annotations

from switchboard.auth.principal import Principal
from switchboard.domain.errors import Forbidden, NotFound
from switchboard.domain.models import ORG_RANK, PROJECT_RANK, OrgRole, Project, ProjectRole
from switchboard.store import orgs, projects

_ORG_ADMINS = (OrgRole.owner, OrgRole.admin)


def org_role(principal: Principal, org_id: str) -> OrgRole:
    membership = orgs.get_membership(org_id, principal.user_id) if principal.user_id else None
    if membership is None:
        raise NotFound("organization not found")
    return membership.role


def require_org_role(principal: Principal, org_id: str, minimum: OrgRole) -> OrgRole:
    role = org_role(principal, org_id)
    if ORG_RANK[role] < ORG_RANK[minimum]:
        raise Forbidden(f"this action needs the organization role '{minimum.value}' or higher")
    return role


def project_role(principal: Principal, project: Project) -> ProjectRole:
    if principal.user_id is None:
        raise NotFound("project not found")
    membership = orgs.get_membership(project.org_id, principal.user_id)
    if membership is None:
        raise NotFound("project not found")
    if membership.role in _ORG_ADMINS:
        return ProjectRole.admin
    project_membership = projects.get_member(project.id, principal.user_id)
    if project_membership is None:
        raise NotFound("project not found")
    return project_membership.role


def require_project(principal: Principal, project_id: str, minimum: ProjectRole) -> Project:
    """Load a project the caller may act on with at least ``minimum``."""
    project = projects.get_project(project_id)
    if project is None:
        raise NotFound("project not found")
    role = project_role(principal, project)
    if PROJECT_RANK[role] < PROJECT_RANK[minimum]:
        raise Forbidden(f"this action needs the project role '{minimum.value}' or higher")
    return project
