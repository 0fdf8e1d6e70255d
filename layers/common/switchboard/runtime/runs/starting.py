"""Creating a run from an API request and starting it: synchronously through the executor function, or in
the background through the run queue.

The input is checked against the input node of the version that will run (422 naming each field), files
are stored before the run exists, and a run naming a session joins it in the same write that creates it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from switchboard import aws
from switchboard.auth.principal import Principal
from switchboard.domain.errors import (
    Conflict,
    NotFound,
    PayloadTooLarge,
    RequirementNotSatisfied,
    ServiceUnavailable,
    SwitchboardError,
    Unauthorized,
)
from switchboard.domain.ids import utcnow
from switchboard.domain.models import App
from switchboard.domain.runs import TERMINAL, Run, RunStatus
from switchboard.invoker import get_invoker
from switchboard.observability import logger
from switchboard.runtime import sessions, uploads
from switchboard.runtime.requirements import check_requirements
from switchboard.runtime.run_input import (
    check_file_references,
    check_input,
    coerce_form_fields,
    place_files,
)
from switchboard.runtime.runs.creation import new_run
from switchboard.runtime.uploads import FileReference, UploadedFile
from switchboard.runtime.versions import version_definition
from switchboard.settings import get_settings
from switchboard.store import runs

StartMode = Literal["sync", "background", "stream"]
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


def create(app: App, request: RunRequest, principal: Principal | None) -> Run:
    """Check the request against the deployed version and the user's requirements (the pre-flight), store
    its files and create the run (``created``); ``principal`` None is an anonymous caller of a public App."""
    if principal is None and request.user_id is not None:
        raise Unauthorized("acting for a user_id needs an access key", code="missing_token")
    run = new_run(
        app,
        request.input,
        created_by=principal.actor if principal is not None else ANONYMOUS,
        user_id=request.user_id,
        session_id=request.session_id,
        mode=request.mode,
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
    run = run.model_copy(update={"input": run_input, "callbacks": request.callbacks})
    sessions.create_run(run)
    return run


def start(app: App, request: RunRequest, principal: Principal | None, how: StartMode) -> Run:
    """Create the run and start it: ``sync`` answers with the finished run, ``background`` queues it,
    ``stream`` leaves it to the stream (which calls ``execute_now`` once it follows the run's events)."""
    mode: Literal["sync", "background"] = "background" if how == "background" else "sync"
    run = create(app, replace(request, mode=mode), principal)
    if how == "background":
        enqueue(run)
        return run
    if how == "sync":
        return execute_now(run.id)
    return run


def execute_now(run_id: str) -> Run:
    """Run it through the executor function and answer with the finished run it returns; with the stored run
    when that call failed or did not finish the run (another invocation has it)."""
    reply: Any = None
    try:
        reply = get_invoker().invoke(
            _configured(get_settings().executor_function, "executor"), {"run_id": run_id}
        )
    except ServiceUnavailable:
        raise
    except Exception:
        # The run record stays the truth: a client polling it sees where the run got to.
        logger.exception("the executor function failed", extra={"run_id": run_id})
    finished = _finished_run(run_id, reply)
    if finished is not None:
        return finished
    current = runs.get_run(run_id)
    if current is None:
        raise NotFound("run not found")
    return current


def _finished_run(run_id: str, reply: Any) -> Run | None:
    """The finished run the executor answered with (``{"run_id", "status", "run"}``); None without one."""
    document = reply.get("run") if isinstance(reply, dict) else None
    if not isinstance(document, dict):
        return None
    try:
        run = Run.model_validate(document)
    except ValidationError:
        logger.warning("the executor answered with an invalid run", extra={"run_id": run_id})
        return None
    return run if run.id == run_id and run.status in TERMINAL else None


class NodeFailed(SwitchboardError):
    status = 502
    code = "node_failed"


def failure_of(run: Run) -> SwitchboardError | None:
    """What a finished run answers with ``error_on_node_failure``: 502 ``node_failed`` naming the failed
    nodes, 422 ``requirement_not_satisfied`` when an end user's link was missing, None when nothing failed."""
    failed = [
        {"node": node_id, "error": result.get("error")}
        for node_id, result in (run.nodes or {}).items()
        if isinstance(result, dict) and result.get("status") == "failed"
    ]
    if failed:
        return NodeFailed(f"{len(failed)} node(s) failed", details={"run_id": run.id, "failed_nodes": failed})
    if run.status is not RunStatus.failed:
        return None
    error = run.error or {}
    details = {"run_id": run.id, "failed_nodes": [], "error": error}
    if error.get("type") == RequirementNotSatisfied.code:
        return RequirementNotSatisfied(
            str(error.get("message") or "a requirement is not satisfied"), details=details
        )
    return NodeFailed("the run failed", details=details)


def enqueue(run: Run) -> None:
    """Hand the run to the run queue. A run that cannot be queued ends failed (and frees its session)."""
    try:
        aws.client("sqs").send_message(
            QueueUrl=_configured(get_settings().run_queue_url, "run queue"),
            MessageBody=json.dumps({"run_id": run.id}),
        )
    except (ClientError, BotoCoreError, ServiceUnavailable):
        logger.exception("the run could not be queued", extra={"run_id": run.id})
        error = {"type": "enqueue_failed", "message": "the run could not be queued"}
        try:
            failed = runs.finish(run.id, RunStatus.failed, utcnow(), {"error": error}, RunStatus.created)
        except Conflict:
            raise ServiceUnavailable("the run could not be queued; retry shortly") from None
        sessions.run_finished(failed)
        raise ServiceUnavailable("the run could not be queued; retry shortly") from None


def _configured(value: str, what: str) -> str:
    if not value:
        raise ServiceUnavailable(f"the {what} is not configured")
    return value
