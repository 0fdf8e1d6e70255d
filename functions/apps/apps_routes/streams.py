"""A run's events as Server-Sent Events (how a stream ends and resumes: ``runtime.runs.streams``)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from apps_routes.http_io import RunToken, caller_app
from switchboard.api.envelopes import documented, without_content
from switchboard.api.guards import OptionalPrincipal
from switchboard.runtime.runs import streams

router = APIGatewayHttpRouter()

AfterSequence = Annotated[
    int, Query(ge=0, le=10**9, description="Send only the events after this sequence (the last id received)")
]
LastEventId = Annotated[
    int | None,
    Header(
        alias="Last-Event-ID",
        ge=0,
        le=10**9,
        description="Sent by EventSource when it reconnects; the larger of it and after_sequence wins",
    ),
]


def _stream_responses() -> dict[str, Any]:
    arguments = documented(200, writes=False)
    arguments["responses"][200] = streams.OPENAPI_EVENT_STREAM
    arguments["responses"][204] = without_content("The run has ended and no event follows the cursor")
    return arguments


@router.get(
    "/v1/runs/<run_id>/stream",
    tags=["runs"],
    summary="Stream the run's events (Server-Sent Events): replay after the cursor, then follow the run",
    **_stream_responses(),
)
def stream_run(
    run_id: str,
    principal: OptionalPrincipal,
    after_sequence: AfterSequence = 0,
    last_event_id: LastEventId = None,
    run_token: RunToken = None,
) -> Response[str]:
    app = caller_app(router, principal, run_id, run_token)
    return streams.stream_run_of_app(
        app.id, run_id, after_sequence, last_event_id=last_event_id, lambda_context=router.lambda_context
    )
