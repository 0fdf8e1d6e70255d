"""Workflows and their immutable, numbered versions."""

from __future__ import annotations

from switchboard.domain.ids import iso
from switchboard.domain.models import Workflow, WorkflowVersion
from switchboard.store import keys
from switchboard.store.control import control, from_item, to_item
from switchboard.store.table import Item, check_op, delete_op, put_op, update_op

NOT_EXISTS = "attribute_not_exists(pk)"


def _version_item(version: WorkflowVersion) -> Item:
    return to_item(version, keys.workflow_version(version.workflow_id, version.number))


def create_workflow(workflow: Workflow, first: WorkflowVersion) -> None:
    table = control().name
    index = keys.listing_index(keys.project_workflows(workflow.project_id), workflow.created_at, workflow.id)
    control().transact(
        [
            put_op(table, to_item(workflow, keys.workflow(workflow.id), index), NOT_EXISTS),
            put_op(table, _version_item(first), "attribute_not_exists(sk)"),
            check_op(table, keys.project(workflow.project_id), "attribute_exists(pk)"),
        ],
        "the workflow already exists",
    )


def save_version(workflow: Workflow, version: WorkflowVersion) -> None:
    """Append version n; the condition on latest_version makes concurrent saves take turns."""
    table = control().name
    values: Item = {
        ":n": version.number,
        ":previous": version.number - 1,
        ":at": iso(version.created_at),
        ":by": version.created_by,
    }
    description = ""
    if version.description:
        description = ", description = :description"
        values[":description"] = version.description
    control().transact(
        [
            update_op(
                table,
                keys.workflow(workflow.id),
                f"SET latest_version = :n, updated_at = :at, updated_by = :by{description}",
                "attribute_exists(pk) AND latest_version = :previous",
                values,
            ),
            put_op(table, _version_item(version), "attribute_not_exists(sk)"),
        ],
        "another version was saved concurrently; reload and retry",
        "version_conflict",
    )


def get_workflow(workflow_id: str) -> Workflow | None:
    item = control().get(keys.workflow(workflow_id))
    return from_item(Workflow, item) if item else None


def list_workflows(project_id: str, limit: int, next_token: str | None) -> tuple[list[Workflow], str | None]:
    page = control().query(
        keys.project_workflows(project_id), index=keys.GSI1, limit=limit, next_token=next_token
    )
    return [from_item(Workflow, i) for i in page.items], page.next_token


def all_workflow_ids(project_id: str) -> list[str]:
    return [i["id"] for i in control().query_all(keys.project_workflows(project_id), index=keys.GSI1)]


def get_version(workflow_id: str, number: int) -> WorkflowVersion | None:
    item = control().get(keys.workflow_version(workflow_id, number))
    return from_item(WorkflowVersion, item) if item else None


def get_versions(refs: list[tuple[str, int]]) -> list[WorkflowVersion]:
    items = control().batch_get([keys.workflow_version(w, n) for w, n in refs])
    return [from_item(WorkflowVersion, i) for i in items]


def list_versions(
    workflow_id: str, limit: int, next_token: str | None
) -> tuple[list[WorkflowVersion], str | None]:
    partition, prefix = keys.workflow_versions_prefix(workflow_id)
    page = control().query(partition, prefix=prefix, limit=limit, next_token=next_token, newest_first=True)
    return [from_item(WorkflowVersion, i) for i in page.items], page.next_token


def delete_workflow(workflow: Workflow) -> None:
    """Delete the workflow record (refused while Apps use it), then its versions."""
    control().write(
        delete_op(
            control().name,
            keys.workflow(workflow.id),
            "attribute_exists(pk) AND app_count = :zero",
            {":zero": 0},
        ),
        "the workflow is used by an App; delete the App first",
    )
    partition, prefix = keys.workflow_versions_prefix(workflow.id)
    for item in control().query_all(partition, prefix=prefix):
        control().write(delete_op(control().name, {"pk": item["pk"], "sk": item["sk"]}))
