"""The API functions include a route module's router at the first request for a path it owns
(``switchboard.api.routers``): every documented operation still reaches its route from a cold start, a path
no module owns loads every router and is answered as before, and a cold start imports no route module.

Requests are answered by fresh execution environments (``tests.support.route_probe``: a fresh interpreter
imports the handler, then a forked copy of it answers each request); their tokens are not Switchboard tokens
and AWS is an address nothing listens on, so no request reaches AWS: a 401 is fine here, the route is the
point.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bench.cold_import import _environment, functions
from switchboard.api.routers import OnDemandResolver, RouterTable
from tests.support.stack import http_event

ROOT = Path(__file__).resolve().parents[2]
LAYER = ROOT / "layers" / "common"
DOCUMENTS = {"management": ROOT / "docs" / "openapi.json", "apps": ROOT / "docs" / "openapi-apps.json"}
NO_AWS = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_MAX_ATTEMPTS": "1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
NOT_A_TOKEN = "not-a-switchboard-token"
ROUTE_PACKAGES = {"management": "management_routes", "apps": "apps_routes"}
ROUTE_MODULES = {
    "management": (
        "identity",
        "orgs",
        "invitations",
        "projects",
        "connections",
        "workflows",
        "apps",
        "app_runs",
        "links",
        "triggers",
    ),
    "apps": (
        "info",
        "documents",
        "invoke",
        "runs",
        "streams",
        "deliveries",
        "requirements",
        "connect",
        "connect_page",
        "oauth2_callback",
        "triggers",
    ),
}
APP_ID = "app-q3x7kd2mzpw5rt4vn6bs"


def _run(function: str, code: str, stdin: str = "") -> Any:
    """``code`` run just after ``import app`` of ``function`` in a fresh interpreter; its last line (JSON)."""
    found = functions()[function]
    paths = [str(found.directory), str(LAYER)]
    done = subprocess.run(
        [sys.executable, "-c", f"import json, sys; sys.path[:0] = {paths!r}\nimport app\n{code}"],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**_environment(found.environment), **NO_AWS},
        cwd=ROOT,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def _probe(function: str, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    code = "from tests.support.route_probe import probe_fresh\nprobe_fresh(app.app)"
    reports: list[dict[str, Any]] = _run(function, code, json.dumps(events))
    return reports


def _without_nonce(body: str) -> str:
    """A body with the connect page's per-answer CSP nonce blanked."""
    return re.sub(r'nonce="[^"]*"', 'nonce=""', body)


def _routers(report: dict[str, Any], function: str) -> list[str]:
    """The route modules whose routers the fresh environment had included (not the handler's own routes)."""
    package = ROUTE_PACKAGES[function]
    return [module for module in report["fresh"]["included"] if module.startswith(f"{package}.")]


def _event(function: str, method: str, path: str) -> dict[str, Any]:
    """A request for ``path`` (an OpenAPI path, ids filled in), as API Gateway sends it to ``function``."""
    concrete = re.sub(r"\{(\w+)\}", lambda name: f"sample-{name.group(1).replace('_', '-')}", path)
    if function == "management":
        return http_event(method, concrete, token=NOT_A_TOKEN)
    addressed = f"/apps/{APP_ID}" + ("" if concrete == "/" else concrete)
    return http_event(
        method,
        addressed,
        token=NOT_A_TOKEN,
        route_key="ANY /apps/{app_id}/{proxy+}",
        path_parameters={"app_id": APP_ID},
    )


