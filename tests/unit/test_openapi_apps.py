"""docs/openapi-apps.json: the Apps API's document, current with its routes, complete, and checked by
``--check`` together with the management document."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.event_handler.api_gateway import Route

from switchboard_cli.openapi import (
    APPS_DOCUMENT,
    DOCUMENTS,
    generate,
    generate_apps,
    load_apps_app,
    main,
    render,
)

_PATH_PARAMETER = re.compile(r"<(\w+)>")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return generate_apps()


def _routes() -> set[tuple[str, str]]:
    app = load_apps_app()
    routes: list[Route] = app._static_routes + app._dynamic_routes
    return {
        (route.method.lower(), _PATH_PARAMETER.sub(r"{\1}", route.path))
        for route in routes
        if route.include_in_schema
    }


def test_committed_document_matches_the_routes(document: dict[str, Any]) -> None:
    committed = APPS_DOCUMENT.read_text(encoding="utf-8") if APPS_DOCUMENT.exists() else ""
    assert committed == render(document), "docs/openapi-apps.json is stale: run `make openapi` and commit it"


def test_every_apps_route_is_documented(document: dict[str, Any]) -> None:
    routes = _routes()
    assert {("post", "/"), ("post", "/v1/runs"), ("get", "/v1/runs/{run_id}/events")} <= routes
    operations = {(method, path) for path, item in document["paths"].items() for method in item}
    assert routes - operations == set()


def test_the_creating_routes_document_their_bodies_and_answers(document: dict[str, Any]) -> None:
    invoke = document["paths"]["/"]["post"]
    assert set(invoke["requestBody"]["content"]) == {"application/json", "multipart/form-data"}
    assert invoke["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InvokeIn"
    }
    create = document["paths"]["/v1/runs"]["post"]
    assert create["requestBody"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/CreateRunIn"}}
    }
    schemas = document["components"]["schemas"]
    assert set(schemas["InvokeIn"]["properties"]) == {
        "input",
        "user_id",
        "stream",
        "last_node_output",
        "error_on_node_failure",
        "files",
        "execution_mode",
        "callbacks",
    }
    assert set(schemas["CreateRunIn"]["properties"]) == {
        "input",
        "user_id",
        "session_id",
        "background",
        "stream",
    }
    assert {"Callback", "FileReference"} <= set(schemas)
    for operation in (invoke, create):
        assert {"200", "202", "400", "401", "403", "404", "409", "413", "415", "422"} <= set(
            operation["responses"]
        )
        assert "text/event-stream" in operation["responses"]["200"]["content"]
        assert any(p["name"].lower() == "idempotency-key" for p in operation["parameters"])
    assert "502" in invoke["responses"]


def test_the_connect_routes_document_their_bodies_and_answers(document: dict[str, Any]) -> None:
    paths, schemas = document["paths"], document["components"]["schemas"]
    minted = paths["/v1/connect/tokens"]["post"]
    linked = paths["/v1/connect/requirements/{requirement_id}/credentials"]["post"]
    assert minted["requestBody"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/ConnectTokenIn"}}
    }
    assert linked["requestBody"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/LinkCredentialsIn"}}
    }
    assert set(schemas["ConnectTokenIn"]["properties"]) == {
        "user_id",
        "return_url",
        "ttl_seconds",
        "allow_identity_change",
    }
    assert schemas["ConnectTokenIn"]["required"] == ["user_id"]
    assert set(schemas["LinkCredentialsIn"]["properties"]) == {"type", "config", "expires_at"}
    assert {"201", "401", "403", "404", "415", "422"} <= set(minted["responses"]) & set(linked["responses"])
    listed = paths["/v1/connect/requirements"]["get"]
    revoked = paths["/v1/connect/requirements/{requirement_id}"]["delete"]
    for operation in (listed, linked, revoked):
        assert {"401", "403", "404", "409", "410"} <= set(operation["responses"])
    assert "content" not in revoked["responses"]["204"]
    authorize = paths["/v1/connect/oauth2/authorize"]["post"]
    assert authorize["requestBody"]["content"] == {
        "application/json": {"schema": {"$ref": "#/components/schemas/OAuth2AuthorizeIn"}}
    }
    assert set(schemas["OAuth2AuthorizeIn"]["properties"]) == {
        "requirement_id",
        "return_url",
        "allow_identity_change",
    }
    assert {"200", "401", "403", "404", "409", "410", "422"} <= set(authorize["responses"])
    callback = paths["/v1/oauth2/callback"]["get"]
    assert callback["security"] == []
    status = paths["/v1/requirements/status"]["get"]
    assert [p["name"] for p in status["parameters"]] == ["user_id"]
    assert {"200", "400", "401", "403", "404", "409"} <= set(status["responses"])


def test_both_addressing_forms_are_servers(document: dict[str, Any]) -> None:
    assert [server["url"] for server in document["servers"]] == [
        "https://{app_id}.{apps_domain}",
        "{apps_api_url}/apps/{app_id}",
    ]


PAGE_PATHS = {"/connect", "/connect/oauth2", "/v1/oauth2/callback"}
"""The hosted connect page: HTML, its error pages too."""


def test_every_operation_documents_401_with_the_error_envelope() -> None:
    document = json.loads(APPS_DOCUMENT.read_text())
    for path, operations in document["paths"].items():
        if path in PAGE_PATHS:
            continue
        for method, operation in operations.items():
            schema = operation["responses"]["401"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, (method, path)


def test_the_connect_page_documents_html_pages_with_their_headers_and_takes_a_form(
    document: dict[str, Any],
) -> None:
    page = document["paths"]["/connect"]
    html_statuses = {"get": [200, 401, 403, 404, 409, 410], "post": [200, 400, 401, 403, 404, 409, 410, 422]}
    for method, statuses in html_statuses.items():
        # The token is in the query or the form: no bearer token
        assert page[method]["security"] == []
        for status in statuses:
            response = page[method]["responses"][str(status)]
            assert response["content"] == {"text/html": {"schema": {"type": "string"}}}, (method, status)
            assert set(response["headers"]) == {"Content-Security-Policy", "X-Frame-Options", "Cache-Control"}
    redirect = page["post"]["responses"]["303"]
    assert "content" not in redirect
    assert redirect["headers"]["Location"]["required"] is True
    form = page["post"]["requestBody"]["content"]
    assert form == {
        "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/ConnectFormIn"}}
    }
    fields = document["components"]["schemas"]["ConnectFormIn"]
    assert fields["required"] == ["token", "csrf", "requirement_id"]
    assert fields["additionalProperties"] == {"type": "string"}


def test_write_and_check_cover_both_documents(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given both documents at their places, one of them stale
    management, apps = tmp_path / "openapi.json", tmp_path / "openapi-apps.json"
    monkeypatch.setitem(DOCUMENTS, "management", (management, generate))
    monkeypatch.setitem(DOCUMENTS, "apps", (apps, generate_apps))
    management.write_text(render(generate()), encoding="utf-8")
    apps.write_text("{}\n", encoding="utf-8")
    # When they are checked / Then the stale one fails the check, naming its file
    assert main(["--check"]) == 1
    assert "openapi-apps.json is out of date" in capsys.readouterr().err
    # When both are written / Then both check clean
    assert main(["--write"]) == 0
    assert main(["--check"]) == 0
    assert apps.read_text(encoding="utf-8") == render(generate_apps())
    # And --api picks one document
    assert main(["--check", "--api", "apps", "--output", str(apps)]) == 0


def test_event_streams_document_one_message_and_no_content_when_nothing_follows(
    document: dict[str, Any],
) -> None:
    # Given the three operations that may answer with a run's event stream
    stream = document["paths"]["/v1/runs/{run_id}/stream"]["get"]["responses"]
    streamed = [
        stream["200"],
        document["paths"]["/"]["post"]["responses"]["200"],
        document["paths"]["/v1/runs"]["post"]["responses"]["200"],
    ]

    # Then each documents the text/event-stream schema of one message, whose data is a run event as JSON
    for response in streamed:
        message = response["content"]["text/event-stream"]["schema"]
        assert message["type"] == "object"
        assert message["required"] == ["id", "event", "data"]
        assert "heartbeat" in message["description"]
        data = message["properties"]["data"]
        assert data["type"] == "string"
        assert data["contentMediaType"] == "application/json"
        assert data["contentSchema"] == {"$ref": "#/components/schemas/EventOut"}
    event = document["components"]["schemas"]["EventOut"]
    assert set(event["required"]) == {"id", "type", "sequence", "timestamp", "data"}

    # And a stream with nothing after the cursor is a 204 without a body
    assert "content" not in stream["204"]
