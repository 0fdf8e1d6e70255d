"""Every management route refuses a missing token (401), an access key (403) and a stranger (404)."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.runtime.identity.bootstrap import bootstrap_admin
from tests.integration.conftest import World, definition


def _routes(w: World) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, options) for every management route, addressed at the world's resources."""
    member = w.admin.user_id
    return [
        ("GET", f"/v1/orgs/{w.org_id}", {}),
        ("PATCH", f"/v1/orgs/{w.org_id}", {"body": {"name": "x"}}),
        ("GET", f"/v1/orgs/{w.org_id}/members", {}),
        ("POST", f"/v1/orgs/{w.org_id}/invitations", {"body": {"email": "n@example.com"}}),
        ("GET", f"/v1/orgs/{w.org_id}/invitations", {}),
        ("DELETE", f"/v1/orgs/{w.org_id}/invitations/inv-aaaaaaaaaaaaaaaaaaaa", {}),
        ("PATCH", f"/v1/orgs/{w.org_id}/members/{member}", {"body": {"role": "owner"}}),
        ("DELETE", f"/v1/orgs/{w.org_id}/members/{member}", {}),
        ("POST", "/v1/projects", {"body": {"org_id": w.org_id, "name": "x"}}),
        ("GET", "/v1/projects", {"query": {"org_id": w.org_id}}),
        ("GET", f"/v1/projects/{w.project_id}", {}),
        ("PATCH", f"/v1/projects/{w.project_id}", {"body": {"name": "x"}}),
        ("DELETE", f"/v1/projects/{w.project_id}", {}),
        ("GET", f"/v1/projects/{w.project_id}/members", {}),
        ("POST", f"/v1/projects/{w.project_id}/members", {"body": {"email": "owner@example.com"}}),
        ("PATCH", f"/v1/projects/{w.project_id}/members/{member}", {"body": {"role": "viewer"}}),
        ("DELETE", f"/v1/projects/{w.project_id}/members/{member}", {}),
        ("POST", "/v1/access-keys", {"body": {"org_id": w.org_id, "name": "x"}}),
        ("GET", "/v1/access-keys", {"query": {"org_id": w.org_id}}),
        ("DELETE", "/v1/access-keys/ak-aaaaaaaaaaaaaaaaaaaa", {}),
        (
            "POST",
            "/v1/connections",
            {"body": {"project_id": w.project_id, "name": "c", "type": "openai", "config": {"api_key": "k"}}},
        ),
        ("GET", "/v1/connections", {"query": {"project_id": w.project_id}}),
        ("GET", f"/v1/connections/{w.connection_id}", {}),
        ("PATCH", f"/v1/connections/{w.connection_id}", {"body": {"name": "x"}}),
        ("DELETE", f"/v1/connections/{w.connection_id}", {}),
        ("POST", f"/v1/connections/{w.connection_id}/oauth2/authorize", {}),
        (
            "POST",
            "/v1/workflows",
            {"body": {"project_id": w.project_id, "name": "w", "definition": definition()}},
        ),
        ("GET", "/v1/workflows", {"query": {"project_id": w.project_id}}),
        ("GET", f"/v1/workflows/{w.workflow_id}", {}),
        ("PUT", f"/v1/workflows/{w.workflow_id}", {"body": {"definition": definition()}}),
        ("DELETE", f"/v1/workflows/{w.workflow_id}", {}),
        ("GET", f"/v1/workflows/{w.workflow_id}/versions", {}),
        ("GET", f"/v1/workflows/{w.workflow_id}/versions/1", {}),
        (
            "POST",
            "/v1/apps",
            {"body": {"project_id": w.project_id, "name": "a", "workflow_id": w.workflow_id}},
        ),
        ("GET", "/v1/apps", {"query": {"project_id": w.project_id}}),
        ("GET", f"/v1/apps/{w.app_id}", {}),
        ("PATCH", f"/v1/apps/{w.app_id}", {"body": {"name": "x"}}),
        ("DELETE", f"/v1/apps/{w.app_id}", {}),
        ("POST", f"/v1/apps/{w.app_id}/deployments", {"body": {"version": 1}}),
        ("GET", f"/v1/apps/{w.app_id}/deployments", {}),
        ("POST", f"/v1/apps/{w.app_id}/rollback", {}),
        ("POST", f"/v1/apps/{w.app_id}/signing-secret", {}),
        ("GET", f"/v1/apps/{w.app_id}/runs", {}),
        ("GET", f"/v1/apps/{w.app_id}/runs/run-aaaaaaaaaaaaaaaaaaaa", {}),
        ("GET", f"/v1/apps/{w.app_id}/traces", {}),
        ("GET", f"/v1/apps/{w.app_id}/traces/run-aaaaaaaaaaaaaaaaaaaa", {}),
        (
            "GET",
            f"/v1/apps/{w.app_id}/metrics",
            {"query": {"start_time": "2026-03-01T10:00:00Z", "end_time": "2026-03-01T11:00:00Z"}},
        ),
        ("GET", f"/v1/apps/{w.app_id}/sessions", {}),
        ("GET", f"/v1/apps/{w.app_id}/sessions/3f1c2d7e-1b2a-4c3d-9e8f-0a1b2c3d4e5f/messages", {}),
        ("GET", f"/v1/apps/{w.app_id}/links", {"query": {"user_id": "user-42"}}),
        ("GET", f"/v1/apps/{w.app_id}/links/lnk-aaaaaaaaaaaaaaaaaaaa/transitions", {}),
        ("DELETE", f"/v1/apps/{w.app_id}/links/lnk-aaaaaaaaaaaaaaaaaaaa", {}),
        ("POST", f"/v1/apps/{w.app_id}/triggers", {"body": {"name": "t", "type": "webhook"}}),
        ("GET", f"/v1/apps/{w.app_id}/triggers", {}),
        ("GET", f"/v1/apps/{w.app_id}/triggers/trg-aaaaaaaaaaaaaaaaaaaa", {}),
        ("PATCH", f"/v1/apps/{w.app_id}/triggers/trg-aaaaaaaaaaaaaaaaaaaa", {"body": {"enabled": False}}),
        ("DELETE", f"/v1/apps/{w.app_id}/triggers/trg-aaaaaaaaaaaaaaaaaaaa", {}),
        ("GET", f"/v1/apps/{w.app_id}/triggers/trg-aaaaaaaaaaaaaaaaaaaa/events", {}),
        ("GET", f"/v1/apps/{w.app_id}/triggers/trg-aaaaaaaaaaaaaaaaaaaa/events/tev-aaaaaaaaaaaaaaaaaaaa", {}),
    ]


