"""Who may call an App, over real HTTP on the local stack: every authentication and authorization failure on
every App route, in both addressing forms, and a public App that needs no key."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.app_world import AppWorld, Form, build_app_world, scripted_upstream
from tests.e2e.conftest import LocalStackProcess
from tests.support.fakes import HttpTarget

pytestmark = pytest.mark.e2e

UNKNOWN_KEY = "sb_ak_" + "a" * 20 + "A" * 43
"""Well-formed, but no such access key exists."""
EXPIRES_IN_S = 2
FORMS: tuple[Form, ...] = ("path", "host")


@pytest.fixture(scope="module")
def upstream() -> Iterator[HttpTarget]:
    with scripted_upstream() as target:
        yield target


@pytest.fixture(scope="module")
def world(local_stack: LocalStackProcess, upstream: HttpTarget) -> AppWorld:
    return build_app_world(local_stack, upstream.url, name="Auth")


def app_routes(run_id: str) -> list[tuple[str, str, Any]]:
    """Every App route, with a body where it takes one."""
    run = {"input": {"question": "q"}}
    return [
        ("GET", "/", None),
        ("GET", "/openapi.json", None),
        ("GET", "/docs", None),
        ("POST", "/", run),
        ("POST", "/v1/runs", run),
        ("GET", "/v1/runs", None),
        ("GET", f"/v1/runs/{run_id}", None),
        ("POST", f"/v1/runs/{run_id}/cancel", None),
        ("GET", f"/v1/runs/{run_id}/events", None),
        ("GET", f"/v1/runs/{run_id}/stream", None),
        ("GET", f"/v1/runs/{run_id}/deliveries", None),
    ]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_auth_failure_on_every_app_route(world: AppWorld, upstream: HttpTarget) -> None:
    api, stack = world.api, world.stack
    # Given a run of the private App, made with its org-wide key
    run = world.call("POST", "/v1/runs", json_body={"input": {"question": "mine"}})
    assert run.status == 200, run.text
    run_id = run.body["data"]["id"]
    # And credentials of every wrong kind: a revoked key, a key about to expire, a PAT, a key scoped to
    # another project of the org, and a key of another organization
    revoked = api.access_key(stack.org_id)
    api("DELETE", f"/v1/access-keys/{revoked.id}", expect=200)
    expiry = datetime.now(UTC) + timedelta(seconds=EXPIRES_IN_S)
    expiring = api.access_key(stack.org_id, expires_at=expiry.isoformat())
    other_project = api("POST", "/v1/projects", {"org_id": stack.org_id, "name": "Elsewhere"}, expect=201)
    other_project_key = api.access_key(stack.org_id, project_id=other_project["id"])
    other_org = api("POST", "/v1/orgs", {"name": "Other Org"}, expect=201)
    other_org_key = api.access_key(other_org["id"])
    # And the expiring key worked while it was valid
    assert world.call("GET", "/", token=expiring.token).status == 200
    time.sleep(max(0.0, (expiry - datetime.now(UTC)).total_seconds() + 0.5))
    upstream_calls = len(upstream.requests)
    wrong_secret = world.key[:-4] + ("AAAA" if not world.key.endswith("AAAA") else "BBBB")
    cases: list[tuple[dict[str, str], int, str]] = [
        ({}, 401, "missing_token"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, 401, "malformed_token"),
        (bearer("not-a-switchboard-token"), 401, "malformed_token"),
        (bearer(UNKNOWN_KEY), 401, "invalid_token"),
        (bearer(wrong_secret), 401, "invalid_token"),
        (bearer(revoked.token), 401, "token_revoked"),
        (bearer(expiring.token), 401, "token_expired"),
        (bearer(stack.pat), 403, "wrong_token_type"),
        (bearer(other_project_key.token), 403, "wrong_project"),
        (bearer(other_org_key.token), 404, "not_found"),
    ]
    for credential, status, code in cases:
        # Every route by path, and the direct invoke by host as well
        attempts: list[tuple[str, str, Any, Form]] = [(*route, "path") for route in app_routes(run_id)]
        attempts.append(("POST", "/", {"input": {"question": "q"}}, "host"))
        for method, path, body, form in attempts:
            # When the App is called with it
            reply = world.call(method, path, form=form, token=None, headers=credential, json_body=body)
            # Then it is refused with the status and code of that failure, in the error envelope
            where = (code, method, path, form, reply.text)
            assert (reply.status, reply.headers.get("content-type")) == (status, "application/json"), where
            assert set(reply.body) == {"error"}, where
            assert reply.body["error"]["code"] == code, where
    # And an unknown App is 404 even with a valid key, by path and by host
    for form in FORMS:
        unknown = world.call(
            "POST", "/", form=form, app_id="app-aaaaaaaaaaaaaaaaaaaa", json_body={"input": {"question": "q"}}
        )
        assert (unknown.status, unknown.body["error"]["code"]) == (404, "not_found"), unknown.text
    # And nothing ran: the upstream was never called and the App still has its one run
    assert len(upstream.requests) == upstream_calls
    listed = world.call("GET", "/v1/runs")
    assert [r["id"] for r in listed.body["data"]] == [run_id]
    # And a key scoped to the App's own project may call it
    scoped = api.access_key(stack.org_id, project_id=world.project_id)
    allowed = world.call(
        "POST", "/v1/runs", form="host", token=scoped.token, json_body={"input": {"question": "scoped"}}
    )
    assert allowed.status == 200, allowed.text
    assert allowed.body["data"]["status"] == "completed"


def test_a_public_app_runs_without_a_key_but_never_with_a_pat(world: AppWorld) -> None:
    # Given a second App of the project, deployed and made public
    api = world.api
    app = api(
        "POST",
        "/v1/apps",
        {"project_id": world.project_id, "name": "Public", "workflow_id": world.workflow_id},
        expect=201,
    )
    api("POST", f"/v1/apps/{app['id']}/deployments", {"version": 1}, expect=201)
    assert api("PATCH", f"/v1/apps/{app['id']}", {"access": "public"}, expect=200)["access"] == "public"
    # When it is invoked without any key, by path and by host
    for form in FORMS:
        reply = world.call(
            "POST", "/", form=form, token=None, app_id=app["id"], json_body={"input": {"question": "anyone"}}
        )
        # Then it runs, for nobody in particular
        assert reply.status == 200, reply.text
        assert (reply.body["data"]["app_id"], reply.body["data"]["status"]) == (app["id"], "completed")
        assert reply.body["data"]["user_id"] is None
        # And only its run token, shown once in the answer and its X-Run-Token header, reads the run again
        run_id, run_token = reply.body["data"]["id"], reply.body["data"]["run_token"]
        assert reply.headers["x-run-token"] == run_token
        path = f"/v1/runs/{run_id}"
        read = world.call(
            "GET", path, form=form, token=None, app_id=app["id"], headers={"X-Run-Token": run_token}
        )
        assert (read.status, read.body["data"]["id"]) == (200, run_id), read.text
        refused = world.call("GET", path, form=form, token=None, app_id=app["id"])
        assert (refused.status, refused.body["error"]["code"]) == (401, "missing_token")
    # And a PAT is still the wrong kind of token for an App
    pat = world.call(
        "POST", "/", token=world.stack.pat, app_id=app["id"], json_body={"input": {"question": "q"}}
    )
    assert (pat.status, pat.body["error"]["code"]) == (403, "wrong_token_type")
