"""Organizations, projects, memberships and the role matrix."""

from __future__ import annotations


def test_org_lifecycle_and_member_roles(world):
    call, token, org = world.call, world.admin.token, world.org_id
    # Given the owner's org
    # When it is renamed and listed
    renamed = call("PATCH", f"/v1/orgs/{org}", token=token, body={"name": "Acme Inc"})
    listed = call("GET", "/v1/orgs", token=token)
    # Then the change is recorded with who and when
    assert renamed.status == 200
    assert renamed.body["data"]["name"] == "Acme Inc"
    assert renamed.body["data"]["updated_by"] == world.admin.user_id
    assert [o["name"] for o in listed.body["data"]] == ["Acme Inc"]
    # And a member can join (by invitation), be promoted and removed
    user_id, _ = world.builder.join("Dev@Example.com")
    promoted = call("PATCH", f"/v1/orgs/{org}/members/{user_id}", token=token, body={"role": "admin"})
    assert promoted.status == 200
    assert promoted.body["data"]["role"] == "admin"
    assert promoted.body["data"]["email"] == "dev@example.com"
    again = call("POST", f"/v1/orgs/{org}/invitations", token=token, body={"email": "dev@example.com"})
    assert again.status == 409
    assert again.body["error"]["code"] == "already_member"
    assert call("DELETE", f"/v1/orgs/{org}/members/{user_id}", token=token).status == 204
    members = call("GET", f"/v1/orgs/{org}/members", token=token)
    assert [m["role"] for m in members.body["data"]] == ["owner"]


def test_an_org_always_keeps_one_owner(world):
    call, token, org = world.call, world.admin.token, world.org_id
    # Given the only owner
    # When they demote or remove themselves
    demote = call(
        "PATCH", f"/v1/orgs/{org}/members/{world.admin.user_id}", token=token, body={"role": "admin"}
    )
    leave = call("DELETE", f"/v1/orgs/{org}/members/{world.admin.user_id}", token=token)
    # Then both are refused with 409
    assert demote.status == 409
    assert demote.body["error"]["code"] == "last_owner"
    assert leave.status == 409
    assert leave.body["error"]["code"] == "last_owner"
    # And with a second owner, the first may step down
    world.builder.join("co@example.com", "owner")
    assert (
        call(
            "PATCH", f"/v1/orgs/{org}/members/{world.admin.user_id}", token=token, body={"role": "admin"}
        ).status
        == 200
    )


def test_admins_cannot_touch_owners(world):
    # Given an org admin who is not its owner
    admin = world.token_for("admin2@example.com", org_role="admin")
    # When that admin invites a new owner, and demotes the owner
    # An org admin cannot grant ownership nor demote the owner
    grant = world.call(
        "POST",
        f"/v1/orgs/{world.org_id}/invitations",
        token=admin,
        body={"email": "x@example.com", "role": "owner"},
    )
    demote = world.call(
        "PATCH",
        f"/v1/orgs/{world.org_id}/members/{world.admin.user_id}",
        token=admin,
        body={"role": "member"},
    )
    # Then both are 403
    assert grant.status == 403
    assert demote.status == 403


def test_members_of_another_org_see_nothing(world, management):
    # Given a stranger who owns a different org
    from switchboard.runtime.identity.bootstrap import bootstrap_admin

    stranger = bootstrap_admin("stranger@example.org", "Other")
    # When they address org A's resources
    paths = [
        f"/v1/orgs/{world.org_id}",
        f"/v1/orgs/{world.org_id}/members",
        f"/v1/projects/{world.project_id}",
        f"/v1/connections/{world.connection_id}",
        f"/v1/workflows/{world.workflow_id}",
        f"/v1/apps/{world.app_id}",
        f"/v1/apps/{world.app_id}/deployments",
    ]
    for path in paths:
        reply = management("GET", path, token=stranger.token)
        # Then everything is 404, never 403
        assert reply.status == 404, path
        assert reply.body["error"]["code"] == "not_found"
    listing = management("GET", "/v1/projects", token=stranger.token, query={"org_id": world.org_id})
    assert listing.status == 404
    assert (
        management("PATCH", f"/v1/orgs/{world.org_id}", token=stranger.token, body={"name": "x"}).status
        == 404
    )


