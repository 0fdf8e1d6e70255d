"""Runs of the addressed App: create (sync, background or streamed; idempotent with a key), list, read,
cancel, answer their input requests, and their stored events."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from apps_routes.http_io import RunToken, addressed_app, caller, caller_app, json_object, reply, validated
from apps_routes.models import CreatedRunOut, CreateRunIn, RunInputIn, create_responses
from switchboard.api.envelopes import Data, Page, documented
from switchboard.api.guards import Limit, NextToken, OptionalPrincipal
from switchboard.api.responses import one, page
from switchboard.api.views.runs import EventOut, RunOut
from switchboard.domain.errors import Unauthorized
from switchboard.domain.runs import RunStatus
from switchboard.runtime import runs

router = APIGatewayHttpRouter()

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="1 to 255 printable characters; the same key and body within 24 h replay the answer",
    ),
]


@router.post(
    "/v1/runs",
    tags=["runs"],
    summary="Create a run: 200 with the finished run, 202 with a run still going (background, or longer than "
    "the App's sync_wait_seconds), or its event stream",
    **create_responses(Data[CreatedRunOut], Data[CreatedRunOut]),
)
def create_run(
    principal: OptionalPrincipal, idempotency_key: IdempotencyKey = None, run_token: RunToken = None
) -> Response[Any]:
    app = addressed_app(router, principal)
    document = json_object(router)
    body = validated(CreateRunIn, document)
    new = runs.NewRun(
        input=body.input,
        user_id=body.user_id,
        session_id=body.session_id,
        background=body.background,
        stream=body.stream,
    )
    answer = runs.create_run(app, new, caller(router, principal, run_token, idempotency_key), document)
    return reply(router, answer)


@router.get(
    "/v1/runs",
    tags=["runs"],
    summary="Runs of this App, newest first (needs an access key, even on a public App)",
    **documented(200, Page, RunOut),
)
def list_runs(
    principal: OptionalPrincipal,
    status: Annotated[RunStatus | None, Query()] = None,
    user_id: Annotated[str | None, Query(max_length=256)] = None,
    session_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    next_token: NextToken = None,
) -> Page[RunOut]:
    app = addressed_app(router, principal)
    if principal is None:
        raise Unauthorized("listing runs needs an access key", code="missing_token")
    items, cursor = runs.list_runs(
        app.id, limit, next_token, status=status, user_id=user_id, session_id=session_id
    )
    return page(items, cursor)


@router.get(
    "/v1/runs/<run_id>",
    tags=["runs"],
    summary="One run: its output whole when it fits a response, else referenced with download URLs",
    **documented(200, Data, RunOut),
)
def get_run(run_id: str, principal: OptionalPrincipal, run_token: RunToken = None) -> Response[Data[RunOut]]:
    app = addressed_app(router, principal)
    return one(runs.view(runs.caller_run(app, run_id, principal, run_token)))


@router.post(
    "/v1/runs/<run_id>/cancel",
    tags=["runs"],
    summary="Cancel a run: created or awaiting input, it ends canceled at once; started, at its next "
    "checkpoint; a finished run is returned unchanged",
    **documented(200, Data, RunOut, writes=True),
)
def cancel_run(
    run_id: str, principal: OptionalPrincipal, run_token: RunToken = None
) -> Response[Data[RunOut]]:
    app = caller_app(router, principal, run_id, run_token)
    return one(runs.view(runs.cancel(app.id, run_id)))


@router.post(
    "/v1/runs/<run_id>/input",
    tags=["runs"],
    summary="Answer the run's open human input request: the run goes on (409 when it is not awaiting "
    "input, 422 for an unknown request_id or data that does not fit the request)",
    **documented(200, Data, RunOut, writes=True),
)
def answer_input(
    run_id: str, principal: OptionalPrincipal, run_token: RunToken = None
) -> Response[Data[RunOut]]:
    app = caller_app(router, principal, run_id, run_token)
    document = json_object(router)
    validated(RunInputIn, document)
    who = principal.actor if principal is not None else "anonymous"
    return one(runs.view(runs.answer(app.id, run_id, document, who)))


@router.get(
    "/v1/runs/<run_id>/events",
    tags=["runs"],
    summary="The run's stored events after a sequence number, oldest first",
    description="next_token, when present, is the last sequence of a full page: pass it as after_sequence.",
    **documented(200, Page, EventOut),
)
def list_events(
    run_id: str,
    principal: OptionalPrincipal,
    after_sequence: Annotated[int, Query(ge=0, le=10**9)] = 0,
    limit: Limit = 100,
    run_token: RunToken = None,
) -> Page[EventOut]:
    app = caller_app(router, principal, run_id, run_token)
    items, cursor = runs.list_events(app.id, run_id, after_sequence, limit)
    return page(items, cursor)
