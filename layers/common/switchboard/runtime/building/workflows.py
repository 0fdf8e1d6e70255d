"""Workflows: every save validates the definition and appends an immutable version."""

from __future__ import annotations

from typing import Any

from switchboard.auth.access import require_project
from switchboard.auth.principal import Principal
from switchboard.domain.errors import NotFound
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.models import ProjectRole, Workflow, WorkflowVersion
from switchboard.egress import current_policy
from switchboard.store import connections, workflows


def _validated_version(
    project_id: str, workflow_id: str, number: int, definition: Any, description: str, actor: str
) -> WorkflowVersion:
    from switchboard.engine.owned_headers import connection_header_names
    from switchboard.engine.validation import validate_definition  # only saving a definition needs the engine

    project = connections.all_connections(project_id)
    validated = validate_definition(
        definition,
        project_connections={c.id: c.type for c in project},
        connection_headers={c.id: connection_header_names(c.type, c.config) for c in project},
        egress=current_policy(),
    )
    return WorkflowVersion(
        workflow_id=workflow_id,
        number=number,
        description=description,
        definition=validated.definition.model_dump(mode="json", exclude_none=True),
        connection_ids=validated.connection_ids,
        requirement_ids=validated.requirement_ids,
        created_at=utcnow(),
        created_by=actor,
    )


def load(principal: Principal, workflow_id: str, minimum: ProjectRole) -> Workflow:
    workflow = workflows.get_workflow(workflow_id)
    if workflow is None:
        raise NotFound("workflow not found")
    try:
        require_project(principal, workflow.project_id, minimum)
    except NotFound:
        raise NotFound("workflow not found") from None
    return workflow


def create_workflow(
    principal: Principal, project_id: str, name: str, description: str, definition: Any
) -> tuple[Workflow, WorkflowVersion]:
    project = require_project(principal, project_id, ProjectRole.editor)
    workflow_id = new_id("workflow")
    first = _validated_version(project.id, workflow_id, 1, definition, description, principal.actor)
    workflow = Workflow(
        id=workflow_id,
        org_id=project.org_id,
        project_id=project.id,
        name=name,
        description=description,
        latest_version=1,
        created_at=first.created_at,
        created_by=principal.actor,
        updated_at=first.created_at,
        updated_by=principal.actor,
    )
    workflows.create_workflow(workflow, first)
    return workflow, first


def save_version(
    principal: Principal, workflow_id: str, definition: Any, description: str | None
) -> tuple[Workflow, WorkflowVersion]:
    workflow = load(principal, workflow_id, ProjectRole.editor)
    number = workflow.latest_version + 1
    version = _validated_version(
        workflow.project_id, workflow.id, number, definition, description or "", principal.actor
    )
    workflows.save_version(workflow, version)
    updated = workflow.model_copy(
        update={
            "latest_version": number,
            "updated_at": version.created_at,
            "updated_by": principal.actor,
            "description": description if description else workflow.description,
        }
    )
    return updated, version


def get_workflow(principal: Principal, workflow_id: str) -> Workflow:
    return load(principal, workflow_id, ProjectRole.viewer)


def list_workflows(
    principal: Principal, project_id: str, limit: int, next_token: str | None
) -> tuple[list[Workflow], str | None]:
    require_project(principal, project_id, ProjectRole.viewer)
    return workflows.list_workflows(project_id, limit, next_token)


def get_version(principal: Principal, workflow_id: str, number: int) -> WorkflowVersion:
    load(principal, workflow_id, ProjectRole.viewer)
    version = workflows.get_version(workflow_id, number)
    if version is None:
        raise NotFound("workflow version not found")
    return version


def list_versions(
    principal: Principal, workflow_id: str, limit: int, next_token: str | None
) -> tuple[list[WorkflowVersion], str | None]:
    load(principal, workflow_id, ProjectRole.viewer)
    return workflows.list_versions(workflow_id, limit, next_token)


def delete_workflow(principal: Principal, workflow_id: str) -> None:
    workflows.delete_workflow(load(principal, workflow_id, ProjectRole.editor))
