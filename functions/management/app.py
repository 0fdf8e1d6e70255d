"""Management API handler: personal access tokens only (accepting an invitation may go without one); routes
live in management_routes, included as requests need them (management_routes.resolver.ROUTERS)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from management_routes.resolver import ACCEPT_INVITATION_PATH, ROUTERS

from switchboard.api import errors
from switchboard.api.guards import GuardedResolver
from switchboard.api.openapi import OPENAPI_PATH, SWAGGER_PATH, openapi_document, swagger_page
from switchboard.domain.models import TokenKind
from switchboard.observability import logger, metrics, tracer
from switchboard.settings import get_settings

get_settings()
app = GuardedResolver(
    token_kind=TokenKind.pat,
    public_paths=frozenset({OPENAPI_PATH, SWAGGER_PATH, ACCEPT_INVITATION_PATH}),
    routers=ROUTERS,
)
errors.register(app)


@app.get(OPENAPI_PATH, include_in_schema=False)
def get_openapi() -> Response[Any]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=openapi_document(app))


@app.get(SWAGGER_PATH, include_in_schema=False)
def get_docs() -> Response[str]:
    return Response(status_code=200, content_type=content_types.TEXT_HTML, body=swagger_page(app))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
