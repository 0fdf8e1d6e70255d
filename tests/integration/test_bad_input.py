"""No 5xx on bad input (issue 12, point 6), through both handlers on moto: JSON nested deeper than
``MAX_JSON_DEPTH`` is 400 before any parser recurses, a date-time without a time zone is 422, types are
strict, a cursor is checked completely and a too long one is 400; each next to the legitimate request it
resembles."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from switchboard.json_limits import MAX_JSON_DEPTH
from switchboard.store.table import MAX_CURSOR_CHARS
from tests.integration.apps_runtime import Runtime, app_runtime
from tests.integration.conftest import World, definition, error_of


@pytest.fixture
def rt(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with app_runtime(world, monkeypatch) as runtime:
        yield runtime


def _nested(depth: int) -> str:
    """JSON text of ``depth`` nested arrays around an empty one's place."""
    return "[" * depth + "]" * depth


def _project_body(world: World, extra_depth: int) -> str:
    """A project whose ``tags`` (an unknown field) nests the body ``extra_depth`` + 1 levels deep."""
    return f'{{"org_id": "{world.org_id}", "name": "deep", "tags": {_nested(extra_depth)}}}'


def test_json_nested_deeper_than_the_limit_is_400_on_the_management_api(world: World) -> None:
    # Given a body nested exactly to the limit, and ones a level deeper and 10 000 deep
    at_limit = _project_body(world, MAX_JSON_DEPTH - 1)
    # When each is posted
    # Then the one at the limit is parsed and validated (422: tags is no field of a project)
    error_of(
        world.call("POST", "/v1/projects", token=world.admin.token, raw_body=at_limit),
        422,
        "validation_failed",
    )
    # And the deeper ones are refused before parsing, with no 5xx
    for deeper in (_project_body(world, MAX_JSON_DEPTH), _nested(10_000)):
        error_of(
            world.call("POST", "/v1/projects", token=world.admin.token, raw_body=deeper), 400, "json_too_deep"
        )
    # And brackets inside strings do not count
    text = json.dumps({"org_id": world.org_id, "name": "[{" * 50})
    created = world.call("POST", "/v1/projects", token=world.admin.token, raw_body=text)
    assert created.status == 201, created.body
    assert created.body["data"]["name"] == "[{" * 50


def test_a_definition_5000_deep_is_400_and_a_normal_one_saves(world: World) -> None:
    # Given a workflow definition holding a value nested 5 000 deep
    deep = '{"definition": {"nodes": ' + _nested(5_000) + "}}"
    # When it is saved / Then it is refused before parsing
    reply = world.call("PUT", f"/v1/workflows/{world.workflow_id}", token=world.admin.token, raw_body=deep)
    error_of(reply, 400, "json_too_deep")
    # And the real definition saves as a new version
    saved = world.call(
        "PUT",
        f"/v1/workflows/{world.workflow_id}",
        token=world.admin.token,
        body={"definition": definition(world.connection_id)},
    )
    assert (saved.status, saved.body["data"]["version"]["number"]) == (201, 2), saved.body


def test_json_nested_too_deep_is_400_on_the_apps_api(rt: Runtime) -> None:
    # Given run inputs nested 10 000 deep, for both creating routes
    deep = '{"input": {"question": ' + _nested(10_000) + "}}"
    for path in ("/v1/runs", "/"):
        # When each is posted / Then it is 400 and no run is started
        error_of(rt.call("POST", path, raw_body=deep), 400, "json_too_deep")
    assert rt.invoker.started == []
    # And a normal input runs
    reply = rt.call("POST", "/v1/runs", body={"input": {"question": "shallow"}})
    assert (reply.status, reply.body["data"]["status"]) == (200, "completed"), reply.body


def test_an_expiry_without_a_time_zone_is_422(world: World) -> None:
    # Given an access key whose expires_at has no time zone
    body = {"org_id": world.org_id, "name": "naive", "expires_at": "2099-01-01T00:00:00"}
    # When it is created / Then it is 422 naming the field, without echoing the value
    error = error_of(
        world.call("POST", "/v1/access-keys", token=world.admin.token, body=body), 422, "validation_failed"
    )
    assert [(detail["loc"][-1], detail["code"]) for detail in error["details"]] == [
        ("expires_at", "timezone_aware")
    ]
    assert "2099" not in json.dumps(error)
    # And the same moment in UTC creates the key
    aware = world.call(
        "POST",
        "/v1/access-keys",
        token=world.admin.token,
        body={**body, "expires_at": "2099-01-01T00:00:00Z"},
    )
    assert aware.status == 201, aware.body
    assert aware.body["data"]["expires_at"].startswith("2099-01-01T00:00:00")


def test_types_are_strict_a_string_is_not_a_version_number(world: World) -> None:
    # Given a deployment asked with the version as text
    path = f"/v1/apps/{world.app_id}/deployments"
    # When it is posted / Then it is 422: "1" is not 1
    error = error_of(
        world.call("POST", path, token=world.admin.token, body={"version": "1"}), 422, "validation_failed"
    )
    assert [detail["loc"][-1] for detail in error["details"]] == ["version"]
    # And the number deploys
    deployed = world.call("POST", path, token=world.admin.token, body={"version": 1})
    assert (deployed.status, deployed.body["data"]["deployment"]["version"]) == (201, 1), deployed.body


def _cursor(document: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")


def _decoded(token: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))  # type: ignore[no-any-return]


def test_cursors_are_checked_completely(world: World) -> None:
    # Given two projects, listed one per page
    second = world.call(
        "POST", "/v1/projects", token=world.admin.token, body={"org_id": world.org_id, "name": "Two"}
    )
    assert second.status == 201, second.body
    query = {"org_id": world.org_id, "limit": "1"}
    first = world.call("GET", "/v1/projects", token=world.admin.token, query=query)
    assert first.status == 200, first.body
    token = first.body["next_token"]
    key = _decoded(token)
    # When the real cursor is passed back / Then it gives the next page
    following = world.call(
        "GET", "/v1/projects", token=world.admin.token, query={**query, "next_token": token}
    )
    assert following.status == 200, following.body
    assert {p["id"] for p in first.body["data"] + following.body["data"]} >= {
        world.project_id,
        second.body["data"]["id"],
    }
    # And a cursor missing a key attribute, with one of another type, of another partition, or too long is 400
    name = sorted(key)[0]
    forged = [
        _cursor({k: v for k, v in key.items() if k != name}),
        _cursor({**key, name: 7}),
        _cursor({**key, "pk": "ORG#org-someone-else", "gsi1pk": "ORG#org-someone-else"}),
        _cursor({**key, "extra": "x"}),
        "A" * (MAX_CURSOR_CHARS + 1),
    ]
    for cursor in forged:
        reply = world.call(
            "GET", "/v1/projects", token=world.admin.token, query={**query, "next_token": cursor}
        )
        error_of(reply, 400, "invalid_cursor")


def test_a_too_long_cursor_is_400_on_the_apps_api(rt: Runtime) -> None:
    # Given a next_token longer than any cursor / When runs are listed with it / Then it is 400
    reply = rt.call("GET", "/v1/runs", query={"next_token": "A" * (MAX_CURSOR_CHARS + 1)})
    error_of(reply, 400, "invalid_cursor")
    # And without it the listing answers
    listed = rt.call("GET", "/v1/runs")
    assert (listed.status, listed.body["data"]) == (200, []), listed.body
