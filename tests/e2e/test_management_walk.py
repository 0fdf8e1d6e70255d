"""The issue's walk, over real HTTP only, against a local stack in a subprocess."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import LocalStackProcess, Story
from tests.support import workflows
from tests.support.http import Reply, request

pytestmark = pytest.mark.e2e

API_KEY = "sk-walk-FIRST-SECRET-4242"
ROTATED_KEY = "sk-walk-ROTATED-SECRET-9797"


class Walk:
    """Calls the stack with the bootstrap PAT, keeps every response for the final secret scan and what each
    phase built for the phases after it."""

    def __init__(self, stack: LocalStackProcess) -> None:
        self.stack = stack
        self.replies: list[Reply] = []
        self.built: dict[str, Any] = {}
        self.story = Story()

    def __call__(self, method: str, path: str, body: Any = None, *, expect: int) -> Any:
        reply = request(method, f"{self.stack.base_url}{path}", token=self.stack.pat, json_body=body)
        self.replies.append(reply)
        assert reply.status == expect, (method, path, reply.text)
        return reply.body["data"] if reply.body else {}


@pytest.fixture(scope="module")
def call(local_stack: LocalStackProcess) -> Walk:
    return Walk(local_stack)


def _definition(connection_id: str, answer_from: str) -> dict[str, Any]:
    """input → ``lookup`` (GET /search?q=question through the connection) → output ``answer``."""
    params = {"q": "$.input.question"}
    connection = workflows.connection_ref(connection_id)
    lookup = workflows.http("lookup", ["start"], connection, method="GET", path="/search", params=params)
    return {"nodes": [workflows.start(), lookup, workflows.finish(["lookup"], {"answer": answer_from})]}


def test_the_bootstrapped_admin_is_who_the_pat_names(call: Walk) -> None:
    # Given the bootstrapped admin (the stack printed its PAT)
    # When they ask who they are
    me = call("GET", "/v1/me", expect=200)
    # Then the PAT is the admin's
    assert me["email"] == "admin@switchboard.local"
    call.story.finished("bootstrap")


def test_a_connections_key_is_rotated_in_place(call: Walk) -> None:
    # Given the admin
    call.story.needs("bootstrap")
    # When they build an org, a project and a connection, then rotate the connection's key
    org = call("POST", "/v1/orgs", {"name": "Walk Org"}, expect=201)
    project = call("POST", "/v1/projects", {"org_id": org["id"], "name": "Walk"}, expect=201)
    connection = call(
        "POST",
        "/v1/connections",
        {
            "project_id": project["id"],
            "name": "search",
            "type": "http_api_key",
            "config": {"url": "https://search.example.com", "api_key": API_KEY},
        },
        expect=201,
    )
    rotated = call(
        "PATCH",
        f"/v1/connections/{connection['id']}",
        {"config": {"url": "https://search.example.com", "api_key": ROTATED_KEY}},
        expect=200,
    )
    # Then the connection keeps its ID and shows only which fields are secret
    assert rotated["id"] == connection["id"]
    assert rotated["secret_fields"] == ["api_key"]
    call.built |= {"org": org, "project": project, "connection": connection}
    call.story.finished("connection")


def test_a_teammate_joins_by_invitation_and_gets_their_first_pat(
    call: Walk, local_stack: LocalStackProcess
) -> None:
    # Given the walk's org
    call.story.needs("connection")
    org = call.built["org"]
    # When the admin invites a teammate, who accepts with no token of their own (as the README shows)
    invitation = call(
        "POST", f"/v1/orgs/{org['id']}/invitations", {"email": "teammate@example.com"}, expect=201
    )
    accepted = request(
        "POST", f"{local_stack.base_url}/v1/invitations/accept", json_body={"token": invitation["token"]}
    )
    reused = request(
        "POST", f"{local_stack.base_url}/v1/invitations/accept", json_body={"token": invitation["token"]}
    )
    call.replies += [accepted, reused]
    # Then the teammate is a member, their first PAT works, and the invitation cannot be used again
    assert accepted.status == 201, accepted.text
    pat = accepted.body["data"]["token"]["token"]
    orgs = request("GET", f"{local_stack.base_url}/v1/orgs", token=pat)
    assert [(o["id"], o["role"]) for o in orgs.body["data"]] == [(org["id"], "member")]
    assert (reused.status, reused.body["error"]["code"]) == (409, "invitation_used")
    listed = call("GET", f"/v1/orgs/{org['id']}/invitations", expect=200)
    assert [(i["email"], i["status"]) for i in listed] == [("teammate@example.com", "accepted")]


def test_an_app_deploys_v1_then_v2_and_rolls_back_to_v1(call: Walk, local_stack: LocalStackProcess) -> None:
    # Given the walk's project and connection
    call.story.needs("connection")
    project, connection = call.built["project"], call.built["connection"]
    # When they save workflow v1 and v2, create an App, deploy v1, deploy v2 and roll back
    workflow = call(
        "POST",
        "/v1/workflows",
        {
            "project_id": project["id"],
            "name": "search",
            "definition": _definition(connection["id"], "$.lookup.output"),
        },
        expect=201,
    )
    assert workflow["version"]["number"] == 1
    v2 = call(
        "PUT",
        f"/v1/workflows/{workflow['id']}",
        {
            "definition": _definition(connection["id"], "$.lookup.output.body"),
            "description": "answer from body",
        },
        expect=201,
    )
    assert v2["version"]["number"] == 2
    app = call(
        "POST",
        "/v1/apps",
        {"project_id": project["id"], "name": "Search", "workflow_id": workflow["id"]},
        expect=201,
    )
    assert app["endpoints"]["path"] == f"{local_stack.base_url}/apps/{app['id']}/"
    assert app["endpoints"]["host"] == f"http://{app['id']}.apps.localhost:{local_stack.port}/"
    call("POST", f"/v1/apps/{app['id']}/deployments", {"version": 1}, expect=201)
    call("POST", f"/v1/apps/{app['id']}/deployments", {"version": 2}, expect=201)
    rolled_back = call("POST", f"/v1/apps/{app['id']}/rollback", expect=201)
    # Then v1 serves again and the history shows three deployments, newest first
    assert rolled_back["app"]["deployment"]["version"] == 1
    history = call("GET", f"/v1/apps/{app['id']}/deployments", expect=200)
    assert [(d["sequence"], d["version"], d["kind"]) for d in history] == [
        (3, 1, "rollback"),
        (2, 2, "deploy"),
        (1, 1, "deploy"),
    ]
    call.built["app"] = app
    call.story.finished("rollback")


def test_an_access_key_calls_the_app_in_both_forms_until_it_is_revoked(
    call: Walk, local_stack: LocalStackProcess
) -> None:
    # Given the walk's App, v1 deployed
    call.story.needs("rollback")
    org, app = call.built["org"], call.built["app"]
    # When an access key is created, calls the App by path and by host, is revoked and calls again
    key = call("POST", "/v1/access-keys", {"org_id": org["id"], "name": "walk"}, expect=201)
    by_path = request("GET", f"{local_stack.base_url}/apps/{app['id']}/", token=key["token"])
    by_host = request(
        "GET",
        f"{local_stack.base_url}/",
        token=key["token"],
        headers={"Host": f"{app['id']}.apps.localhost:{local_stack.port}"},
    )
    call.replies += [by_path, by_host]
    revoked = call("DELETE", f"/v1/access-keys/{key['id']}", expect=200)
    refused = request("GET", f"{local_stack.base_url}/apps/{app['id']}/", token=key["token"])
    call.replies.append(refused)
    # Then both forms served v1 while the key was valid, and the revoked key is refused
    assert by_path.status == 200, by_path.text
    assert by_host.status == 200, by_host.text
    assert by_path.body["data"]["deployed_version"] == 1
    assert revoked["revoked_at"] is not None
    assert refused.status == 401
    assert refused.body["error"]["code"] == "token_revoked"
    call.story.finished("access key")


def test_no_response_of_the_walk_contains_a_connection_secret(call: Walk) -> None:
    # Given the whole walk
    call.story.needs("access key")
    # When every response it got is read
    everything = "\n".join(r.text for r in call.replies)
    # Then none contains the connection's secret values
    assert API_KEY not in everything
    assert ROTATED_KEY not in everything


def test_bad_input_never_answers_500(local_stack: LocalStackProcess) -> None:
    # Given the bootstrap PAT, and requests malformed, unknown, mistyped, oversized or naming unknown IDs
    json_type = {"Content-Type": "application/json"}
    cases: list[tuple[str, str, bytes | None, dict[str, str]]] = [
        ("POST", "/v1/projects", b"{not json", json_type),
        ("POST", "/v1/orgs", b'{"name": "x", "unknown": 1}', json_type),
        ("POST", "/v1/orgs", b'{"name": ["wrong", "type"]}', json_type),
        ("POST", "/v1/orgs", b"name=x", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("POST", "/v1/orgs", b'{"name": "' + b"x" * 2_000_000 + b'"}', json_type),
        ("GET", "/v1/apps/app_doesnotexist", None, {}),
        ("GET", "/v1/workflows/wf_x/versions/abc", None, {}),
        ("DELETE", "/v1/connections/con-missing", None, {}),
    ]
    for method, path, data, headers in cases:
        # When each malformed, unknown, mistyped, oversized or unknown-ID request is sent
        reply = request(
            method, f"{local_stack.base_url}{path}", token=local_stack.pat, data=data, headers=headers
        )
        # Then it answers a 4xx with the error envelope, never a 5xx
        assert 400 <= reply.status < 500, (method, path, reply.status, reply.text[:200])
        assert set(reply.body) == {"error"}, reply.text[:200]
