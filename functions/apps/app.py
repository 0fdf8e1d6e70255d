"""Apps API handler: access keys (or none for public Apps); addressed by host or /apps/{app_id} prefix.
Routes live in apps_routes, included as requests need them (apps_routes.resolver.ROUTERS)."""

from __future__ import annotations

import re
from typing import Any

from apps_routes.resolver import ROUTERS, AppsResolver
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
    connect_paths=("/v1/connect/requirements", "/v1/connect/oauth2"),
    page_paths=frozenset({"/connect", "/connect/oauth2", "/v1/oauth2/callback"}),
    routers=ROUTERS,
)
errors.register(app)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
