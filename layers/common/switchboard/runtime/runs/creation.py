"""Creating runs: the one way a run comes to be, for every entry point (direct invoke, the runs API, sessions,
triggers). A run is a record first (``created``), pinned to the version deployed when it was created and to
the App's ``run_timeout_seconds`` (its deadline counts from its creation).

The input is checked against the input node of the version that will run (422 naming each field), files are
stored before the run exists, the end user's links are checked (the pre-flight), and a run naming a session
joins it in the same write that creates it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from switchboard.auth.principal import Principal
from switchboard.domain.errors import Conflict, PayloadTooLarge, ServiceUnavailable, Unauthorized
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.models import App
from switchboard.domain.runs import Run, RunSource
from switchboard.runtime.building.versions import version_definition
from switchboard.runtime.links.requirements import check_requirements
from switchboard.runtime.runs import sessions, uploads
from switchboard.runtime.runs.inputs import (
    check_file_references,
    check_input,
    coerce_form_fields,
    place_files,
)
from switchboard.runtime.runs.uploads import FileReference, UploadedFile
from switchboard.settings import get_settings

ANONYMOUS = "anonymous"
"""Who created a run of a public App called without a key, for its record."""
MAX_INPUT_BYTES = 100_000
"""A run record holds its input, output and per-node results within DynamoDB's 400 KB item size."""


@dataclass(frozen=True)
class RunRequest:
    input: dict[str, Any]
    user_id: str | None = None
    session_id: str | None = None
    callbacks: list[dict[str, Any]] | None = None
    uploads: Sequence[UploadedFile] = ()
    files: Sequence[FileReference] = ()
    """References to files already stored for this App (``files`` of a direct invoke)."""
    form_input: bool = False
    """The input came as multipart form fields: text values are converted to the declared field types."""
    mode: Literal["sync", "background"] = field(default="sync")
    source: RunSource = RunSource.direct
    run_token_hash: str | None = None
    """An anonymous caller's run: the hash of the run token its creator is shown (``ownership``); without
    one, only an access key reaches the run."""


def create(app: App, request: RunRequest, principal: Principal | None) -> Run:
    """Check the request against the deployed version and the user's requirements (the pre-flight), store
    its files and create the run (``created``); ``principal`` None is an anonymous caller of a public App."""
    if principal is None and request.user_id is not None:
        raise Unauthorized("acting for a user_id needs an access key", code="missing_token")
    run = _new_run(
        app,
        request.input,
        created_by=principal.actor if principal is not None else ANONYMOUS,
        user_id=request.user_id,
        session_id=request.session_id,
        mode=request.mode,
        source=request.source,
    )
    _, definition = version_definition(app.workflow_id, run.version)
    input_node = definition.input_node()
    given = coerce_form_fields(input_node, request.input) if request.form_input else dict(request.input)
    bucket = get_settings().files_bucket
    check_file_references(request.files, app.id, bucket)
    stored = [
        (uploads.reference(bucket, app.id, run.id, index, upload), upload)
        for index, upload in enumerate(request.uploads, start=1)
    ]
    run_input = place_files(input_node, given, stored, request.files)
    check_input(input_node, run_input, app.id, bucket)
    check_requirements(app, definition, request.user_id, principal)
    if stored and not bucket:
        raise ServiceUnavailable("file uploads are not configured")
    for reference, upload in stored:
        uploads.store(reference, upload.content)
    if len(json.dumps(run_input, default=str).encode()) > MAX_INPUT_BYTES:
        raise PayloadTooLarge(f"the run input may hold at most {MAX_INPUT_BYTES} bytes as JSON; send files")
    run = run.model_copy(
        update={"input": run_input, "callbacks": request.callbacks, "run_token_hash": request.run_token_hash}
    )
    sessions.create_run(run)
    return run


def _new_run(
    app: App,
    run_input: dict[str, Any],
    *,
    created_by: str,
    user_id: str | None = None,
    session_id: str | None = None,
    mode: Literal["sync", "background"] = "sync",
    source: RunSource = RunSource.direct,
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
        source=source,
        input=run_input,
        user_id=user_id,
        session_id=session_id,
        created_at=now,
        created_by=created_by,
        timeout_seconds=app.run_timeout_seconds,
        deadline_at=now + timedelta(seconds=app.run_timeout_seconds),
        expires_at=int(expires.timestamp()),
    )
