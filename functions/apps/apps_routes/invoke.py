"""Direct invoke, ``POST /``: run the App with an input (JSON or multipart with files), synchronously,
asynchronously with callbacks, or as a stream."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from apps_routes.http_io import (
    RunToken,
    addressed_app,
    issued_run_token,
    json_object,
    location,
    reply,
    upload,
    validated,
)
from apps_routes.models import AcceptedRunOut, CreatedRunOut, InvokeIn, create_responses
from apps_routes.runs import IdempotencyKey
from switchboard import json_limits
from switchboard.api.envelopes import Data
from switchboard.api.guards import OptionalPrincipal
from switchboard.api.views.runs import AcceptedOut
from switchboard.auth.tokens import IssuedRunToken
from switchboard.domain.errors import BadRequest, error_document
from switchboard.domain.runs import TERMINAL, Run
from switchboard.runtime import runs
from switchboard.runtime.runs import StoredResponse, idempotency, uploads
from switchboard.runtime.webhooks import validate_callbacks

if TYPE_CHECKING:
    from switchboard.runtime.runs import RunRequest, StartMode

router = APIGatewayHttpRouter()

_JSON_PARTS = ("input", "callbacks", "files")
_OPTION_PARTS = frozenset(InvokeIn.model_fields) - set(_JSON_PARTS)


def _form_document(form: uploads.FormData) -> tuple[dict[str, Any], bool]:
    """A multipart request as the JSON body it stands for; True when the input came as form fields."""
    document: dict[str, Any] = {}
    for name in _JSON_PARTS:
        if name in form.fields:
            try:
                document[name] = json_limits.loads(form.fields[name])
            except json_limits.UnsafeJson as unsafe:
                raise BadRequest(f"the part '{name}': {unsafe.message}", code=unsafe.code) from None
            except ValueError:
                raise BadRequest(f"the part '{name}' is not valid JSON", code="malformed_json") from None
    document |= {name: text for name, text in form.fields.items() if name in _OPTION_PARTS}
    rest = {name: text for name, text in form.fields.items() if name not in document}
    if "input" in document:
        return document | rest, False
    return document | {"input": rest}, True


def _parsed(issued: IssuedRunToken | None) -> tuple[InvokeIn, RunRequest, dict[str, Any]]:
    """The body, the run it asks for (``issued``: an anonymous caller's run token), and what identifies the
    request for idempotency."""
    form_upload = upload(router)
    files: list[uploads.UploadedFile] = []
    form_input = False
    if form_upload is None:
        document = json_object(router)
        identity: dict[str, Any] = document
    else:
        form = uploads.parse_form(form_upload.content_type, form_upload.body)
        document, form_input = _form_document(form)
        files = form.files
        identity = {
            "form": document,
            "files": [
                [f.field, f.filename, f.content_type, hashlib.sha256(f.content).hexdigest()] for f in files
            ],
        }
    # Form parts are text: their option values are read as text ("true", "async"), a JSON body's strictly.
    body = validated(InvokeIn, document, strict=False if form_upload is not None else None)
    if body.execution_mode == "async" and body.stream:
        raise BadRequest("stream needs execution_mode sync", code="invalid_options")
    if body.callbacks is not None and body.execution_mode != "async":
        raise BadRequest("callbacks need execution_mode async", code="callbacks_need_async")
    callbacks = validate_callbacks(document["callbacks"]) if body.callbacks is not None else None
    request = runs.RunRequest(
        input=body.input,
        user_id=body.user_id,
        callbacks=[callback.stored() for callback in callbacks] if callbacks is not None else None,
        uploads=files,
        files=body.files,
        form_input=form_input,
        run_token_hash=issued.token_hash if issued is not None else None,
    )
    return body, request, identity


@router.post(
    "/",
    tags=["invoke"],
    summary="Invoke the App: 200 with the finished run, 202 accepted (async) or still going (longer than "
    "the App's sync_wait_seconds), or its event stream",
    description=(
        "application/json or multipart/form-data (files, at most 4 MiB per request). Unknown top-level "
        "fields are 400. With error_on_node_failure, a failed node answers 502 node_failed. A synchronous "
        "run that has not ended after the App's sync_wait_seconds answers 202 with the run as it is (the "
        "accepted shape of async is {id, status: accepted})."
    ),
    **create_responses(Data[CreatedRunOut], Data[AcceptedRunOut] | Data[CreatedRunOut], node_failure=True),
)
def invoke(
    principal: OptionalPrincipal, idempotency_key: IdempotencyKey = None, run_token: RunToken = None
) -> Response[Any]:
    app = addressed_app(router, principal)
    issued = issued_run_token(principal)
    body, request, identity = _parsed(issued)
    key = idempotency.checked_key(idempotency_key)
    how: StartMode = "stream" if body.stream else "background" if body.execution_mode == "async" else "sync"

    def answer(run: Run) -> StoredResponse:
        if run.status not in TERMINAL:
            data = {"data": runs.view(run, invoked=True, last_node_output=body.last_node_output)}
            return StoredResponse(202, _json(data), {"Location": location(router, run.id)}, run_id=run.id)
        failure = runs.failure_of(run) if body.error_on_node_failure else None
        if failure is not None:
            return StoredResponse(failure.status, error_document(failure))
        data = {"data": runs.view(run, invoked=True, last_node_output=body.last_node_output)}
        return StoredResponse(200, _json(data), run_id=run.id)

    def produce() -> StoredResponse:
        run = runs.start(app, request, principal, how, router.lambda_context)
        if how == "stream":
            return StoredResponse(200, stream_run_id=run.id)
        if how == "background":
            accepted = {"data": AcceptedOut(id=run.id).model_dump(mode="json")}
            return StoredResponse(202, accepted, {"Location": location(router, run.id)})
        return answer(run)

    def may_replay(run_id: str) -> Run:
        return runs.caller_run(app, run_id, principal, run_token)

    def replayed(run_id: str) -> StoredResponse:
        return answer(may_replay(run_id))

    outcome = idempotency.once(app.id, key, idempotency.fingerprint("POST /", identity), produce, replayed)
    return reply(router, outcome, issued=issued, may_replay=may_replay)


def _json(document: dict[str, Any]) -> dict[str, Any]:
    return {name: value.model_dump(mode="json") for name, value in document.items()}
