"""Removing what a deleted project held: members, connections with their secrets, workflows with versions."""

from __future__ import annotations

from switchboard.domain.models import Project
from switchboard.store import connections, projects, secrets, workflows
from switchboard.store.control import control
from switchboard.store.table import delete_op


def project_contents(project: Project) -> None:
    table = control()
    for key in projects.all_member_keys(project.id):
        table.write(delete_op(table.name, key))
    for connection in connections.all_connections(project.id):
        connections.delete_connection(connection)
        if connection.secret_name:
            secrets.delete_secret(connection.secret_name)
    for workflow_id in workflows.all_workflow_ids(project.id):
        workflow = workflows.get_workflow(workflow_id)
        if workflow is not None:
            workflows.delete_workflow(workflow)
