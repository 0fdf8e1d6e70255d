"""Workflows and their immutable versions."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import Field

from management_routes.models import VersionOut, WorkflowOut, WorkflowWithVersionOut
from switchboard.api.envelopes import Data, Page, RequestModel, documented
from switchboard.api.guards import CurrentPrincipal, Limit, NextToken
from switchboard.api.responses import no_content, one, page
from switchboard.runtime.building import workflows

router = APIGatewayHttpRouter()


class CreateWorkflowIn(RequestModel):
    project_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    definition: dict[str, Any] = Field(description="See docs/workflow-definition.md")


class SaveVersionIn(RequestModel):
    definition: dict[str, Any]
    description: str | None = Field(default=None, max_length=2000)


@router.post(
    "/v1/workflows",
    tags=["workflows"],
    summary="Create a workflow with its version 1 (editor)",
    **documented(201, Data, WorkflowWithVersionOut),
)
def create_workflow(
    body: CreateWorkflowIn, principal: CurrentPrincipal
) -> Response[Data[WorkflowWithVersionOut]]:
    workflow, version = workflows.create_workflow(
        principal, body.project_id, body.name, body.description, body.definition
    )
    return one(
        WorkflowWithVersionOut(**WorkflowOut.of(workflow).model_dump(), version=VersionOut.of(version)), 201
    )


@router.get(
    "/v1/workflows",
    tags=["workflows"],
    summary="Workflows of a project",
    **documented(200, Page, WorkflowOut),
)
def list_workflows(
    principal: CurrentPrincipal,
    project_id: Annotated[str, Query(min_length=1, max_length=64)],
    limit: Limit = 50,
    next_token: NextToken = None,
) -> Page[WorkflowOut]:
    items, cursor = workflows.list_workflows(principal, project_id, limit, next_token)
    return page([WorkflowOut.of(w) for w in items], cursor)


@router.get(
    "/v1/workflows/<workflow_id>",
    tags=["workflows"],
    summary="One workflow",
    **documented(200, Data, WorkflowOut),
)
def get_workflow(workflow_id: str, principal: CurrentPrincipal) -> Response[Data[WorkflowOut]]:
    return one(WorkflowOut.of(workflows.get_workflow(principal, workflow_id)))


@router.put(
    "/v1/workflows/<workflow_id>",
    tags=["workflows"],
    summary="Save a new immutable version (editor)",
    **documented(201, Data, WorkflowWithVersionOut),
)
def save_version(
    workflow_id: str, body: SaveVersionIn, principal: CurrentPrincipal
) -> Response[Data[WorkflowWithVersionOut]]:
    workflow, version = workflows.save_version(principal, workflow_id, body.definition, body.description)
    return one(
        WorkflowWithVersionOut(**WorkflowOut.of(workflow).model_dump(), version=VersionOut.of(version)), 201
    )


@router.delete(
    "/v1/workflows/<workflow_id>",
    tags=["workflows"],
    summary="Delete a workflow no App uses",
    **documented(204, None),
)
def delete_workflow(workflow_id: str, principal: CurrentPrincipal) -> Response[None]:
    workflows.delete_workflow(principal, workflow_id)
    return no_content()


@router.get(
    "/v1/workflows/<workflow_id>/versions",
    tags=["workflows"],
    summary="Versions, newest first",
    **documented(200, Page, VersionOut),
)
def list_versions(
    workflow_id: str, principal: CurrentPrincipal, limit: Limit = 50, next_token: NextToken = None
) -> Page[VersionOut]:
    items, cursor = workflows.list_versions(principal, workflow_id, limit, next_token)
    return page([VersionOut.of(v) for v in items], cursor)


@router.get(
    "/v1/workflows/<workflow_id>/versions/<number>",
    tags=["workflows"],
    summary="One version",
    **documented(200, Data, VersionOut),
)
def get_version(
    workflow_id: str, number: Annotated[int, Path(ge=1, le=10**9)], principal: CurrentPrincipal
) -> Response[Data[VersionOut]]:
    return one(VersionOut.of(workflows.get_version(principal, workflow_id, number)))
