"""events/*.json: valid payload-2.0 events, each for a route of template.yaml, at least one per route."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
from aws_lambda_powertools.utilities.parser.models import APIGatewayProxyEventV2Model

from switchboard.auth.tokens import parse
from switchboard.domain.ids import is_id
from switchboard.domain.models import TokenKind
from switchboard_cli.local.template import Template

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
EVENT_FILES = sorted(EVENTS.glob("*.json"))
APPS_DOMAIN = "apps.example.com"
HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def _template_routes() -> dict[str, tuple[str, str]]:
    """Route key (``METHOD /path``) of every HttpApi event → (function, API) logical ids."""
    template = Template.from_file(ROOT / "template.yaml")
    routes: dict[str, tuple[str, str]] = {}
    for function_id, function in template.resources_of_type("AWS::Serverless::Function").items():
        for event in function["Properties"].get("Events", {}).values():
            if event["Type"] == "HttpApi":
                properties = event["Properties"]
                route_key = f"{properties['Method'].upper()} {properties['Path']}"
                routes[route_key] = (function_id, properties.get("ApiId", {}).get("Ref", "ServerlessHttpApi"))
    return routes


ROUTES = _template_routes()


def _path_pattern(route_path: str) -> re.Pattern[str]:
    """The request paths an HTTP API route matches, capturing its path parameters by name."""
    pattern = re.sub(
        r"\\\{(\w+)(\\\+)?\\\}",
        lambda match: f"(?P<{match.group(1)}>.+)" if match.group(2) else f"(?P<{match.group(1)}>[^/]+)",
        re.escape(route_path),
    )
    return re.compile(pattern)


def _load(path: Path) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return event


def test_path_pattern_captures_parameters_and_greedy_proxies() -> None:
    # Given the Apps routes' path templates / When request paths are matched / Then parameters are captured
    by_path = _path_pattern("/apps/{app_id}/{proxy+}").fullmatch("/apps/app_x/v1/runs")
    assert by_path is not None
    assert by_path.groupdict() == {"app_id": "app_x", "proxy": "v1/runs"}
    assert _path_pattern("/apps/{app_id}").fullmatch("/apps/app_x/v1") is None
    assert _path_pattern("/").fullmatch("/v1") is None


def test_every_template_route_has_an_event() -> None:
    # Given the route keys the template declares and those the events use
    used = {_load(path)["routeKey"] for path in EVENT_FILES}

    # Then each route has at least one event (and the template has routes at all)
    assert ROUTES
    assert set(ROUTES) - used == set()


def test_readme_lists_every_event() -> None:
    # Given events/README.md / Then it names every event file
    readme = (EVENTS / "README.md").read_text(encoding="utf-8")
    assert [path.name for path in EVENT_FILES if f"`{path.name}`" not in readme] == []


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda path: path.name)
def test_event_is_a_payload_2_event_for_a_template_route(path: Path) -> None:
    # Given an event file
    event = _load(path)

    # When it is parsed as API Gateway sends it
    parsed = APIGatewayProxyEventV2Model.model_validate(event)
    context = event["requestContext"]
    method = context["http"]["method"]
    route_method, route_path = event["routeKey"].split(" ", 1)
    match = _path_pattern(route_path).fullmatch(event["rawPath"])

    # Then it is version 2.0, for a route of the template, and self-consistent the way API Gateway makes it
    assert parsed.version == "2.0"
    assert event["routeKey"] in ROUTES, f"{event['routeKey']} is not a route in template.yaml"
    assert context["routeKey"] == event["routeKey"]
    assert method in HTTP_METHODS
    assert route_method in ("ANY", method)
    assert context["http"]["path"] == event["rawPath"]
    assert match is not None, f"{event['rawPath']} does not match {route_path}"
    assert event.get("pathParameters") == (match.groupdict() or None)
    assert dict(parse_qsl(event["rawQueryString"])) == (event.get("queryStringParameters") or {})
    assert all(name == name.lower() for name in event["headers"])
    assert event["headers"]["host"] == context["domainName"]
    assert context["domainPrefix"] == context["domainName"].split(".")[0]
    assert context["stage"] == "$default"
    assert event["isBase64Encoded"] is False


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda path: path.name)
def test_event_body_is_json_with_matching_headers(path: Path) -> None:
    # Given an event file
    event = _load(path)
    body = event.get("body")

    # Then a body is JSON sent as such, and its length is the content-length header
    assert event["headers"].get("content-length", "0") == str(len((body or "").encode()))
    if body is not None:
        assert event["requestContext"]["http"]["method"] in ("POST", "PUT", "PATCH")
        assert event["headers"]["content-type"] == "application/json"
        assert isinstance(json.loads(body), dict)


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda path: path.name)
def test_event_carries_the_token_kind_its_api_takes_and_addresses_a_real_app_id(path: Path) -> None:
    # Given an event file and the API its route belongs to
    event = _load(path)
    _, api_id = ROUTES[event["routeKey"]]

    # Then it holds a well-formed bearer token of the kind that API authenticates, unless it is an event for a
    # webhook trigger of an App, which is signed (Standard Webhooks) instead, or an OAuth provider's redirect
    # to the deployment's callback, which carries neither a token nor an App (its signed state names both)
    if event["routeKey"] == "GET /v1/oauth2/callback":
        assert "authorization" not in event["headers"]
        assert set(event["queryStringParameters"]) >= {"code", "state"}
        assert not (event.get("pathParameters") or {}).get("app_id")
        return
    if "webhook-signature" in event["headers"]:
        assert api_id == "AppsApi"
        assert "authorization" not in event["headers"]
        assert event["headers"]["webhook-signature"].startswith("v1,")
    else:
        scheme, _, token = event["headers"]["authorization"].partition(" ")
        parsed = parse(token)
        assert scheme == "Bearer"
        assert parsed is not None
        assert parsed.kind is (TokenKind.pat if api_id == "ManagementApi" else TokenKind.access_key)

    # And an Apps event addresses an App id, by path parameter or by <app_id>.<AppsDomain> host
    if api_id == "AppsApi":
        path_app_id = (event.get("pathParameters") or {}).get("app_id")
        host = event["headers"]["host"]
        app_id = path_app_id or host.removesuffix(f".{APPS_DOMAIN}")
        assert path_app_id or host.endswith(f".{APPS_DOMAIN}"), f"{path.name} addresses no App"
        assert is_id("app", app_id), f"{app_id} is not an App id"