def test_project_role_matrix(world):
    # Given a project viewer, a project editor, and an org member without a project role
    call = world.call
    viewer = world.token_for("viewer@example.com", project_role="viewer")
    editor = world.token_for("editor@example.com", project_role="editor")
    outsider = world.token_for("outsider@example.com")  # org member without a project role
    from tests.integration.conftest import definition

    save = {"definition": definition(world.connection_id)}
    # When each reads, saves, deploys and manages what the project holds
    # Then each may do exactly what its role allows:
    # A viewer reads but cannot save a workflow, deploy or change connections
    assert call("GET", f"/v1/workflows/{world.workflow_id}", token=viewer).status == 200
    denied = call("PUT", f"/v1/workflows/{world.workflow_id}", token=viewer, body=save)
    assert denied.status == 403
    assert denied.body["error"]["code"] == "forbidden"
    assert (
        call("POST", f"/v1/apps/{world.app_id}/deployments", token=viewer, body={"version": 1}).status == 403
    )
    assert (
        call("PATCH", f"/v1/connections/{world.connection_id}", token=viewer, body={"name": "x"}).status
        == 403
    )
    # An editor saves and deploys but cannot manage the project
    assert call("PUT", f"/v1/workflows/{world.workflow_id}", token=editor, body=save).status == 201
    assert (
        call("POST", f"/v1/apps/{world.app_id}/deployments", token=editor, body={"version": 2}).status == 201
    )
    assert call("PATCH", f"/v1/projects/{world.project_id}", token=editor, body={"name": "x"}).status == 403
    assert (
        call(
            "POST",
            f"/v1/projects/{world.project_id}/members",
            token=editor,
            body={"email": "viewer@example.com"},
        ).status
        == 403
    )
    # A member of the org without a project role does not see the project
    assert call("GET", f"/v1/projects/{world.project_id}", token=outsider).status == 404
    listed = call("GET", "/v1/projects", token=outsider, query={"org_id": world.org_id})
    assert listed.status == 200
    assert listed.body["data"] == []
    # A plain org member cannot create projects
    assert (
        call("POST", "/v1/projects", token=outsider, body={"org_id": world.org_id, "name": "p"}).status == 403
    )
    # The viewer lists exactly the project they belong to
    mine = call("GET", "/v1/projects", token=viewer, query={"org_id": world.org_id})
    assert [p["id"] for p in mine.body["data"]] == [world.project_id]


def test_project_members_must_belong_to_the_org(world):
    # Given an email that belongs to no member of the org
    # When it is added to the project / Then it is 422 not_an_org_member
    reply = world.call(
        "POST",
        f"/v1/projects/{world.project_id}/members",
        token=world.admin.token,
        body={"email": "nobody@example.com"},
    )
    assert reply.status == 422
    assert reply.body["error"]["details"][0]["code"] == "not_an_org_member"


def test_project_member_role_change_and_removal(world):
    # Given a viewer added to the project, and the first member the project lists
    world.token_for("p@example.com", project_role="viewer")
    members = world.call("GET", f"/v1/projects/{world.project_id}/members", token=world.admin.token).body[
        "data"
    ]
    user_id = members[0]["user_id"]
    # When that member's role is changed to editor, then the member is removed twice
    changed = world.call(
        "PATCH",
        f"/v1/projects/{world.project_id}/members/{user_id}",
        token=world.admin.token,
        body={"role": "editor"},
    )
    # Then the change is 200 with the new role, the first removal 204 and the second 404
    assert changed.status == 200
    assert changed.body["data"]["role"] == "editor"
    assert (
        world.call(
            "DELETE", f"/v1/projects/{world.project_id}/members/{user_id}", token=world.admin.token
        ).status
        == 204
    )
    assert (
        world.call(
            "DELETE", f"/v1/projects/{world.project_id}/members/{user_id}", token=world.admin.token
        ).status
        == 404
    )


def test_project_delete_is_refused_while_it_holds_apps(world):
    call, token = world.call, world.admin.token
    # Given a project with an App
    # When it is deleted
    refused = call("DELETE", f"/v1/projects/{world.project_id}", token=token)
    # Then 409, and after the App is gone the delete succeeds and the project is gone
    assert refused.status == 409
    assert call("DELETE", f"/v1/apps/{world.app_id}", token=token).status == 204
    assert call("DELETE", f"/v1/projects/{world.project_id}", token=token).status == 204
    assert call("GET", f"/v1/projects/{world.project_id}", token=token).status == 404
    assert call("GET", f"/v1/connections/{world.connection_id}", token=token).status == 404


def test_project_listing_paginates(world):
    # Given the org's project Support and three more
    call, token = world.call, world.admin.token
    for n in range(3):
        assert (
            call("POST", "/v1/projects", token=token, body={"org_id": world.org_id, "name": f"p{n}"}).status
            == 201
        )
    # When they are listed two at a time
    first = call("GET", "/v1/projects", token=token, query={"org_id": world.org_id, "limit": "2"})
    # Then the first page holds two and a cursor, and the two pages together hold all four
    assert first.status == 200
    assert len(first.body["data"]) == 2
    assert first.body["next_token"]
    second = call(
        "GET",
        "/v1/projects",
        token=token,
        query={"org_id": world.org_id, "limit": "2", "next_token": first.body["next_token"]},
    )
    names = [p["name"] for p in first.body["data"] + second.body["data"]]
    assert sorted(names) == sorted(["Support", "p0", "p1", "p2"])
