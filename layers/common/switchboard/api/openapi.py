"""The OpenAPI document of an API function, generated from its routes and models, and Swagger UI over it.

Powertools' OpenAPI models and Swagger UI assets are imported by the first request for the document or the
page, not at cold start: the routes of every other request never need them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from pydantic import BaseModel

from switchboard.api.routers import OnDemandResolver

OPENAPI_PATH = "/v1/openapi.json"
SWAGGER_PATH = "/v1/docs"


def openapi_document(
    app: APIGatewayHttpResolver, title: str = "Switchboard management API"
) -> dict[str, Any]:
    from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer

    if isinstance(app, OnDemandResolver):
        app.load_all()
    document = app.get_openapi_json_schema(
        title=title,
        version="1.0.0",
        openapi_version="3.1.0",
        security_schemes={"bearer": HTTPBearer(scheme="bearer", bearerFormat="sb_pat_… / sb_ak_…")},
        security=[{"bearer": []}],
    )
    parsed: dict[str, Any] = json.loads(document)
    _drop_empty_content(parsed)
    return parsed


def swagger_page(app: APIGatewayHttpResolver, title: str = "Switchboard management API") -> str:
    """Swagger UI (Powertools' page, its assets inlined) over the document ``openapi_document`` gives."""
    from aws_lambda_powertools.event_handler.openapi import swagger_ui

    assets = Path(swagger_ui.__file__).parent
    # Escaped so that the document cannot close the page's <script> element.
    spec = json.dumps(openapi_document(app, title)).replace("</", "<\\/")
    return swagger_ui.generate_swagger_html(
        spec,
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        swagger_base_url="",
        oauth2_config=None,
    )


def add_request_body(
    document: dict[str, Any],
    method: str,
    path: str,
    model: type[BaseModel],
    multipart: dict[str, Any] | None,
    media_type: str = "application/json",
) -> None:
    """Document the body of a route that reads it itself (the resolver cannot see it)."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas[model.__name__] = schema
    content: dict[str, Any] = {media_type: {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}
    if multipart is not None:
        content["multipart/form-data"] = {"schema": multipart}
    document["paths"][path][method]["requestBody"] = {"required": True, "content": content}


def _drop_empty_content(document: dict[str, Any]) -> None:
    """A response documented with no media type (``envelopes.without_content``: a 204) has no body at all."""
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                if response.get("content") == {}:
                    del response["content"]
