"""The least an API-facing handler in the house style imports: the reference the cold-import measure puts
next to the real handlers.

boto3 (the cached client factory imports it), Powertools' logger and metrics, a module-level
``APIGatewayHttpResolver(enable_validation=True)`` with one route split into a ``Router``, returning a
pydantic model, and the handler decorators every API function has. No tracer (the API functions keep the X-Ray
SDK out anyway) and none of Switchboard's own code: whatever a real handler takes beyond this is ours.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

logger = Logger()
metrics = Metrics()
router = APIGatewayHttpRouter()


class Reply(BaseModel):
    region: str | None


@router.get("/v1/region")
def region() -> Reply:
    return Reply(region=boto3.session.Session().region_name)


app = APIGatewayHttpResolver(enable_validation=True)
app.include_router(router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
