"""Direct invoke, ``POST /``: run the App with an input (JSON or multipart with files), synchronously,
asynchronously with callbacks, or as a stream."""

from __future__ import annotations

import hashlib
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from apps_routes.http_io import RunToken, addressed_app, caller, json_object, reply, upload, validated
from apps_routes.models import AcceptedRunOut, CreatedRunOut, InvokeIn, create_responses
from apps_routes.runs import IdempotencyKey
from switchboard import json_limits
from switchboard.api.envelopes import Data
from switchboard.api.guards import OptionalPrincipal
from switchboard.domain.errors import BadRequest
from switchboard.runtime import runs
from switchboard.runtime.runs import uploads

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


def _parsed() -> tuple[runs.Invocation, dict[str, Any]]:
    """The invocation the body asks for, and what identifies the request for idempotency."""
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
    invocation = runs.Invocation(
        input=body.input,
        user_id=body.user_id,
        stream=body.stream,
        asynchronous=body.execution_mode == "async",
        last_node_output=body.last_node_output,
        error_on_node_failure=body.error_on_node_failure,
        files=body.files,
        callbacks=document["callbacks"] if body.callbacks is not None else None,
        uploads=files,
        form_input=form_input,
    )
    return invocation, identity


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
    invocation, identity = _parsed()
    answer = runs.invoke(app, invocation, caller(router, principal, run_token, idempotency_key), identity)
    return reply(router, answer)