def _operations(function: str) -> list[tuple[str, str]]:
    document = json.loads(DOCUMENTS[function].read_text())
    return [
        (method.upper(), path)
        for path, operations in document["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def test_every_documented_operation_reaches_its_route_from_a_cold_start() -> None:
    for function in ("management", "apps"):
        # Given every operation of the function's committed OpenAPI document, as a request with sample ids
        operations = _operations(function)
        events = [_event(function, method, path) for method, path in operations]
        # When a fresh execution environment answers each one (a cold start, then that one request)
        reports = _probe(function, events)
        for (method, path), report in zip(operations, reports, strict=True):
            fresh, loaded = report["fresh"], report["loaded"]
            # Then the route that handles it with every router included is there and is the one picked
            assert loaded["route"] is not None, (function, method, path)
            assert fresh["route"] == loaded["route"], (function, method, path)
            # (its module included on demand) and it was answered like the fully loaded resolver answers it
            owner = loaded["route"].rsplit(".", 1)[0]
            assert owner in _routers(report, function), (function, method, path)
            assert fresh["answer"]["statusCode"] == loaded["answer"]["statusCode"], (function, method, path)
            assert _without_nonce(fresh["answer"]["body"]) == _without_nonce(loaded["answer"]["body"]), (
                function,
                method,
                path,
            )
            # and the table claims its path: it did not include every router (the fallback for unknown paths)
            assert len(_routers(report, function)) < len(ROUTE_MODULES[function]), (function, method, path)


def test_a_path_no_router_owns_loads_every_router_and_answers_404_as_before() -> None:
    # Given unknown paths of the Apps API (no token: an App may be public), and a known one, another method
    events = [
        _event("apps", "GET", "/v1/nothing-here"),
        _event("apps", "GET", "/v1/requirements/unknown"),
        _event("apps", "DELETE", "/v1/runs"),
    ]
    for event in events:
        del event["headers"]["authorization"]
    # When a fresh execution environment answers each one
    reports = _probe("apps", events)
    for report in reports:
        fresh, loaded = report["fresh"], report["loaded"]
        # Then it is the error envelope's 404, exactly the fully loaded resolver's answer
        assert fresh["answer"]["statusCode"] == 404
        assert json.loads(fresh["answer"]["body"])["error"]["code"] == "route_not_found"
        assert fresh["answer"] == loaded["answer"]
        assert fresh["route"] is None
    # and a path no module owns included every router first; one a module owns (below /v1/requirements, or
    # /v1/runs whatever the method), only that module's
    every = sorted(f"apps_routes.{module}" for module in ROUTE_MODULES["apps"])
    assert _routers(reports[0], "apps") == every
    assert _routers(reports[1], "apps") == ["apps_routes.requirements"]
    assert _routers(reports[2], "apps") == ["apps_routes.runs"]


def test_an_unknown_management_path_loads_every_router_before_the_guards_answer() -> None:
    # Given a management request for a path no router owns, with a token that is not a Switchboard token
    event = _event("management", "GET", "/v1/nothing-here")
    # When a fresh execution environment answers it
    (report,) = _probe("management", [event])
    # Then the guards answer 401 as before, every router included
    assert report["fresh"]["answer"]["statusCode"] == 401
    assert json.loads(report["fresh"]["answer"]["body"])["error"]["code"] == "malformed_token"
    assert report["fresh"]["answer"] == report["loaded"]["answer"]
    every = sorted(f"management_routes.{module}" for module in ROUTE_MODULES["management"])
    assert _routers(report, "management") == every


def test_importing_an_api_handler_imports_no_route_module() -> None:
    for function, package in ROUTE_PACKAGES.items():
        # Given a fresh interpreter with the function's directory and the layer
        modules = [f"{package}.{module}" for module in ROUTE_MODULES[function]]
        # When it imports the handler (a cold start, before any request)
        imported = _run(function, f"print(json.dumps([name for name in {modules!r} if name in sys.modules]))")
        # Then none of the route modules came with it
        assert imported == [], function


def test_a_request_imports_only_the_route_modules_its_path_needs() -> None:
    # Given a fresh interpreter that imported the management handler
    event = _event("management", "GET", "/v1/me")
    modules = [f"management_routes.{module}" for module in ROUTE_MODULES["management"]]
    imported_now = f"[name for name in {modules!r} if name in sys.modules]"
    code = f"app.app.resolve({event!r}, None)\nprint(json.dumps({imported_now}))"
    # When it answers GET /v1/me
    imported = _run("management", code)
    # Then only the identity routes were imported
    assert imported == ["management_routes.identity"]


def test_a_router_table_gives_the_modules_owning_a_path_or_all_of_them() -> None:
    # Given a table with an exact rule, a rule with a segment, and a rule owning everything below it
    table = RouterTable("routes", {"a": ("/",), "b": ("/v1/things/<id>",), "c": ("/v1/things/<id>/parts/*",)})
    # When paths are looked up / Then each goes to the modules that own it
    assert table.modules_for("/") == ("a",)
    assert table.modules_for("/v1/things/x1") == ("b",)
    assert table.modules_for("/v1/things/x1/parts") == ("c",)
    assert table.modules_for("/v1/things/x1/parts/p2/more") == ("c",)
    # and a path nobody owns (an empty segment is none), or no path at all, to every module
    assert table.modules_for("/v1/things/") == ("a", "b", "c")
    assert table.modules_for("/v1/things/x1/partsx") == ("a", "b", "c")
    assert table.modules_for(None) == ("a", "b", "c")


ORDER_ROUTES = """
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

router = APIGatewayHttpRouter()


@router.get("/things/<{module}_id>")
def thing(**ids: str) -> dict[str, str]:
    return {{"answered_by": "{module}"}}


@router.get("/only-{module}")
def only() -> dict[str, str]:
    return {{"answered_by": "{module}"}}
"""


def test_routers_included_late_keep_the_tables_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given two route modules that both route GET /things/<id>, the first one in the table ahead
    package = tmp_path / "order_probe_routes"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for module in ("first", "second"):
        (package / f"{module}.py").write_text(ORDER_ROUTES.format(module=module))
    monkeypatch.syspath_prepend(str(tmp_path))
    table = RouterTable(
        "order_probe_routes",
        {"first": ("/things/<first_id>", "/only-first"), "second": ("/things/<second_id>", "/only-second")},
    )
    app = OnDemandResolver(routers=table)
    # When a request the second module alone owns comes first, then one both own
    alone = http_event("GET", "/only-second")
    both = http_event("GET", "/things/t1")
    app.load_routers_for(alone)
    first_answer = app.resolve(alone, None)  # type: ignore[arg-type]
    app.load_routers_for(both)
    second_answer = app.resolve(both, None)  # type: ignore[arg-type]
    # Then each is answered, the shared path by the first module's route, as with every router included
    assert (first_answer["statusCode"], json.loads(first_answer["body"])) == (200, {"answered_by": "second"})
    assert (second_answer["statusCode"], json.loads(second_answer["body"])) == (200, {"answered_by": "first"})
    everything = OnDemandResolver(routers=table)
    everything.load_all()
    answer = everything.resolve(both, None)  # type: ignore[arg-type]
    assert (answer["statusCode"], json.loads(answer["body"])) == (200, {"answered_by": "first"})
