"""An App's run limits through the management API: ``run_timeout_seconds`` (the whole time a run may take)
and ``sync_wait_seconds`` (how long a synchronous request waits), their defaults, bounds and who may set them;
each run keeps the timeout it was created with, and its deadline."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from switchboard.runtime.identity.bootstrap import bootstrap_admin
from tests.integration.conftest import World
from tests.support.run_states import created_run


def _app(world: World, app_id: str | None = None) -> dict[str, Any]:
    reply = world.call("GET", f"/v1/apps/{app_id or world.app_id}", token=world.admin.token)
    assert reply.status == 200, reply.body
    return reply.body["data"]  # type: ignore[no-any-return]


def _patch(world: World, body: dict[str, Any], token: str | None = None) -> Any:
    return world.call("PATCH", f"/v1/apps/{world.app_id}", token=token or world.admin.token, body=body)


def _limits(app: dict[str, Any]) -> tuple[int, int]:
    return app["run_timeout_seconds"], app["sync_wait_seconds"]


def test_an_app_has_the_default_limits_until_they_are_set(world: World) -> None:
    # Given the world's App, created without limits / Then it has the defaults: a 3600 s run, a 25 s sync wait
    app = _app(world)
    assert _limits(app) == (3600, 25)
    # When both are set / Then the App shows them, and an unrelated change keeps them
    reply = _patch(world, {"run_timeout_seconds": 86_400, "sync_wait_seconds": 28})
    assert reply.status == 200, reply.body
    assert (reply.body["data"]["run_timeout_seconds"], reply.body["data"]["sync_wait_seconds"]) == (
        86_400,
        28,
    )
    renamed = _patch(world, {"name": "Renamed"})
    assert renamed.status == 200
    assert (renamed.body["data"]["run_timeout_seconds"], renamed.body["data"]["sync_wait_seconds"]) == (
        86_400,
        28,
    )


def test_an_app_is_created_with_its_limits(world: World) -> None:
    # Given a new App's body with a 60 s run timeout and a 5 s sync wait
    body = {
        "project_id": world.project_id,
        "name": "Quick",
        "workflow_id": world.workflow_id,
        "run_timeout_seconds": 60,
        "sync_wait_seconds": 5,
    }
    # When it is created
    reply = world.call("POST", "/v1/apps", token=world.admin.token, body=body)
    # Then the App is created with them, and a later read shows them
    assert reply.status == 201, reply.body
    assert _limits(reply.body["data"]) == (60, 5)
    assert _app(world, reply.body["data"]["id"])["run_timeout_seconds"] == 60


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"run_timeout_seconds": 0}, "run_timeout_seconds"),
        ({"run_timeout_seconds": 86_401}, "run_timeout_seconds"),
        ({"run_timeout_seconds": 1.5}, "run_timeout_seconds"),
        ({"sync_wait_seconds": 29}, "sync_wait_seconds"),
        ({"sync_wait_seconds": 0}, "sync_wait_seconds"),
    ],
)
def test_limits_out_of_bounds_are_422_naming_the_field(
    world: World, body: dict[str, Any], field: str
) -> None:
    # Given a run timeout of 0, over a day or a fraction, or a sync wait of 0 or over 28 s
    # When the App's limit is set to it
    reply = _patch(world, body)
    # Then it is 422 validation_failed naming the field, and the App keeps its default timeout
    assert (reply.status, reply.body["error"]["code"]) == (422, "validation_failed"), reply.body
    assert [detail["loc"] for detail in reply.body["error"]["details"]] == [[field]]
    assert _app(world)["run_timeout_seconds"] == 3600


def test_only_project_editors_set_limits_and_other_orgs_do_not_see_the_app(world: World) -> None:
    # Given a project viewer, and an admin of another org
    viewer = world.token_for("viewer@example.com", project_role="viewer")
    # When each sets the App's run timeout
    refused = _patch(world, {"run_timeout_seconds": 60}, token=viewer)
    # Then the viewer is 403 forbidden, the other org 404 not_found, and the timeout stays the default
    assert (refused.status, refused.body["error"]["code"]) == (403, "forbidden"), refused.body
    stranger = bootstrap_admin("stranger@example.org", "Elsewhere").token
    hidden = _patch(world, {"run_timeout_seconds": 60}, token=stranger)
    assert (hidden.status, hidden.body["error"]["code"]) == (404, "not_found"), hidden.body
    assert _app(world)["run_timeout_seconds"] == 3600


def test_a_run_keeps_the_timeout_it_was_created_with_and_its_deadline(world: World) -> None:
    # Given the App's run timeout set to 120 s and its version 1 deployed
    assert _patch(world, {"run_timeout_seconds": 120}).status == 200
    world.call("POST", f"/v1/apps/{world.app_id}/deployments", token=world.admin.token, body={"version": 1})
    # When a run is created
    run = created_run(world.app_id, {"question": "q"})
    # Then the run keeps the 120 s timeout, with its deadline 120 s after its creation
    assert run.timeout_seconds == 120
    assert run.deadline_at == run.created_at + timedelta(seconds=120)
    # A later change does not move an existing run's deadline
    assert _patch(world, {"run_timeout_seconds": 600}).status == 200
    shown = world.call("GET", f"/v1/apps/{world.app_id}/runs/{run.id}", token=world.admin.token)
    assert shown.status == 200, shown.body
    assert datetime.fromisoformat(shown.body["data"]["deadline_at"]) == run.deadline_at
