"""docs/openapi.json: current with the management routes, complete, and guarded by `--check`."""

from __future__ import annotations

import inspect
import json
import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.event_handler.api_gateway import Route
from pydantic import BaseModel

from switchboard_cli.openapi import DOCUMENT, generate, load_management_app, main, render

_PATH_PARAMETER = re.compile(r"<(\w+)>")


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return generate()


def _documented_routes() -> list[Route]:
    """Every route the management resolver serves (its routers' included) that belongs in the document."""
    app = load_management_app()
    routes: list[Route] = app._static_routes + app._dynamic_routes
    return [route for route in routes if route.include_in_schema]


def _openapi_path(route: Route) -> str:
    return _PATH_PARAMETER.sub(r"{\1}", route.path)


def _body_model(route: Route) -> type[BaseModel] | None:
    """The pydantic model a route's handler takes as its JSON body (or as an optional one), if any."""
    hints = typing.get_type_hints(route.func, include_extras=True)
    for name in inspect.signature(route.func).parameters:
        hint = hints.get(name)
        if typing.get_origin(hint) is typing.Annotated:
            hint = typing.get_args(hint)[0]
        if typing.get_origin(hint) is types.UnionType:
            hint = next((a for a in typing.get_args(hint) if a is not type(None)), hint)
        if inspect.isclass(hint) and issubclass(hint, BaseModel):
            return hint
    return None


def _body_is_optional(route: Route) -> bool:
    """The handler's body parameter defaults to None: a request may come without a body."""
    return any(
        parameter.name == "body" and parameter.default is None
        for parameter in inspect.signature(route.func).parameters.values()
    )


def test_committed_document_matches_the_routes(document: dict[str, Any]) -> None:
    # Given the document generated from the management function's routes and models
    expected = render(document)

    # When it is compared with the committed file
    committed = DOCUMENT.read_text(encoding="utf-8") if DOCUMENT.exists() else ""

    # Then they are identical
    assert committed == expected, "docs/openapi.json is stale: run `make openapi` and commit it"


def test_every_management_route_is_in_the_document(document: dict[str, Any]) -> None:
    # Given the routes the management resolver serves
    routes = {(route.method.lower(), _openapi_path(route)) for route in _documented_routes()}
    assert len(routes) > 10, "the management routers were not included"

    # When the document's operations are listed
    operations = {(method, path) for path, item in document["paths"].items() for method in item}

    # Then each route is documented under its path and method
    assert routes - operations == set()


def test_every_route_taking_a_body_documents_its_json_schema(document: dict[str, Any]) -> None:
    # Given the routes whose handler takes a JSON body model
    with_body = [(route, model) for route in _documented_routes() if (model := _body_model(route))]
    assert with_body, "no route takes a body"

    # When their operations are looked up / Then each has a JSON request body referencing the model,
    # required unless the handler takes none (then the document says it may be absent)
    for route, model in with_body:
        operation = document["paths"][_openapi_path(route)][route.method.lower()]
        request_body = operation.get("requestBody")
        label = f"{route.method} {route.path}"
        assert request_body, f"{label} takes {model.__name__} but documents no requestBody"
        schema = request_body["content"]["application/json"]["schema"]
        reference = {"$ref": f"#/components/schemas/{model.__name__}"}
        if _body_is_optional(route):
            assert request_body.get("required") is not True, f"{label}: an optional body is marked required"
            assert schema["anyOf"] == [reference, {"type": "null"}], f"{label}: {schema}"
        else:
            assert request_body.get("required") is True, f"{label}: the body is not marked required"
            assert schema == reference, f"{label}: {schema}"
        assert model.__name__ in document["components"]["schemas"]


def test_operations_without_a_body_model_document_no_request_body(document: dict[str, Any]) -> None:
    # Given the routes whose handler takes no body model
    without_body = [route for route in _documented_routes() if _body_model(route) is None]

    # When their operations are looked up / Then none advertises a body nobody reads
    advertised = [
        f"{route.method} {route.path}"
        for route in without_body
        if "requestBody" in document["paths"][_openapi_path(route)][route.method.lower()]
    ]
    assert advertised == []


def test_check_fails_on_drift_and_write_repairs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a document file that no longer matches the routes
    output = tmp_path / "openapi.json"
    output.write_text('{"openapi": "3.1.0", "paths": {}}\n', encoding="utf-8")

    # When it is checked
    drifted = main(["--check", "--output", str(output)])

    # Then the check fails, says how to fix it and shows the difference
    assert drifted == 1
    message = capsys.readouterr().err
    assert "run `make openapi`" in message
    assert "+++ generated from the routes" in message
    assert '-{"openapi": "3.1.0", "paths": {}}' in message

    # When it is written and checked again
    written = main(["--write", "--output", str(output)])
    repaired = main(["--check", "--output", str(output)])

    # Then both succeed and the file holds the rendered document
    assert (written, repaired) == (0, 0)
    assert output.read_text(encoding="utf-8") == render(generate())
    assert output.read_text(encoding="utf-8").endswith("}\n")


def test_check_fails_when_the_document_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given no document file / When it is checked
    status = main(["--check", "--output", str(tmp_path / "missing.json")])

    # Then the check fails and says how to create it
    assert status == 1
    assert "does not exist: run `make openapi`" in capsys.readouterr().err


def test_every_operation_documents_its_success_code_and_the_error_envelope() -> None:
    # Given the committed document
    document = json.loads(DOCUMENT.read_text())
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            # Then each operation names one 2xx and documents 401 and 422 with the error envelope
            assert [code for code in responses if code.startswith("2")], (method, path)
            for code in ("401", "422"):
                schema = responses[code]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, (method, path, code)


def test_no_content_answers_document_no_body(document: dict[str, Any]) -> None:
    # Given the operations answering 204 (the deletions)
    no_content = {
        (method, path): operation["responses"]["204"]
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
        if "204" in operation["responses"]
    }
    assert len(no_content) >= 6

    # Then none documents a body (so no content type either)
    assert {label: response for label, response in no_content.items() if "content" in response} == {}
