"""Apps API handler: access keys (or none for public Apps); addressed by host or /apps/{app_id} prefix."""

from __future__ import annotations

import re
from typing import Any

from apps_routes import connect, connect_page, deliveries, info, invoke, requirements, runs, streams, triggers
from apps_routes.resolver import AppsResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard.api import errors
from switchboard.domain.models import TokenKind
from switchboard.observability import logger, metrics, tracer
from switchboard.settings import get_settings

get_settings()
app = AppsResolver(
    token_kind=TokenKind.access_key,
    token_optional=True,
    accepted_bodies="application/json (or multipart/form-data for POST /)",
    strip_prefixes=[re.compile(r"^/apps/[^/]+")],
    connect_paths=("/v1/connect/requirements",),
    page_paths=frozenset({"/connect"}),
)
app.include_router(info.router)
app.include_router(invoke.router)
app.include_router(runs.router)
app.include_router(streams.router)
app.include_router(deliveries.router)
app.include_router(requirements.router)
app.include_router(connect.router)
app.include_router(connect_page.router)
app.include_router(triggers.router)
errors.register(app)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
