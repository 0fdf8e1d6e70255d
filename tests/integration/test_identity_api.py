"""Personal access tokens, access keys, and what each kind of token may call."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from switchboard.store import identity


def test_me_answers_with_the_caller(management, admin):
    # Given a bootstrapped user
    # When they ask who they are
    reply = management("GET", "/v1/me", token=admin.token)
    # Then they get their own profile
    assert reply.status == 200
    assert reply.body["data"]["id"] == admin.user_id
    assert reply.body["data"]["email"] == "owner@example.com"


def test_missing_malformed_and_unknown_tokens_are_401(management, admin):
    # Given no token, a non-bearer header, a non-Switchboard token and a well-formed unknown token
    unknown = "sb_pat_" + "a" * 20 + "B" * 43
    cases = [
        ({}, "missing_token"),
        ({"authorization": "Basic Zm9vOmJhcg=="}, "malformed_token"),
        ({"authorization": "Bearer not-a-token"}, "malformed_token"),
        ({"authorization": f"Bearer {unknown}"}, "invalid_token"),
        ({"authorization": f"Bearer {admin.token[:-1]}x"}, "invalid_token"),
    ]
    for headers, code in cases:
        # When each calls the management API
        reply = management("GET", "/v1/me", headers=headers)
        # Then each is refused with 401 and the error envelope
        assert reply.status == 401, headers
        assert reply.body["error"]["code"] == code


def test_created_token_is_shown_once_and_works(management, admin):
    # Given a new PAT
    created = management("POST", "/v1/tokens", token=admin.token, body={"name": "laptop"})
    assert created.status == 201
    token = created.body["data"]["token"]
    assert token.startswith("sb_pat_")
    # When the tokens are listed
    listed = management("GET", "/v1/tokens", token=token)
    # Then the new token works, and the listing shows previews, never the token or its hash
    assert listed.status == 200
    assert token not in listed.raw
    assert "token_hash" not in listed.raw
    assert {t["name"] for t in listed.body["data"]} == {"bootstrap", "laptop"}
    stored = identity.get_token(created.body["data"]["id"])
    assert stored is not None
    assert token not in stored.model_dump_json()


def test_revoked_token_is_refused_immediately(management, admin):
    # Given a second PAT
    created = management("POST", "/v1/tokens", token=admin.token, body={"name": "ci"}).body["data"]
    # When it is revoked
    revoked = management("DELETE", f"/v1/tokens/{created['id']}", token=admin.token)
    # Then the next request with it is refused
    assert revoked.status == 200
    assert revoked.body["data"]["revoked_at"] is not None
    reply = management("GET", "/v1/me", token=created["token"])
    assert reply.status == 401
    assert reply.body["error"]["code"] == "token_revoked"


def test_expired_token_is_refused(management, admin):
    # Given a PAT that expires in the future, then is made to expire
    expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    created = management(
        "POST", "/v1/tokens", token=admin.token, body={"name": "short", "expires_at": expires}
    )
    assert created.status == 201
    assert management("GET", "/v1/me", token=created.body["data"]["token"]).status == 200
    from switchboard.store import keys
    from switchboard.store.control import control
    from switchboard.store.table import update_op

    control().write(
        update_op(
            control().name,
            keys.token(created.body["data"]["id"]),
            "SET expires_at = :t",
            None,
            {":t": "2020-01-01T00:00:00.000Z"},
        )
    )
    # When it is used after expiry
    reply = management("GET", "/v1/me", token=created.body["data"]["token"])
    # Then it is refused
    assert reply.status == 401
    assert reply.body["error"]["code"] == "token_expired"


def test_expiry_in_the_past_is_rejected(management, admin):
    # Given an admin
    # When a personal access token is created that expired in 2020
    reply = management(
        "POST", "/v1/tokens", token=admin.token, body={"name": "x", "expires_at": "2020-01-01T00:00:00Z"}
    )
    # Then it is 422 expiry_in_past
    assert reply.status == 422
    assert reply.body["error"]["details"][0]["code"] == "expiry_in_past"


def test_use_is_recorded(management, admin):
    # Given a PAT never used before bootstrap's first call
    # When it is used
    management("GET", "/v1/me", token=admin.token)
    # Then last_used_at is set
    stored = identity.get_token(admin.token_id)
    assert stored is not None
    assert stored.last_used_at is not None


def test_another_users_token_cannot_be_revoked(world):
    # Given a second user with their own PAT
    other = world.token_for("other@example.com")
    mine = world.call("GET", "/v1/tokens", token=world.admin.token).body["data"][0]["id"]
    # When they try to revoke the admin's token
    reply = world.call("DELETE", f"/v1/tokens/{mine}", token=other)
    # Then it is invisible to them
    assert reply.status == 404


def test_access_keys_are_for_apps_only(world):
    # Given an org-wide and a project-scoped access key
    org_key = world.call(
        "POST", "/v1/access-keys", token=world.admin.token, body={"org_id": world.org_id, "name": "backend"}
    )
    scoped = world.call(
        "POST",
        "/v1/access-keys",
        token=world.admin.token,
        body={"org_id": world.org_id, "name": "scoped", "project_id": world.project_id},
    )
    assert org_key.status == 201
    assert scoped.status == 201
    assert org_key.body["data"]["token"].startswith("sb_ak_")
    assert scoped.body["data"]["project_id"] == world.project_id
    # When an access key calls the management API
    reply = world.call("GET", "/v1/me", token=org_key.body["data"]["token"])
    # Then it is forbidden (valid credential, wrong kind)
    assert reply.status == 403
    assert reply.body["error"]["code"] == "wrong_token_type"
    # And the listing never shows the keys themselves
    listed = world.call("GET", "/v1/access-keys", token=world.admin.token, query={"org_id": world.org_id})
    assert listed.status == 200
    assert len(listed.body["data"]) == 2
    assert org_key.body["data"]["token"] not in listed.raw


def test_access_key_revocation_and_permissions(world):
    # Given an org-wide access key, and a plain member of the org
    key = world.call(
        "POST", "/v1/access-keys", token=world.admin.token, body={"org_id": world.org_id, "name": "k"}
    ).body["data"]
    member = world.token_for("member@example.com")
    # When the member lists and revokes keys / Then both are 403: a plain member may do neither
    assert world.call("GET", "/v1/access-keys", token=member, query={"org_id": world.org_id}).status == 403
    assert world.call("DELETE", f"/v1/access-keys/{key['id']}", token=member).status == 403
    # When an admin revokes it, then again / Then both are 200: the second is a no-op reporting the first
    first = world.call("DELETE", f"/v1/access-keys/{key['id']}", token=world.admin.token)
    again = world.call("DELETE", f"/v1/access-keys/{key['id']}", token=world.admin.token)
    assert first.status == 200
    assert again.status == 200
    assert again.body["data"]["revoked_at"] == first.body["data"]["revoked_at"]


def test_access_key_for_a_project_of_another_org_is_404(world, management):
    # Given a second org the admin owns, and a project in the first
    other = management("POST", "/v1/orgs", token=world.admin.token, body={"name": "Other"}).body["data"]["id"]
    # When a key of the second org is scoped to the first org's project
    reply = management(
        "POST",
        "/v1/access-keys",
        token=world.admin.token,
        body={"org_id": other, "name": "x", "project_id": world.project_id},
    )
    # Then the project is not found for that org
    assert reply.status == 404
