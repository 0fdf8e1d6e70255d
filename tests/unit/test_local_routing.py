"""Route selection follows API Gateway HTTP APIs: most specific route first, API chosen by host."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard_cli.local.functions import function_specs
from switchboard_cli.local.routing import HostBinding, Route, Router, router_from_template, split_request_path
from switchboard_cli.local.template import Template

ROOT = Path(__file__).resolve().parents[2]


def router(*routes: tuple[str, str, str], api_order: tuple[str, ...] = ("Api",)) -> Router:
    return Router(tuple(Route("Api", method, path, function) for method, path, function in routes), api_order)


@pytest.mark.parametrize(
    ("method", "path", "expected_function", "expected_parameters"),
    [
        ("GET", "/pets/dog/1", "exact", {}),
        ("GET", "/pets/dog/2", "param", {"id": "2"}),
        ("GET", "/pets/cat/2", "greedy", {"proxy": "cat/2"}),
        ("GET", "/pets/dog", "greedy", {"proxy": "dog"}),
        ("DELETE", "/pets/dog/1", "any-exact", {}),
        ("GET", "/other", "root-greedy", {"proxy": "other"}),
    ],
)
def test_exact_beats_parameter_beats_greedy(method, path, expected_function, expected_parameters):
    # Given overlapping routes
    routes = router(
        ("ANY", "/{proxy+}", "root-greedy"),
        ("GET", "/pets/{proxy+}", "greedy"),
        ("GET", "/pets/dog/{id}", "param"),
        ("GET", "/pets/dog/1", "exact"),
        ("ANY", "/pets/dog/1", "any-exact"),
    )

    # When a request arrives
    match = routes.match("localhost", method, path)

    # Then the most specific route takes it
    assert match is not None
    assert match.route.function_id == expected_function
    assert match.path_parameters == expected_parameters


def test_a_literal_segment_earlier_beats_a_parameter_earlier():
    routes = router(("GET", "/{kind}/list", "param-first"), ("GET", "/pets/{id}", "literal-first"))
    match = routes.match("localhost", "GET", "/pets/list")
    assert match is not None
    assert match.route.function_id == "literal-first"


def test_a_later_apis_route_in_full_beats_an_earlier_apis_parameters_on_a_shared_host():
    # Given two APIs on one host: the first catches every path under /v1, the second spells one out in full
    routes = Router(
        (
            Route("First", "ANY", "/v1/{proxy+}", "first"),
            Route("Second", "GET", "/v1/callback", "second"),
            Route("Second", "ANY", "/{proxy+}", "second-greedy"),
        ),
        ("First", "Second"),
    )
    # When the path spelled out, and another under /v1, arrive
    spelled, other = routes.match("h", "GET", "/v1/callback"), routes.match("h", "GET", "/v1/runs")
    # Then the route in full takes its path (as its own host would on AWS); the first API keeps the rest
    assert spelled is not None
    assert spelled.route.function_id == "second"
    assert other is not None
    assert other.route.function_id == "first"


def test_method_specific_route_beats_any_and_other_methods_miss():
    routes = router(("ANY", "/items", "any"), ("POST", "/items", "post"))
    post, get = routes.match("h", "POST", "/items"), routes.match("h", "get", "/items")
    assert post is not None
    assert post.route.function_id == "post"
    assert get is not None
    assert get.route.function_id == "any"
    assert router(("POST", "/items", "post")).match("h", "GET", "/items") is None


def test_greedy_needs_at_least_one_segment():
    routes = router(("ANY", "/v1/{proxy+}", "v1"))
    assert routes.match("h", "GET", "/v1") is None
    assert routes.match("h", "GET", "/v1/") is None
    match = routes.match("h", "GET", "/v1/a/b/c")
    assert match is not None
    assert match.path_parameters == {"proxy": "a/b/c"}


def test_no_route_is_none_and_default_route_catches_the_rest():
    assert router(("GET", "/a", "a")).match("h", "GET", "/b") is None
    match = router(("GET", "/a", "a"), ("ANY", "$default", "default")).match("h", "GET", "/b/c")
    assert match is not None
    assert (match.route.function_id, match.route.route_key) == ("default", "$default")


def test_path_parameters_are_percent_decoded_and_a_trailing_slash_is_ignored():
    assert split_request_path("/apps/app%20x/?q=1") == ["apps", "app x"]
    assert split_request_path("/") == []
    match = router(("ANY", "/apps/{app_id}", "root")).match("h", "GET", "/apps/app-x/")
    assert match is not None
    assert match.path_parameters == {"app_id": "app-x"}


def test_host_under_a_bound_domain_reaches_that_api_only():
    # Given two APIs and a domain bound to the second
    routes = Router(
        (Route("Management", "ANY", "/v1/{proxy+}", "management"), Route("Apps", "ANY", "/{proxy+}", "apps")),
        api_order=("Management", "Apps"),
        host_bindings=(HostBinding("apps.localhost", "Apps"),),
    )

    # Then a plain host tries Management first; an app host goes to Apps only
    by_plain_host = routes.match("127.0.0.1:3000", "GET", "/v1/me")
    by_app_host = routes.match("app-x.apps.localhost:3000", "GET", "/v1/me")
    assert by_plain_host is not None
    assert by_plain_host.route.function_id == "management"
    assert by_app_host is not None
    assert by_app_host.route.function_id == "apps"
    assert routes.apis_for_host("apps.localhost:3000") == ("Management", "Apps")


@pytest.fixture(scope="module")
def project_router() -> Router:
    template = Template.from_file(ROOT / "template.yaml", {"AppsDomain": "apps.localhost:3000"})
    return router_from_template(template, function_specs(template).values())


@pytest.mark.parametrize(
    ("host", "path", "function", "route_key", "parameters"),
    [
        ("127.0.0.1:3000", "/v1/me", "ManagementFunction", "ANY /v1/{proxy+}", {"proxy": "me"}),
        ("127.0.0.1:3000", "/apps/app-x", "AppsFunction", "ANY /apps/{app_id}", {"app_id": "app-x"}),
        ("127.0.0.1:3000", "/apps/app-x/", "AppsFunction", "ANY /apps/{app_id}", {"app_id": "app-x"}),
        (
            "127.0.0.1:3000",
            "/apps/app-x/v1/runs",
            "AppsFunction",
            "ANY /apps/{app_id}/{proxy+}",
            {"app_id": "app-x", "proxy": "v1/runs"},
        ),
        ("127.0.0.1:3000", "/", "AppsFunction", "ANY /", {}),
        ("app-x.apps.localhost:3000", "/", "AppsFunction", "ANY /", {}),
        ("app-x.apps.localhost:3000", "/v1/me", "AppsFunction", "ANY /{proxy+}", {"proxy": "v1/me"}),
        ("127.0.0.1:3000", "/v1/oauth2/callback", "AppsFunction", "GET /v1/oauth2/callback", {}),
        (
            "127.0.0.1:3000",
            "/v1/oauth2/other",
            "ManagementFunction",
            "ANY /v1/{proxy+}",
            {"proxy": "oauth2/other"},
        ),
    ],
)
def test_project_routes(project_router: Router, host, path, function, route_key, parameters):
    match = project_router.match(host, "GET", path)
    assert match is not None
    assert (match.route.function_id, match.route.route_key, match.path_parameters) == (
        function,
        route_key,
        parameters,
    )


def test_project_api_order_and_domain_binding_come_from_the_template(project_router: Router):
    assert project_router.api_order == ("ManagementApi", "AppsApi")
    assert project_router.host_bindings == (HostBinding("apps.localhost", "AppsApi"),)
