"""Request bodies in and replies out, for the routes that create runs, and who may act on a run.

Bodies are parsed here rather than by the resolver's validation (a direct invoke may be multipart), under the
management API's rule: an unknown field or a value that does not fit is 422 ``validation_failed`` with a
detail per field (``extra_forbidden`` for an unknown one); a body that is not a JSON object is 400.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import BaseModel, ValidationError

from apps_routes.resolver import Upload
from switchboard.auth.principal import Principal
from switchboard.domain.errors import BadRequest, UnsupportedMediaType, ValidationFailed, validation_details
from switchboard.domain.models import App
from switchboard.runtime import runs
from switchboard.runtime.identity import addressed_app_id, callable_app
from switchboard.runtime.runs import REPLAYED_HEADER, RUN_TOKEN_HEADER, StoredResponse, streams

ModelT = TypeVar("ModelT", bound=BaseModel)


def upload(router: APIGatewayHttpRouter) -> Upload | None:
    found = router.context.get("upload")
    return found if isinstance(found, Upload) else None


def json_object(router: APIGatewayHttpRouter) -> dict[str, Any]:
    """The JSON body, which must be an object (400 otherwise; 415 for a multipart body)."""
    if upload(router) is not None:
        raise UnsupportedMediaType("send the body as application/json")
    event = router.current_event
    raw = event.get("body") or ""
    try:
        text = base64.b64decode(raw).decode() if event.get("isBase64Encoded") else raw
        document = json.loads(text, parse_constant=_no_constant)
    except (ValueError, binascii.Error):
        raise BadRequest("the request body is not valid JSON", code="malformed_json") from None
    if not isinstance(document, dict):
        raise BadRequest("the request body must be a JSON object", code="malformed_json")
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def validated(model: type[ModelT], document: Mapping[str, Any], *, strict: bool | None = None) -> ModelT:
    """The body as ``model`` (``strict``: overrides the model's own strictness); 422 with a detail per field
    otherwise."""
    try:
        return model.model_validate(document, strict=strict)
    except ValidationError as error:
        raise ValidationFailed("the request is invalid", details=validation_details(error)) from None


def addressed_app(router: APIGatewayHttpRouter, principal: Principal | None) -> App:
    event = router.current_event
    return callable_app(addressed_app_id(event.path_parameters, event.headers.get("host")), principal)


def caller(
    router: APIGatewayHttpRouter,
    principal: Principal | None,
    run_token: str | None,
    idempotency_key: str | None,
) -> runs.Caller:
    """Who asks for a new run, and where its answer says the run can be polled: in the addressing form the
    request used (path or host)."""
    app_id = (router.current_event.path_parameters or {}).get("app_id")
    return runs.Caller(
        principal=principal,
        run_token=run_token,
        idempotency_key=idempotency_key,
        runs_url=f"/apps/{app_id}/v1/runs" if app_id else "/v1/runs",
        remaining=router.lambda_context,
    )


RunToken = Annotated[
    str | None,
    Header(
        alias=RUN_TOKEN_HEADER,
        description="Without an access key (a public App): the run token shown once when the run was "
        "created; it opens that run only (401 missing_token without it, invalid_run_token for any other)",
    ),
]


def caller_app(
    router: APIGatewayHttpRouter, principal: Principal | None, run_id: str, run_token: str | None
) -> App:
    """The addressed App, once the caller may act on its run ``run_id`` (``runs.caller_run``)."""
    app = addressed_app(router, principal)
    runs.caller_run(app, run_id, principal, run_token)
    return app


def reply(router: APIGatewayHttpRouter, answer: runs.Answer) -> Response[Any]:
    """The response to send: a JSON answer (stored, or replayed), or the run's event stream from its first
    event. The new run's token, when there is one to show, goes in the ``X-Run-Token`` header and in a JSON
    answer's data as ``run_token``."""
    response = answer.response
    shown = {RUN_TOKEN_HEADER: answer.run_token} if answer.run_token is not None else {}
    run_id = response.stream_run_id
    if run_id is None:
        return json_reply(response, shown)
    return streams.sse_response(
        run_id,
        0,
        lambda_context=router.lambda_context,
        extra_headers={REPLAYED_HEADER: "true"} if answer.replayed else shown,
    )


def json_reply(response: StoredResponse, shown: Mapping[str, str] | None = None) -> Response[Any]:
    body = response.body
    if shown and isinstance(body, dict) and isinstance(body.get("data"), dict):
        body = {**body, "data": {**body["data"], "run_token": shown[RUN_TOKEN_HEADER]}}
    return Response(
        status_code=response.status,
        content_type=content_types.APPLICATION_JSON,
        body=json.dumps(body, default=str),
        headers={"Cache-Control": "no-store", **dict(response.headers), **(shown or {})},
    )
