"""Projects and their members."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field

from management_routes.models import ProjectMemberOut, ProjectOut
from switchboard.api.envelopes import Data, Page, RequestModel, documented
from switchboard.api.guards import CurrentPrincipal, Limit, NextToken
from switchboard.api.responses import no_content, one, page
from switchboard.domain.models import ProjectRole
from switchboard.runtime.building import projects

router = APIGatewayHttpRouter()


class CreateProjectIn(RequestModel):
    org_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=1000)


class UpdateProjectIn(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    description: str | None = Field(default=None, max_length=1000)


class AddProjectMemberIn(RequestModel):
    email: str = Field(min_length=3, max_length=254)
    role: ProjectRole = Field(default=ProjectRole.viewer, strict=False)


class ChangeProjectRoleIn(RequestModel):
    role: ProjectRole = Field(strict=False)


@router.post(
    "/v1/projects",
    tags=["projects"],
    summary="Create a project (org admin)",
    **documented(201, Data, ProjectOut),
)
def create_project(body: CreateProjectIn, principal: CurrentPrincipal) -> Response[Data[ProjectOut]]:
    return one(
        ProjectOut.of(projects.create_project(principal, body.org_id, body.name, body.description)), 201
    )


@router.get(
    "/v1/projects",
    tags=["projects"],
    summary="Projects of an organization visible to you",
    **documented(200, Page, ProjectOut),
)
def list_projects(
    principal: CurrentPrincipal,
    org_id: Annotated[str, Query(min_length=1, max_length=64)],
    limit: Limit = 50,
    next_token: NextToken = None,
) -> Page[ProjectOut]:
    items, cursor = projects.list_projects(principal, org_id, limit, next_token)
    return page([ProjectOut.of(p) for p in items], cursor)


@router.get(
    "/v1/projects/<project_id>", tags=["projects"], summary="One project", **documented(200, Data, ProjectOut)
)
def get_project(project_id: str, principal: CurrentPrincipal) -> Response[Data[ProjectOut]]:
    project, _ = projects.get_project(principal, project_id)
    return one(ProjectOut.of(project))


@router.patch(
    "/v1/projects/<project_id>",
    tags=["projects"],
    summary="Rename or describe a project (admin)",
    **documented(200, Data, ProjectOut, writes=True),
)
def update_project(
    project_id: str, body: UpdateProjectIn, principal: CurrentPrincipal
) -> Response[Data[ProjectOut]]:
    changes = body.model_dump(exclude_none=True)
    return one(ProjectOut.of(projects.update_project(principal, project_id, changes)))


@router.delete(
    "/v1/projects/<project_id>",
    tags=["projects"],
    summary="Delete a project (refused while it holds Apps)",
    **documented(204, None),
)
def delete_project(project_id: str, principal: CurrentPrincipal) -> Response[None]:
    projects.delete_project(principal, project_id)
    return no_content()


@router.get(
    "/v1/projects/<project_id>/members",
    tags=["projects"],
    summary="Members of a project",
    **documented(200, Page, ProjectMemberOut),
)
def list_members(
    project_id: str, principal: CurrentPrincipal, limit: Limit = 50, next_token: NextToken = None
) -> Page[ProjectMemberOut]:
    items, cursor = projects.list_members(principal, project_id, limit, next_token)
    return page([ProjectMemberOut.of(m) for m in items], cursor)


@router.post(
    "/v1/projects/<project_id>/members",
    tags=["projects"],
    summary="Add an org member to a project",
    **documented(201, Data, ProjectMemberOut),
)
def add_member(
    project_id: str, body: AddProjectMemberIn, principal: CurrentPrincipal
) -> Response[Data[ProjectMemberOut]]:
    return one(ProjectMemberOut.of(projects.add_member(principal, project_id, body.email, body.role)), 201)


@router.patch(
    "/v1/projects/<project_id>/members/<user_id>",
    tags=["projects"],
    summary="Change a project role",
    **documented(200, Data, ProjectMemberOut, writes=True),
)
def change_member(
    project_id: str, user_id: str, body: ChangeProjectRoleIn, principal: CurrentPrincipal
) -> Response[Data[ProjectMemberOut]]:
    return one(ProjectMemberOut.of(projects.change_member_role(principal, project_id, user_id, body.role)))


@router.delete(
    "/v1/projects/<project_id>/members/<user_id>",
    tags=["projects"],
    summary="Remove a project member",
    **documented(204, None),
)
def remove_member(project_id: str, user_id: str, principal: CurrentPrincipal) -> Response[None]:
    projects.remove_member(principal, project_id, user_id)
    return no_content()
