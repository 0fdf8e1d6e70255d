"""Apps and deployments. Deploying records who deployed which version when; rollback deploys the version
of the deployment before the current one.

Every App has a webhook signing secret (``switchboard.runtime.webhooks.signing``) in Secrets Manager,
created with the App and shown once in the creation response; rotating it writes a new version and shows
that one once. This function can write the secret but never read it back; the App item records the current
version so the credentials function (the only reader) serves the new secret from the very next delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from switchboard import egress
from switchboard.auth.access import require_project
from switchboard.auth.principal import Principal
from switchboard.domain.errors import Conflict, NotFound, ValidationFailed, problem
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.models import App, AppAccess, Deployment, ProjectRole, RunLimits
from switchboard.runtime.building import workflows as workflow_cases
from switchboard.runtime.identity.app_access import builder_app
from switchboard.runtime.triggers import managing as triggers
from switchboard.runtime.webhooks.signing import new_signing_secret
from switchboard.store import apps, deliveries, secrets, workflows
from switchboard.store.deliveries import SIGNING_SECRET_FIELD, signing_secret_name


@dataclass(frozen=True)
class NewApp:
    """An App just created, with its signing secret: the only time the secret leaves Secrets Manager."""

    app: App
    signing_secret: str = field(repr=False)


@dataclass(frozen=True)
class RotatedSigningSecret:
    app_id: str
    signing_secret: str = field(repr=False)
    rotated_at: datetime


def load(principal: Principal, app_id: str, minimum: ProjectRole) -> App:
    return builder_app(principal, app_id, minimum)


MAX_RETURN_URLS = 10


def _checked_urls(event_url: str | None, connect_return_urls: Sequence[str] | None) -> None:
    """422 naming each URL that may not receive events or end users (https; http loopback only locally):
    the event URL by the egress guard's whole rule (a name that does not resolve yet passes), the return
    URLs, which browsers follow, by their form."""
    policy = egress.current_policy()
    named: list[tuple[list[str | int], str]] = []
    if event_url:
        named.append((["event_url"], event_url))
    if connect_return_urls is not None:
        named += [(["connect_return_urls", i], url) for i, url in enumerate(connect_return_urls)]
    problems: list[dict[str, object]] = []
    if connect_return_urls is not None and len(connect_return_urls) > MAX_RETURN_URLS:
        problems.append(problem(["connect_return_urls"], "too_many", f"at most {MAX_RETURN_URLS} URLs"))
    for loc, url in named:
        try:
            if loc == ["event_url"]:
                egress.check_saved_url(url, policy, https_only=True)
            else:
                egress.check_url_form(url, policy, https_only=True)
        except egress.EgressRefused as rejected:
            problems.append(problem(loc, rejected.code, rejected.message))
    if problems:
        raise ValidationFailed("invalid URLs", details=problems)


def create_app(
    principal: Principal,
    project_id: str,
    name: str,
    workflow_id: str,
    access: AppAccess,
    event_url: str | None = None,
    connect_return_urls: Sequence[str] = (),
    limits: RunLimits | None = None,
) -> NewApp:
    """A new App (editor) with its signing secret. ``event_url`` receives its link events;
    ``connect_return_urls`` are where its hosted connect page may send end users back (at most 10);
    ``limits`` bound its runs (the defaults when not given)."""
    project = require_project(principal, project_id, ProjectRole.editor)
    _checked_urls(event_url, connect_return_urls)
    workflow = workflows.get_workflow(workflow_id)
    if workflow is None or workflow.project_id != project.id:
        raise ValidationFailed(
            "the workflow does not exist in this project",
            details=[problem(["workflow_id"], "unknown_workflow", "no such workflow in the project")],
        )
    now = utcnow()
    app = App(
        id=new_id("app"),
        org_id=project.org_id,
        project_id=project.id,
        workflow_id=workflow.id,
        name=name,
        access=access,
        event_url=event_url or None,
        connect_return_urls=list(dict.fromkeys(connect_return_urls)),
        **(limits or RunLimits()).model_dump(exclude_none=True),
        created_at=now,
        created_by=principal.actor,
        updated_at=now,
        updated_by=principal.actor,
    )
    secret = new_signing_secret()
    secret_name = signing_secret_name(app.id)
    version = secrets.create_secret(secret_name, {SIGNING_SECRET_FIELD: secret}, _secret_tags(app))
    try:
        apps.create_app(app)
    except Exception:
        secrets.delete_secret(secret_name)
        raise
    deliveries.record_signing_secret(app.id, version, now, principal.actor, rotated=False)
    return NewApp(app, secret)


def _secret_tags(app: App) -> dict[str, str]:
    return {
        "switchboard:project": app.project_id,
        "switchboard:app": app.id,
        "switchboard:purpose": "signing",
    }


def rotate_signing_secret(principal: Principal, app_id: str) -> RotatedSigningSecret:
    """A new current version of the App's signing secret (editor); deliveries sign with it from now on."""
    app = load(principal, app_id, ProjectRole.editor)
    secret = new_signing_secret()
    ref = deliveries.signing_key(app.id)
    if ref is None:
        raise NotFound("App not found")
    values = {SIGNING_SECRET_FIELD: secret}
    if ref.secret_version is not None or deliveries.signing_secret_exists(ref.secret_name):
        version = secrets.put_secret(ref.secret_name, values)
    else:
        # An App created before signing secrets existed gets its first one.
        version = secrets.create_secret(ref.secret_name, values, _secret_tags(app))
    now = utcnow()
    deliveries.record_signing_secret(app.id, version, now, principal.actor, rotated=True)
    return RotatedSigningSecret(app.id, secret, now)


