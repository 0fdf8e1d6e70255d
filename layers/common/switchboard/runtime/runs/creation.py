"""Creating runs: a run is a record first, pinned to the version deployed when it was created."""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

from switchboard.domain.errors import Conflict, NotFound
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.models import App
from switchboard.domain.runs import Run
from switchboard.runtime.versions import version_definition
from switchboard.settings import get_settings
from switchboard.store import apps, runs


def new_run(
    app: App,
    run_input: dict[str, Any],
    *,
    created_by: str,
    user_id: str | None = None,
    session_id: str | None = None,
    mode: Literal["sync", "background"] = "sync",
) -> Run:
    if app.deployment is None:
        raise Conflict("the App has no deployment", code="app_not_deployed")
    version, _ = version_definition(app.workflow_id, app.deployment.version)
    now = utcnow()
    expires = now + timedelta(days=get_settings().run_retention_days)
    return Run(
        id=new_id("run"),
        app_id=app.id,
        org_id=app.org_id,
        project_id=app.project_id,
        workflow_id=app.workflow_id,
        version=version.number,
        requirement_ids=version.requirement_ids,
        mode=mode,
        input=run_input,
        user_id=user_id,
        session_id=session_id,
        created_at=now,
        created_by=created_by,
        expires_at=int(expires.timestamp()),
    )


def create_run(app_id: str, run_input: dict[str, Any], **options: Any) -> Run:
    app = apps.get_app(app_id)
    if app is None:
        raise NotFound("App not found")
    run = new_run(app, run_input, **options)
    runs.create_run(run)
    return run
