"""The Apps API's OpenAPI document, and each App's own copy of it: ``servers`` is the App's base URL and the
``input`` of a run request (``POST /``, ``POST /v1/runs``) is the JSON Schema of the deployed version's input
fields (``runs.deployed_input_schema``, beside the check that enforces them): it changes with each
deployment.

The routes' part is built once per execution environment (it is the same for every App); the version's
definition comes from ``versions.version_definition``, cached per version.
"""

from __future__ import annotations

import copy
import html
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from apps_routes.models import REQUEST_BODIES
from switchboard.api.openapi import add_request_body, openapi_document
from switchboard.domain.models import App
from switchboard.runtime.runs import deployed_input_schema

TITLE = "Switchboard Apps API"
INPUT_SCHEMA = "AppInput"
RUN_REQUESTS = ("InvokeIn", "CreateRunIn")
"""The request models whose ``input`` is the App's input."""
_built: dict[str, dict[str, Any]] = {}


def apps_document(resolver: APIGatewayHttpResolver) -> dict[str, Any]:
    """The Apps API's document (``docs/openapi-apps.json`` without its ``servers``)."""
    document = openapi_document(resolver, title=TITLE)
    for (method, path), body in REQUEST_BODIES.items():
        add_request_body(document, method, path, body.model, body.multipart, body.media_type)
    return document


def app_document(resolver: APIGatewayHttpResolver, app: App, base_url: str) -> dict[str, Any]:
    """The document as ``app`` serves it at ``base_url``."""
    if "apps" not in _built:
        _built["apps"] = apps_document(resolver)
    document = copy.deepcopy(_built["apps"])
    document["servers"] = [{"url": base_url, "description": f"The App {app.name}"}]
    schema = deployed_input_schema(app)
    if app.deployment is None or schema is None:
        document["info"]["description"] = "The App has no deployment yet: runs are refused (409)."
        return document
    deployment = app.deployment
    schemas = document["components"]["schemas"]
    schemas[INPUT_SCHEMA] = {
        **schema,
        "title": INPUT_SCHEMA,
        "description": f"The input fields of the deployed version {deployment.version}",
    }
    for model in RUN_REQUESTS:
        schemas[model]["properties"]["input"] = {"$ref": f"#/components/schemas/{INPUT_SCHEMA}"}
    document["info"]["description"] = f"{app.name}: version {deployment.version} is deployed."
    return document


_METHODS = ("get", "post", "put", "patch", "delete")


def docs_page(document: dict[str, Any], nonce: str) -> str:
    """A self-contained page over ``document``: its operations and the input fields. No script, no asset
    from elsewhere; every value is escaped."""
    servers = document.get("servers") or [{"url": ""}]
    base = html.escape(str(servers[0]["url"]))
    rows = "".join(
        f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
        f"<td>{html.escape(str(operation.get('summary', '')))}</td></tr>"
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if method in _METHODS
    )
    schema = document["components"]["schemas"].get(INPUT_SCHEMA, {})
    required = set(schema.get("required", []))
    fields = "".join(
        f"<tr><td><code>{html.escape(name)}</code></td><td>{html.escape(str(field.get('type', 'file')))}</td>"
        f"<td>{'yes' if name in required else 'no'}</td>"
        f"<td>{html.escape(repr(field['default'])) if 'default' in field else ''}</td>"
        f"<td>{html.escape(str(field.get('description', '')))}</td></tr>"
        for name, field in schema.get("properties", {}).items()
    )
    title = html.escape(str(document["info"].get("description", document["info"]["title"])))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>API</title>'
        f'<style nonce="{nonce}">body{{font-family:sans-serif;margin:2em}}td,th{{padding:.2em .6em;'
        "text-align:left;border-bottom:1px solid #ddd}}</style></head><body>"
        f"<h1>{title}</h1><p>Base URL: <code>{base}</code> · "
        '<a href="openapi.json">OpenAPI document</a></p>'
        "<h2>Input fields</h2><table><tr><th>Field</th><th>Type</th><th>Required</th><th>Default</th>"
        f"<th>Description</th></tr>{fields}</table>"
        f"<h2>Operations</h2><table><tr><th>Method</th><th>Path</th><th>Summary</th></tr>{rows}</table>"
        "</body></html>"
    )