@pytest.fixture
def access_key(world: World) -> str:
    reply = world.call(
        "POST", "/v1/access-keys", token=world.admin.token, body={"org_id": world.org_id, "name": "k"}
    )
    return reply.body["data"]["token"]  # type: ignore[no-any-return]


def test_routes_refuse_missing_tokens_and_access_keys(world: World, access_key: str) -> None:
    # When each management route that addresses the org's resources is called
    for method, path, options in _routes(world):
        # Given no token
        anonymous = world.call(method, path, **options)
        # Then 401
        assert anonymous.status == 401, (method, path)
        # Given an access key of the same org
        keyed = world.call(method, path, token=access_key, **options)
        # Then 403: a valid credential of the wrong kind
        assert keyed.status == 403, (method, path)
        assert keyed.body["error"]["code"] == "wrong_token_type"


def test_routes_hide_everything_from_another_org(world: World) -> None:
    # Given an admin of another org
    stranger = bootstrap_admin("stranger@example.org", "Elsewhere")
    for method, path, options in _routes(world):
        # When a member of another org calls any route aimed at this org's resources
        reply = world.call(method, path, token=stranger.token, **options)
        # Then the resource is invisible
        assert reply.status == 404, (method, path, reply.body)
        assert reply.body["error"]["code"] == "not_found"
    # And nothing changed for the owner
    assert (
        world.call("GET", f"/v1/apps/{world.app_id}", token=world.admin.token).body["data"]["name"]
        == "Triage"
    )


def test_routes_of_another_project_are_invisible_to_its_non_members(world: World) -> None:
    # Given an org member who belongs to a different project only
    other_project = world.call(
        "POST", "/v1/projects", token=world.admin.token, body={"org_id": world.org_id, "name": "B"}
    )
    token = world.token_for("b-editor@example.com")
    world.call(
        "POST",
        f"/v1/projects/{other_project.body['data']['id']}/members",
        token=world.admin.token,
        body={"email": "b-editor@example.com", "role": "editor"},
    )
    project_routes = [r for r in _routes(world) if "/v1/orgs" not in r[1] and "access-keys" not in r[1]]
    for method, path, options in project_routes:
        if method in ("POST", "GET") and path in ("/v1/projects",):
            continue
        # When they address the first project's resources
        reply = world.call(method, path, token=token, **options)
        # Then those are invisible
        assert reply.status == 404, (method, path, reply.body)


def test_every_documented_management_route_is_in_the_matrix(world: World) -> None:
    # Given the committed OpenAPI document of the management API
    import json
    import re
    from pathlib import Path

    document = json.loads((Path(__file__).resolve().parents[2] / "docs" / "openapi.json").read_text())
    documented = {
        (method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
        for path, operations in document["paths"].items()
        for method in operations
        if path
        not in (
            "/v1/openapi.json",
            "/v1/docs",
            "/v1/me",
            "/v1/tokens",
            "/v1/tokens/{token_id}",
            "/v1/orgs",
            "/v1/invitations/accept",  # addresses no org: test_accepting_takes_no_access_key below
        )
    }
    # When the matrix's routes are reduced to the same shape, their ids replaced by placeholders
    ids = re.compile(r"/(org|prj|con|wf|app|usr|run|ak|trg|tev|lnk|inv)-[a-z2-7]+|/[0-9a-f-]{36}|/\d+(?=/|$)")
    covered = {(method, ids.sub("/{}", path)) for method, path, _ in _routes(world)}
    # Then every route that addresses an org, project or resource is exercised above
    assert documented <= covered, sorted(documented - covered)


def test_accepting_takes_no_access_key(world: World, access_key: str) -> None:
    # Given an invitation to the org
    invited = world.builder.data("POST", f"/v1/orgs/{world.org_id}/invitations", {"email": "n@example.com"})
    accept = {"token": invited["token"]}
    # When it is accepted with an access key, or with the invitation token itself as the bearer
    keyed = world.call("POST", "/v1/invitations/accept", token=access_key, body=accept)
    self_bearer = world.call("POST", "/v1/invitations/accept", token=invited["token"], body=accept)
    # Then both are 403 wrong_token_type, and the invitation is still pending
    for reply in (keyed, self_bearer):
        assert reply.status == 403, reply.body
        assert reply.body["error"]["code"] == "wrong_token_type"
    listed = world.builder.data("GET", f"/v1/orgs/{world.org_id}/invitations", expect=200)
    assert [(i["id"], i["status"]) for i in listed] == [(invited["id"], "pending")]
