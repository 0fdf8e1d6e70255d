"""Connections: non-secret config on the record, secret fields in one Secrets Manager secret each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from switchboard.auth.access import require_project
from switchboard.auth.principal import Principal
from switchboard.domain.connection_types import ConnectionConfig, OAuth2Config, parse_config
from switchboard.domain.errors import Conflict, NotFound, ValidationFailed, problem
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.models import Connection, ProjectRole
from switchboard.egress import current_policy
from switchboard.store import apps, connections, secrets, workflows

if TYPE_CHECKING:
    from switchboard.runtime.links.oauth_flow import ConnectionAuthorizationStart


def _load(principal: Principal, connection_id: str, minimum: ProjectRole) -> Connection:
    connection = connections.get_connection(connection_id)
    if connection is None:
        raise NotFound("connection not found")
    try:
        require_project(principal, connection.project_id, minimum)
    except NotFound:
        raise NotFound("connection not found") from None
    return connection


def _check_app(project_id: str, config: ConnectionConfig) -> None:
    """An ``oauth2`` connection names an ``oauth2_app`` connection of its own project."""
    if not isinstance(config, OAuth2Config):
        return
    app = connections.get_connection(config.app_connection_id)
    loc = ["config", "app_connection_id"]
    if app is None or app.project_id != project_id:
        details = [problem(loc, "connection_not_in_project", "no such connection in this project")]
        raise ValidationFailed("invalid connection config", details=details)
    if app.type != "oauth2_app":
        message = f"the connection is of type '{app.type}', not 'oauth2_app'"
        raise ValidationFailed(
            "invalid connection config", details=[problem(loc, "not_an_oauth2_app", message)]
        )


def create_connection(
    principal: Principal, project_id: str, name: str, connection_type: str, raw_config: Any
) -> Connection:
    project = require_project(principal, project_id, ProjectRole.editor)
    config = parse_config(connection_type, raw_config)
    config.check_destinations(current_policy())
    _check_app(project.id, config)
    now = utcnow()
    connection_id = new_id("connection")
    secret_name = secrets.connection_secret_name(project.id, connection_id)
    secret_version = secrets.create_secret(
        secret_name,
        config.secret_part(),
        {"switchboard:project": project.id, "switchboard:connection": connection_id},
    )
    connection = Connection(
        id=connection_id,
        org_id=project.org_id,
        project_id=project.id,
        name=name,
        type=connection_type,
        config=config.public_part(),
        secret_fields=config.secret_field_names(),
        secret_name=secret_name,
        secret_version=secret_version,
        created_at=now,
        created_by=principal.actor,
        updated_at=now,
        updated_by=principal.actor,
    )
    try:
        connections.create_connection(connection)
    except Exception:
        secrets.delete_secret(secret_name)
        raise
    return connection


def get_connection(principal: Principal, connection_id: str) -> Connection:
    return _load(principal, connection_id, ProjectRole.viewer)


def list_connections(
    principal: Principal, project_id: str, limit: int, next_token: str | None
) -> tuple[list[Connection], str | None]:
    require_project(principal, project_id, ProjectRole.viewer)
    return connections.list_connections(project_id, limit, next_token)


def update_connection(
    principal: Principal, connection_id: str, name: str | None, raw_config: Any
) -> Connection:
    """Rename and/or replace the config. A new config keeps the ID and writes a new secret version."""
    connection = _load(principal, connection_id, ProjectRole.editor)
    changes: dict[str, Any] = {
        "updated_at": utcnow(),
        "updated_by": principal.actor,
        "version": connection.version + 1,
    }
    if name is not None:
        changes["name"] = name
    if raw_config is not None:
        config = parse_config(connection.type, raw_config)
        config.check_destinations(current_policy())
        _check_app(connection.project_id, config)
        assert connection.secret_name is not None
        changes["secret_version"] = secrets.put_secret(connection.secret_name, config.secret_part())
        changes["config"] = config.public_part()
        changes["secret_fields"] = config.secret_field_names()
        if connection.authorization is not None:
            # The new secret version holds no tokens: authorize again (the upstream account stays pinned).
            changes["authorization"] = connection.authorization.model_copy(
                update={
                    "authorized_at": None,
                    "last_event": f"config replaced by {principal.actor}: tokens forgotten",
                    "last_event_at": changes["updated_at"],
                }
            )
    updated = connection.model_copy(update=changes)
    connections.replace_connection(updated, connection.version)
    return updated


def authorize_connection(
    principal: Principal, connection_id: str, allow_identity_change: bool
) -> ConnectionAuthorizationStart:
    """Where a project editor authorizes an ``oauth2`` connection at its provider (a shared account, once):
    409 ``not_an_oauth2_connection`` for a connection of another type."""
    from switchboard.runtime.links.oauth_flow import start_connection_authorization

    connection = _load(principal, connection_id, ProjectRole.editor)
    if connection.type != "oauth2":
        raise Conflict(
            f"only an oauth2 connection is authorized at a provider, not a '{connection.type}' one",
            code="not_an_oauth2_connection",
            details={"type": connection.type},
        )
    return start_connection_authorization(connection, principal.actor, allow_identity_change)


def apps_deploying(connection: Connection) -> list[str]:
    """IDs of the Apps whose deployed version references this connection."""
    deployed = {
        a.id: (a.workflow_id, a.deployment.version)
        for a in apps.all_apps(connection.project_id)
        if a.deployment
    }
    used = {
        (v.workflow_id, v.number): v.connection_ids
        for v in workflows.get_versions(list(set(deployed.values())))
    }
    return sorted(app_id for app_id, ref in deployed.items() if connection.id in used.get(ref, []))


def oauth2_connections_of(app: Connection) -> list[str]:
    """IDs of the project's ``oauth2`` connections that authorize through this ``oauth2_app``."""
    if app.type != "oauth2_app":
        return []
    return sorted(
        c.id
        for c in connections.all_connections(app.project_id)
        if c.type == "oauth2" and c.config.get("app_connection_id") == app.id
    )


def delete_connection(principal: Principal, connection_id: str) -> None:
    connection = _load(principal, connection_id, ProjectRole.editor)
    users = apps_deploying(connection)
    if users:
        raise Conflict(
            "the connection is used by a deployed App version",
            code="connection_in_use",
            details={"app_ids": users},
        )
    dependents = oauth2_connections_of(connection)
    if dependents:
        raise Conflict(
            "oauth2 connections authorize through this OAuth app",
            code="connection_in_use",
            details={"connection_ids": dependents},
        )
    connections.delete_connection(connection)
    if connection.secret_name:
        secrets.delete_secret(connection.secret_name)
