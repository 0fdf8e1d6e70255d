"""What an App did: its runs, traces, sessions and metrics, for builders (project viewer and up)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from switchboard.api.envelopes import Data, Page, Timestamp, documented
from switchboard.api.guards import CurrentPrincipal, Limit, NextToken
from switchboard.api.responses import one, page
from switchboard.api.views.metrics import AppMetricsOut
from switchboard.api.views.runs import MessageOut, RunOut, SessionOut, TraceOut, TraceSummaryOut
from switchboard.domain.models import ProjectRole
from switchboard.domain.runs import RunStatus
from switchboard.runtime.building import apps
from switchboard.runtime.runs import queries as run_queries
from switchboard.runtime.runs import run_metrics, sessions

router = APIGatewayHttpRouter()

StatusFilter = Annotated[RunStatus | None, Query(description="Only runs with this status")]


def _app_id(principal: CurrentPrincipal, app_id: str) -> str:
    return apps.load(principal, app_id, ProjectRole.viewer).id


@router.get(
    "/v1/apps/<app_id>/runs",
    tags=["app runs"],
    summary="The App's runs, newest first",
    **documented(200, Page, RunOut),
)
def list_runs(
    app_id: str,
    principal: CurrentPrincipal,
    status: StatusFilter = None,
    user_id: Annotated[str | None, Query(max_length=256)] = None,
    session_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Limit = 50,
    next_token: NextToken = None,
) -> Page[RunOut]:
    items, cursor = run_queries.list_runs(
        _app_id(principal, app_id), limit, next_token, status=status, user_id=user_id, session_id=session_id
    )
    return page(items, cursor)


@router.get(
    "/v1/apps/<app_id>/runs/<run_id>", tags=["app runs"], summary="One run", **documented(200, Data, RunOut)
)
def get_run(app_id: str, run_id: str, principal: CurrentPrincipal) -> Response[Data[RunOut]]:
    return one(run_queries.view(run_queries.run_of_app(_app_id(principal, app_id), run_id)))


@router.get(
    "/v1/apps/<app_id>/traces",
    tags=["app runs"],
    summary="Trace summaries of the App's started runs, newest first",
    **documented(200, Page, TraceSummaryOut),
)
def list_traces(
    app_id: str,
    principal: CurrentPrincipal,
    status: StatusFilter = None,
    started_after: Annotated[
        Timestamp | None, Query(description="ISO 8601 with a time zone; inclusive")
    ] = None,
    started_before: Annotated[
        Timestamp | None, Query(description="ISO 8601 with a time zone; inclusive")
    ] = None,
    limit: Limit = 50,
    next_token: NextToken = None,
) -> Page[TraceSummaryOut]:
    items, cursor = run_queries.list_traces(
        _app_id(principal, app_id),
        limit,
        next_token,
        status=status,
        started_after=started_after,
        started_before=started_before,
    )
    return page(items, cursor)


@router.get(
    "/v1/apps/<app_id>/traces/<trace_id>",
    tags=["app runs"],
    summary="One trace: the span tree and the credential resolution records (a trace's ID is its run's)",
    **documented(200, Data, TraceOut),
)
def get_trace(app_id: str, trace_id: str, principal: CurrentPrincipal) -> Response[Data[TraceOut]]:
    return one(run_queries.trace(_app_id(principal, app_id), trace_id))


@router.get(
    "/v1/apps/<app_id>/metrics",
    tags=["app runs"],
    summary="The App's run metrics per time bucket",
    description="Runs by status and source, duration percentiles, error rate, tokens and runs that began "
    "waiting for input, per bucket of `interval` from `start_time` (truncated to the minute) to `end_time` "
    f"(exclusive). `interval`: one of {', '.join(run_metrics.INTERVALS)}, or an ISO 8601 duration of whole "
    f"minutes from PT1M to P1D. At most {run_metrics.MAX_BUCKETS} buckets (422 `too_many_buckets`) and "
    f"{run_metrics.MAX_RANGE.days} days (422 `range_too_long`). Runs count in the minute they ended.",
    **documented(200, Data, AppMetricsOut),
)
def get_metrics(
    app_id: str,
    principal: CurrentPrincipal,
    start_time: Annotated[Timestamp, Query(description="RFC 3339; inclusive")],
    end_time: Annotated[Timestamp, Query(description="RFC 3339; exclusive")],
    interval: Annotated[
        str, Query(max_length=16, description="1m, 5m, 15m, 1h, 6h, 1d or PT…M/PT…H/P1D")
    ] = "1h",
) -> Response[Data[AppMetricsOut]]:
    return one(run_metrics.app_metrics(_app_id(principal, app_id), start_time, end_time, interval))


@router.get(
    "/v1/apps/<app_id>/sessions",
    tags=["app runs"],
    summary="The App's sessions, most recently used first",
    **documented(200, Page, SessionOut),
)
def list_sessions(
    app_id: str, principal: CurrentPrincipal, limit: Limit = 50, next_token: NextToken = None
) -> Page[SessionOut]:
    items, cursor = sessions.list_sessions(_app_id(principal, app_id), limit, next_token)
    return page(items, cursor)


@router.get(
    "/v1/apps/<app_id>/sessions/<session_id>/messages",
    tags=["app runs"],
    summary="A session's messages, oldest first: each completed run's input (user) and output (assistant)",
    description="limit counts turns; each turn is two messages.",
    **documented(200, Page, MessageOut),
)
def list_messages(
    app_id: str,
    session_id: str,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    next_token: NextToken = None,
) -> Page[MessageOut]:
    items, cursor = sessions.messages(_app_id(principal, app_id), session_id, limit, next_token)
    return page(items, cursor)
