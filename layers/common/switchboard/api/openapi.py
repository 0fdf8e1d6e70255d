"""The OpenAPI document of an API function, generated from its routes and models."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

OPENAPI_PATH = "/v1/openapi.json"
SWAGGER_PATH = "/v1/docs"


def openapi_document(
    app: APIGatewayHttpResolver, title: str = "Switchboard management API"
) -> dict[str, Any]:
    document = app.get_openapi_json_schema(
        title=title,
        version="1.0.0",
        openapi_version="3.1.0",
        security_schemes={"bearer": HTTPBearer(scheme="bearer", bearerFormat="sb_pat_… / sb_ak_…")},
        security=[{"bearer": []}],
    )
    return json.loads(document)  # type: ignore[no-any-return]