def get_app(principal: Principal, app_id: str) -> App:
    return load(principal, app_id, ProjectRole.viewer)


def list_apps(
    principal: Principal, project_id: str, limit: int, next_token: str | None
) -> tuple[list[App], str | None]:
    require_project(principal, project_id, ProjectRole.viewer)
    return apps.list_apps(project_id, limit, next_token)


def update_app(
    principal: Principal,
    app_id: str,
    name: str | None,
    access: AppAccess | None,
    event_url: str | None = None,
    connect_return_urls: Sequence[str] | None = None,
    limits: RunLimits | None = None,
) -> App:
    """Change what is given (None: unchanged). An empty ``event_url`` removes it; an empty list empties
    ``connect_return_urls``."""
    app = load(principal, app_id, ProjectRole.editor)
    changes_limits = limits is not None and limits.model_dump(exclude_none=True)
    if (
        name is None
        and access is None
        and event_url is None
        and connect_return_urls is None
        and not changes_limits
    ):
        return app
    _checked_urls(event_url, connect_return_urls)
    return apps.update_app(
        app,
        name,
        access,
        principal.actor,
        utcnow(),
        event_url=event_url,
        connect_return_urls=list(dict.fromkeys(connect_return_urls))
        if connect_return_urls is not None
        else None,
        limits=limits,
    )


def delete_app(principal: Principal, app_id: str) -> None:
    """Delete an App (editor). Its triggers go first, so no schedule outlives it, whatever fails after."""
    app = load(principal, app_id, ProjectRole.editor)
    triggers.remove_app_triggers(app)
    apps.delete_app(app)
    secrets.delete_secret(signing_secret_name(app.id))


def _deploy(principal: Principal, app: App, version: int, kind: str) -> tuple[App, Deployment]:
    workflow_cases.get_version(principal, app.workflow_id, version)
    deployment = Deployment(
        id=new_id("deployment"),
        app_id=app.id,
        sequence=app.deployment_count + 1,
        workflow_id=app.workflow_id,
        version=version,
        kind="rollback" if kind == "rollback" else "deploy",
        deployed_at=utcnow(),
        deployed_by=principal.actor,
    )
    return apps.record_deployment(app, deployment), deployment


def deploy(principal: Principal, app_id: str, version: int) -> tuple[App, Deployment]:
    app = load(principal, app_id, ProjectRole.editor)
    try:
        return _deploy(principal, app, version, "deploy")
    except NotFound:
        raise ValidationFailed(
            f"workflow version {version} does not exist",
            details=[problem(["version"], "unknown_version", "no such version of the workflow")],
        ) from None


def rollback(principal: Principal, app_id: str) -> tuple[App, Deployment]:
    app = load(principal, app_id, ProjectRole.editor)
    if app.deployment is None or app.deployment.sequence < 2:
        raise Conflict("there is no previous deployment to roll back to", code="nothing_to_roll_back")
    previous = apps.get_deployment(app.id, app.deployment.sequence - 1)
    if previous is None:
        raise Conflict("the previous deployment record is missing", code="nothing_to_roll_back")
    return _deploy(principal, app, previous.version, "rollback")


@dataclass(frozen=True)
class DeploymentHistory:
    """A page of an App's deployments, newest first, and which of them is the App's current one."""

    deployments: list[Deployment]
    next_token: str | None
    current_id: str | None


def list_deployments(
    principal: Principal, app_id: str, limit: int, next_token: str | None
) -> DeploymentHistory:
    app = load(principal, app_id, ProjectRole.viewer)
    found, cursor = apps.list_deployments(app_id, limit, next_token)
    return DeploymentHistory(found, cursor, app.deployment.id if app.deployment else None)
