"""The Apps API: addressing by path and by host, and who may call an App."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.integration.conftest import Reply
from tests.support.stack import LambdaContextStub, http_event, load_function


@pytest.fixture
def apps_call(stack):
    handler = load_function("apps").lambda_handler

    def call(
        app_id: str, *, form: str = "path", token: str | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        if form == "path":
            event = http_event(
                "GET",
                f"/apps/{app_id}",
                token=token,
                headers=headers,
                route_key="ANY /apps/{app_id}",
                path_parameters={"app_id": app_id},
            )
        else:
            event = http_event(
                "GET",
                "/",
                token=token,
                headers=headers,
                route_key="ANY /",
                path_parameters=None,
                host=f"{app_id}.apps.example.test",
            )
            event.pop("pathParameters")
        result: dict[str, Any] = handler(event, LambdaContextStub())
        return Reply(
            result["statusCode"], result.get("headers") or {}, json.loads(result["body"]), result["body"]
        )

    return call


def _key(world, project_id=None) -> str:
    body = {"org_id": world.org_id, "name": "k", **({"project_id": project_id} if project_id else {})}
    reply = world.call("POST", "/v1/access-keys", token=world.admin.token, body=body)
    assert reply.status == 201
    return reply.body["data"]["token"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("form", ["path", "host"])
def test_both_addressing_forms_reach_the_app(world, apps_call, form):
    # Given a deployed private App and an org-wide access key
    world.call("POST", f"/v1/apps/{world.app_id}/deployments", token=world.admin.token, body={"version": 1})
    key = _key(world)
    # When the App is called by path and by host
    reply = apps_call(world.app_id, form=form, token=key)
    # Then it answers with itself
    assert reply.status == 200
    assert reply.body["data"] == {
        "id": world.app_id,
        "name": "Triage",
        "access": "private",
        "deployed_version": 1,
    }


def test_auth_failures_on_an_app_route(world, apps_call, management):
    # Given a key scoped to another project, an admin of another org with an org-wide key of its own
    scoped_elsewhere = _key(
        world,
        project_id=world.call(
            "POST", "/v1/projects", token=world.admin.token, body={"org_id": world.org_id, "name": "B"}
        ).body["data"]["id"],
    )
    from switchboard.runtime.identity.bootstrap import bootstrap_admin

    stranger = bootstrap_admin("s@example.org", "Other")
    stranger_key = management(
        "POST", "/v1/access-keys", token=stranger.token, body={"org_id": stranger.org_id, "name": "k"}
    ).body["data"]["token"]
    cases = [
        ({}, 401, "missing_token"),
        ({"token": "garbage"}, 401, "malformed_token"),
        ({"token": world.admin.token}, 403, "wrong_token_type"),
        ({"token": scoped_elsewhere}, 403, "wrong_project"),
        ({"token": stranger_key}, 404, "not_found"),
    ]
    # When the App is called with no token, garbage, an admin token, each of those keys, or an unknown App
    # Then each is refused with its own status and code, and an unknown App is 404
    for kwargs, status, code in cases:
        reply = apps_call(world.app_id, **kwargs)
        assert (reply.status, reply.body["error"]["code"]) == (status, code), kwargs
    assert apps_call("app_unknown", token=_key(world)).status == 404


def test_public_apps_need_no_key(world, apps_call):
    # Given the App made public
    world.call("PATCH", f"/v1/apps/{world.app_id}", token=world.admin.token, body={"access": "public"})
    # When it is called without a key, and with an admin token / Then the first is 200, the second 403
    assert apps_call(world.app_id).status == 200
    assert apps_call(world.app_id, token=world.admin.token).status == 403


def test_project_scoped_key_reaches_its_project(world, apps_call):
    # Given an access key scoped to the App's project
    # When the App is called with it / Then it answers 200
    assert apps_call(world.app_id, token=_key(world, world.project_id)).status == 200
