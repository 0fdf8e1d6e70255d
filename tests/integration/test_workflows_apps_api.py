"""Workflows with immutable versions; Apps, deployments, history and rollback."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.domain.errors import Conflict
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.models import Deployment
from switchboard.store import apps as app_store
from tests.integration.conftest import Reply, World, definition


def test_versions_are_immutable_and_numbered(world):
    # Given the world's workflow at version 1, which uses the world's connection
    call, token = world.call, world.admin.token
    # When a new definition is saved twice
    v2 = call(
        "PUT",
        f"/v1/workflows/{world.workflow_id}",
        token=token,
        body={"definition": definition(), "description": "no http"},
    )
    v3 = call(
        "PUT",
        f"/v1/workflows/{world.workflow_id}",
        token=token,
        body={"definition": definition(world.connection_id)},
    )
    # Then versions 2 and 3 exist with author and time, and version 1 is unchanged
    assert v2.status == 201
    assert v2.body["data"]["version"]["number"] == 2
    assert v3.body["data"]["latest_version"] == 3
    assert v2.body["data"]["version"]["created_by"] == world.admin.user_id
    versions = call("GET", f"/v1/workflows/{world.workflow_id}/versions", token=token)
    assert [v["number"] for v in versions.body["data"]] == [3, 2, 1]
    first = call("GET", f"/v1/workflows/{world.workflow_id}/versions/1", token=token)
    assert first.body["data"]["connection_ids"] == [world.connection_id]
    assert call("GET", f"/v1/workflows/{world.workflow_id}/versions/9", token=token).status == 404
    assert call("GET", f"/v1/workflows/{world.workflow_id}/versions/zero", token=token).status == 422


def test_invalid_definitions_answer_precise_details(world, management):
    # Given another project with a connection of its own
    call, token = world.call, world.admin.token
    other_project = call(
        "POST", "/v1/projects", token=token, body={"org_id": world.org_id, "name": "Other"}
    ).body["data"]["id"]
    foreign = call(
        "POST",
        "/v1/connections",
        token=token,
        body={
            "project_id": other_project,
            "name": "f",
            "type": "openai",
            "config": {"api_key": "key-other-project"},
        },
    ).body["data"]["id"]
    # When definitions are saved that use that connection, have a cycle, an unknown node type, or an
    # undeclared requirement
    broken = definition(foreign)
    # Then each is 422 validation_failed with its own detail code
    reply = call("PUT", f"/v1/workflows/{world.workflow_id}", token=token, body={"definition": broken})
    assert reply.status == 422
    assert reply.body["error"]["code"] == "validation_failed"
    assert "connection_not_in_project" in {d["code"] for d in reply.body["error"]["details"]}
    cyclic = definition()
    cyclic["nodes"][1]["depends"] = ["start", "finish"]
    reply = call("PUT", f"/v1/workflows/{world.workflow_id}", token=token, body={"definition": cyclic})
    assert reply.status == 422
    assert "cycle" in {d["code"] for d in reply.body["error"]["details"]}
    unknown = definition()
    unknown["nodes"][1]["type"] = "teleport"
    reply = call(
        "POST",
        "/v1/workflows",
        token=token,
        body={"project_id": world.project_id, "name": "x", "definition": unknown},
    )
    assert reply.status == 422
    assert "unknown_node_type" in {d["code"] for d in reply.body["error"]["details"]}
    undeclared = definition(requirement=True)
    undeclared["requirements"] = []
    reply = call(
        "POST",
        "/v1/workflows",
        token=token,
        body={"project_id": world.project_id, "name": "x", "definition": undeclared},
    )
    assert reply.status == 422
    assert "undeclared_requirement" in {d["code"] for d in reply.body["error"]["details"]}
    # Nothing was saved by the failed attempts
    assert call("GET", f"/v1/workflows/{world.workflow_id}", token=token).body["data"]["latest_version"] == 1


def test_requirements_are_recorded_on_the_version(world):
    # Given the world's project
    # When a workflow is created whose http node uses the end user's crm link
    reply = world.call(
        "POST",
        "/v1/workflows",
        token=world.admin.token,
        body={"project_id": world.project_id, "name": "per-user", "definition": definition(requirement=True)},
    )
    # Then its first version records the requirement crm and no connection
    assert reply.status == 201
    assert reply.body["data"]["version"]["requirement_ids"] == ["crm"]
    assert reply.body["data"]["version"]["connection_ids"] == []


def test_deploy_history_and_rollback(world):
    call, token, app = world.call, world.admin.token, world.app_id
    call("PUT", f"/v1/workflows/{world.workflow_id}", token=token, body={"definition": definition()})
    # Given an App that shows both endpoint forms and no deployment
    shown = call("GET", f"/v1/apps/{app}", token=token).body["data"]
    assert shown["deployment"] is None
    assert shown["endpoints"] == {
        "path": f"https://apps-api.example.test/apps/{app}/",
        "host": f"https://{app}.apps.example.test/",
    }
    # When v1 then v2 are deployed and then rolled back
    d1 = call("POST", f"/v1/apps/{app}/deployments", token=token, body={"version": 1})
    d2 = call("POST", f"/v1/apps/{app}/deployments", token=token, body={"version": 2})
    back = call("POST", f"/v1/apps/{app}/rollback", token=token)
    # Then v1 is live again and the history lists three deployments, newest first
    assert d1.status == d2.status == back.status == 201
    assert back.body["data"]["app"]["deployment"]["version"] == 1
    assert back.body["data"]["deployment"]["kind"] == "rollback"
    history = call("GET", f"/v1/apps/{app}/deployments", token=token).body["data"]
    assert [(d["sequence"], d["version"], d["active"]) for d in history] == [
        (3, 1, True),
        (2, 2, False),
        (1, 1, False),
    ]
    assert all(d["deployed_by"] == world.admin.user_id for d in history)
    # And deploying a version that does not exist is 422
    missing = call("POST", f"/v1/apps/{app}/deployments", token=token, body={"version": 7})
    assert missing.status == 422
    assert missing.body["error"]["details"][0]["code"] == "unknown_version"


def test_rollback_without_a_previous_deployment_is_409(world):
    # Given the world's App, never deployed
    # When it is rolled back / Then it is 409 nothing_to_roll_back
    reply = world.call("POST", f"/v1/apps/{world.app_id}/rollback", token=world.admin.token)
    assert reply.status == 409
    assert reply.body["error"]["code"] == "nothing_to_roll_back"


def test_concurrent_deploys_never_interleave(world):
    # Given two deployers that both read the App before either wrote
    stale = app_store.get_app(world.app_id)
    assert stale is not None

    def deployment(version: int) -> Deployment:
        return Deployment(
            id=new_id("deployment"),
            app_id=stale.id,
            sequence=stale.deployment_count + 1,
            workflow_id=stale.workflow_id,
            version=version,
            kind="deploy",
            deployed_at=utcnow(),
            deployed_by="someone",
        )

    # When both record their deployment
    app_store.record_deployment(stale, deployment(1))
    # Then the second is refused instead of overwriting sequence 1
    with pytest.raises(Conflict) as refused:
        app_store.record_deployment(stale, deployment(1))
    assert refused.value.error_code == "deployment_conflict"
    history = world.call("GET", f"/v1/apps/{world.app_id}/deployments", token=world.admin.token).body["data"]
    assert len(history) == 1


def test_app_update_delete_and_workflow_in_use(world):
    # Given the world's App, with the world's workflow
    call, token = world.call, world.admin.token
    # When the App is made public and renamed, and the workflow deleted while the App uses it
    patched = call(
        "PATCH", f"/v1/apps/{world.app_id}", token=token, body={"access": "public", "name": "Public triage"}
    )
    # Then the App is public, and deleting the workflow in use is 409
    assert patched.status == 200
    assert patched.body["data"]["access"] == "public"
    in_use = call("DELETE", f"/v1/workflows/{world.workflow_id}", token=token)
    assert in_use.status == 409
    # And once the App is deleted, the workflow may be deleted, and its versions are gone
    listed = call("GET", "/v1/apps", token=token, query={"project_id": world.project_id})
    assert [a["id"] for a in listed.body["data"]] == [world.app_id]
    assert call("DELETE", f"/v1/apps/{world.app_id}", token=token).status == 204
    assert call("DELETE", f"/v1/workflows/{world.workflow_id}", token=token).status == 204
    assert call("GET", f"/v1/workflows/{world.workflow_id}/versions/1", token=token).status == 404


def test_app_needs_a_workflow_of_the_same_project(world):
    # Given another project of the org
    call, token = world.call, world.admin.token
    other = call("POST", "/v1/projects", token=token, body={"org_id": world.org_id, "name": "Other"}).body[
        "data"
    ]["id"]
    # When an App of that project is created with the world's workflow
    reply = call(
        "POST",
        "/v1/apps",
        token=token,
        body={"project_id": other, "name": "x", "workflow_id": world.workflow_id},
    )
    # Then it is 422 naming unknown_workflow
    assert reply.status == 422
    assert reply.body["error"]["details"][0]["code"] == "unknown_workflow"


def test_a_regex_re2_cannot_run_is_refused_at_save(world, management):
    # Given a workflow whose validator checks with a backreference (it needs a backtracking engine)
    call, token = world.call, world.admin.token
    backreference = definition()
    check = {"id": "check", "type": "validator", "depends": ["shout"]}
    backreference["nodes"].insert(2, {**check, "config": {"input": "$.shout.output", "regex": "(\\w+) \\1!"}})
    # When it is saved
    reply = call("PUT", f"/v1/workflows/{world.workflow_id}", token=token, body={"definition": backreference})
    # Then it is refused with 422 and the precise code, at the regex
    assert reply.status == 422
    assert reply.body["error"]["code"] == "validation_failed"
    problems = {d["code"]: d for d in reply.body["error"]["details"]}
    assert "regex_unsupported" in problems
    assert problems["regex_unsupported"]["message"].startswith("RE2 cannot run this pattern")
    # And a pattern RE2 runs in linear time, even one that backtracks elsewhere, is saved
    nested = definition()
    nested["nodes"].insert(2, {**check, "config": {"input": "$.shout.output", "regex": "^(a+)+!$"}})
    saved = call("PUT", f"/v1/workflows/{world.workflow_id}", token=token, body={"definition": nested})
    assert saved.status == 201
    assert saved.body["data"]["latest_version"] == 2


def _save(world: World, raw: dict[str, Any]) -> Reply:
    return world.call(
        "PUT", f"/v1/workflows/{world.workflow_id}", token=world.admin.token, body={"definition": raw}
    )


def _problems(reply: Reply) -> list[tuple[list[str | int], str]]:
    assert reply.status == 422, reply.body
    assert reply.body["error"]["code"] == "validation_failed"
    return [(d["loc"], d["code"]) for d in reply.body["error"]["details"]]


def test_saving_refuses_a_referenced_template_an_owned_header_and_a_non_public_url(world):
    # Given the world's workflow (input → transform → http through the connection → output), broken three ways
    referenced = definition(world.connection_id)
    referenced["nodes"][1]["config"]["template"] = "$.input.question"
    host = definition(world.connection_id)
    host["nodes"][2]["config"]["headers"] = {"Host": "attacker.example", "X-Request-Id": "ok"}
    metadata = definition(world.connection_id)
    metadata["nodes"][2] = {
        "id": "call",
        "type": "http",
        "depends": ["shout"],
        "config": {"url": "http://169.254.169.254/latest/meta-data/"},
    }

    # When each is saved / Then each is 422 naming the field and its code, and no version was added
    assert _problems(_save(world, referenced)) == [
        (["nodes", 1, "config", "template"], "template_not_literal")
    ]
    assert _problems(_save(world, host)) == [
        (["nodes", 2, "config", "headers", "Host"], "header_not_allowed")
    ]
    assert _problems(_save(world, metadata)) == [(["nodes", 2, "config", "url"], "address_not_allowed")]
    versions = world.call("GET", f"/v1/workflows/{world.workflow_id}/versions", token=world.admin.token)
    assert [v["number"] for v in versions.body["data"]] == [1]


def test_saving_accepts_ordinary_headers_and_public_urls(world):
    # Given the workflow with an ordinary header next to the connection, and one with a public literal URL
    headers = definition(world.connection_id)
    headers["nodes"][2]["config"]["headers"] = {"X-Request-Id": "{{ question }}"}
    public = definition(world.connection_id)
    public["nodes"][2] = {
        "id": "call",
        "type": "http",
        "depends": ["shout"],
        "config": {"url": "https://93.184.215.14/"},
    }

    # When they are saved / Then both are new versions
    assert _save(world, headers).status == 201
    assert _save(world, public).status == 201
