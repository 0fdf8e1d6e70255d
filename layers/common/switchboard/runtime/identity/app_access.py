"""Which App a request addresses (host or path form) and whether the caller may call it; which Apps a
builder may see or change."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from switchboard.auth.access import require_project
from switchboard.auth.principal import Principal
from switchboard.domain.errors import Forbidden, NotFound, Unauthorized
from switchboard.domain.models import App, AppAccess, ProjectRole
from switchboard.settings import get_settings
from switchboard.store import apps


def addressed_app_id(path_parameters: Mapping[str, str] | None, host: str | None) -> str | None:
    """``/apps/{app_id}/…`` wins; otherwise ``<app_id>.<AppsDomain>`` from the Host header."""
    if path_parameters and path_parameters.get("app_id"):
        return path_parameters["app_id"]
    domain = get_settings().apps_domain.split(":")[0].lower()
    hostname = (host or "").split(":")[0].lower()
    if domain and hostname.endswith(f".{domain}"):
        label = hostname[: -len(domain) - 1]
        return label if label and "." not in label else None
    return None


def callable_app(app_id: str | None, principal: Principal | None) -> App:
    """Load the App and check the caller: private Apps need an access key of the App's organization,
    org-wide or scoped to the App's project."""
    app = apps.get_app(app_id) if app_id else None
    if app is None:
        raise NotFound("App not found")
    if app.access is AppAccess.public and principal is None:
        return app
    if principal is None:
        raise Unauthorized("this App needs an access key", code="missing_token")
    if principal.org_id != app.org_id:
        raise NotFound("App not found")
    if principal.project_id is not None and principal.project_id != app.project_id:
        raise Forbidden("the access key is scoped to another project", code="wrong_project")
    return app


def granted_app(app_id: str) -> App:
    """The App a connect token was checked against (404 once it is deleted): the token, not an access key,
    is the caller's credential there."""
    app = apps.get_app(app_id)
    if app is None:
        raise NotFound("App not found")
    return app


def builder_app(principal: Principal, app_id: str, minimum: ProjectRole) -> App:
    """The App, when the builder holds at least ``minimum`` in its project (404 otherwise, as if absent)."""
    app = apps.get_app(app_id)
    if app is None:
        raise NotFound("App not found")
    try:
        require_project(principal, app.project_id, minimum)
    except NotFound:
        raise NotFound("App not found") from None
    return app


def describe(app: App) -> dict[str, Any]:
    return {
        "id": app.id,
        "name": app.name,
        "access": app.access.value,
        "deployed_version": app.deployment.version if app.deployment else None,
    }
