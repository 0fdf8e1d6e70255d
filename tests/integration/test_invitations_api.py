"""Invitations: how anyone joins an organization. Admins invite, list and revoke; a new user accepts without a
token and gets an account and a first PAT; an existing user accepts only with their own PAT."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from switchboard.domain.ids import utcnow
from switchboard.runtime.identity.bootstrap import bootstrap_admin
from switchboard.store import invitations, keys
from switchboard.store.control import control
from tests.integration.conftest import World, error_of

ACCEPT = "/v1/invitations/accept"


def _invite(world: World, email: str, **fields: Any) -> dict[str, Any]:
    invited: dict[str, Any] = world.builder.data(
        "POST", f"/v1/orgs/{world.org_id}/invitations", {"email": email, **fields}
    )
    return invited


def _members(world: World) -> dict[str, str]:
    listed = world.call("GET", f"/v1/orgs/{world.org_id}/members", token=world.admin.token)
    return {m["email"]: m["role"] for m in listed.body["data"]}


def test_an_admin_invites_lists_and_revokes(world: World) -> None:
    # Given the org's owner
    # When they invite an email (mixed case) as an admin
    created = world.call(
        "POST",
        f"/v1/orgs/{world.org_id}/invitations",
        token=world.admin.token,
        body={"email": "New@Example.com", "role": "admin"},
    )
    # Then the invitation is pending for 7 days and its token is shown once
    assert created.status == 201, created.body
    invitation = created.body["data"]
    token = invitation["token"]
    assert token.startswith("sb_inv_")
    assert invitation["preview"] == f"sb_inv_…{token[-4:]}"
    assert (invitation["email"], invitation["role"], invitation["status"]) == (
        "new@example.com",
        "admin",
        "pending",
    )
    assert invitation["created_by"] == world.admin.user_id
    lifetime = datetime.fromisoformat(invitation["expires_at"]) - datetime.fromisoformat(
        invitation["created_at"]
    )
    assert lifetime == timedelta(days=7)
    # And the stored item keeps only the token's hash, with a TTL after the expiry
    item = control().get(keys.invitation(invitation["id"]))
    assert item is not None
    assert token not in str(item)
    assert item["ttl"] == int(
        (datetime.fromisoformat(invitation["expires_at"]) + timedelta(days=30)).timestamp()
    )
    # When the invitations are listed
    listed = world.call("GET", f"/v1/orgs/{world.org_id}/invitations", token=world.admin.token)
    # Then it is there, without its token
    assert listed.status == 200
    assert [(i["id"], i["status"]) for i in listed.body["data"]] == [(invitation["id"], "pending")]
    assert "token" not in listed.body["data"][0]
    # When it is revoked, twice
    revoked = world.call(
        "DELETE", f"/v1/orgs/{world.org_id}/invitations/{invitation['id']}", token=world.admin.token
    )
    again = world.call(
        "DELETE", f"/v1/orgs/{world.org_id}/invitations/{invitation['id']}", token=world.admin.token
    )
    # Then it is revoked, by whom and when, and revoking again answers it as it is
    assert revoked.status == 200, revoked.body
    assert (revoked.body["data"]["status"], revoked.body["data"]["revoked_by"]) == (
        "revoked",
        world.admin.user_id,
    )
    assert again.status == 200
    assert again.body["data"] == revoked.body["data"]
    # And accepting it is 410 invitation_revoked: nobody joined
    error_of(world.call("POST", ACCEPT, body={"token": token}), 410, "invitation_revoked")
    assert "new@example.com" not in _members(world)


def test_an_expiry_can_be_chosen_within_30_days(world: World) -> None:
    # Given the owner
    path = f"/v1/orgs/{world.org_id}/invitations"
    soon = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    too_late = (datetime.now(UTC) + timedelta(days=31)).isoformat()
    # When they invite with an expiry a day away, and one 31 days away
    chosen = world.call(
        "POST", path, token=world.admin.token, body={"email": "a@example.com", "expires_at": soon}
    )
    refused = world.call(
        "POST", path, token=world.admin.token, body={"email": "b@example.com", "expires_at": too_late}
    )
    # Then the first keeps it, the second is 422
    assert chosen.status == 201
    chosen_at = datetime.fromisoformat(chosen.body["data"]["expires_at"])
    assert timedelta(0) <= datetime.fromisoformat(soon) - chosen_at < timedelta(milliseconds=1)
    assert error_of(refused, 422, "validation_failed")["details"][0]["loc"] == ["expires_at"]


def test_plain_members_and_other_orgs_cannot_manage_invitations(world: World) -> None:
    # Given a plain member, a pending invitation, and the admin of another org
    member = world.token_for("plain@example.com")
    invitation = _invite(world, "x@example.com")
    stranger = bootstrap_admin("stranger@example.org", "Elsewhere")
    path = f"/v1/orgs/{world.org_id}/invitations"
    # When the plain member invites, lists and revokes
    replies = [
        world.call("POST", path, token=member, body={"email": "y@example.com"}),
        world.call("GET", path, token=member),
        world.call("DELETE", f"{path}/{invitation['id']}", token=member),
    ]
    # Then each is 403
    for reply in replies:
        error_of(reply, 403, "forbidden")
    # When the other org's admin addresses the invitation through their own org
    foreign = world.call(
        "DELETE", f"/v1/orgs/{stranger.org_id}/invitations/{invitation['id']}", token=stranger.token
    )
    # Then it is invisible there, and still pending here
    error_of(foreign, 404, "not_found")
    listed = world.builder.data("GET", path, expect=200)
    assert {i["id"]: i["status"] for i in listed}[invitation["id"]] == "pending"


def test_a_new_user_accepts_without_a_token_and_gets_a_first_pat(world: World) -> None:
    # Given an invitation for an email without an account
    invitation = _invite(world, "fresh@example.com", role="admin")
    # When it is accepted with no Authorization header
    accepted = world.call("POST", ACCEPT, body={"token": invitation["token"], "token_name": "laptop"})
    # Then the user exists, is an admin of the org, and has a PAT shown once
    assert accepted.status == 201, accepted.body
    data = accepted.body["data"]
    assert data["user"]["email"] == "fresh@example.com"
    assert (data["org_id"], data["membership"]["role"]) == (world.org_id, "admin")
    assert data["membership"]["user_id"] == data["user"]["id"]
    pat = data["token"]["token"]
    assert pat.startswith("sb_pat_")
    assert data["token"]["name"] == "laptop"
    # And the PAT works: the user sees themselves and the org
    me = world.call("GET", "/v1/me", token=pat)
    assert (me.status, me.body["data"]["email"]) == (200, "fresh@example.com")
    orgs = world.call("GET", "/v1/orgs", token=pat)
    assert [(o["id"], o["role"]) for o in orgs.body["data"]] == [(world.org_id, "admin")]
    # And the invitation reads accepted, by that user
    listed = world.builder.data("GET", f"/v1/orgs/{world.org_id}/invitations", expect=200)
    assert [(i["status"], i["accepted_by"]) for i in listed] == [("accepted", data["user"]["id"])]


def test_an_existing_user_accepts_only_with_their_own_pat(world: World) -> None:
    # Given the owner of another org, invited here
    existing = bootstrap_admin("someone@example.org", "Theirs")
    invitation = _invite(world, "someone@example.org")
    accept = {"token": invitation["token"]}
    # When it is accepted without a token
    anonymous = world.call("POST", ACCEPT, body=accept)
    # Then 401 invitation_requires_login: nobody joins without consent
    error_of(anonymous, 401, "invitation_requires_login")
    # When another user accepts it with their own PAT
    other = world.token_for("other@example.com")
    wrong_user = world.call("POST", ACCEPT, token=other, body=accept)
    # Then 403 invitation_wrong_user
    error_of(wrong_user, 403, "invitation_wrong_user")
    assert "someone@example.org" not in _members(world)
    # When the invitee accepts with their own PAT
    accepted = world.call("POST", ACCEPT, token=existing.token, body=accept)
    # Then they are a member, and no new token is minted
    assert accepted.status == 201, accepted.body
    assert accepted.body["data"]["user"]["id"] == existing.user_id
    assert accepted.body["data"]["token"] is None
    assert _members(world)["someone@example.org"] == "member"


def test_a_logged_in_user_cannot_take_a_new_users_invitation(world: World) -> None:
    # Given an invitation for an email without an account
    invitation = _invite(world, "unborn@example.com")
    # When a different, existing user accepts it with their PAT
    taken = world.call("POST", ACCEPT, token=world.admin.token, body={"token": invitation["token"]})
    # Then 403 invitation_wrong_user, and the invitee still can
    error_of(taken, 403, "invitation_wrong_user")
    assert world.call("POST", ACCEPT, body={"token": invitation["token"]}).status == 201


def test_an_invitation_is_used_once(world: World) -> None:
    # Given an accepted invitation
    invitation = _invite(world, "once@example.com")
    first = world.call("POST", ACCEPT, body={"token": invitation["token"]})
    assert first.status == 201
    # When it is accepted again, anonymously or with the new user's PAT, and when it is revoked
    again = world.call("POST", ACCEPT, body={"token": invitation["token"]})
    with_pat = world.call(
        "POST", ACCEPT, token=first.body["data"]["token"]["token"], body={"token": invitation["token"]}
    )
    revoke = world.call(
        "DELETE", f"/v1/orgs/{world.org_id}/invitations/{invitation['id']}", token=world.admin.token
    )
    # Then each is 409 invitation_used
    for reply in (again, with_pat, revoke):
        error_of(reply, 409, "invitation_used")


def test_an_expired_invitation_is_gone(world: World) -> None:
    # Given an invitation that expires in a second
    expires_at = datetime.now(UTC) + timedelta(seconds=1)
    invitation = _invite(world, "late@example.com", expires_at=expires_at.isoformat())
    while datetime.now(UTC) <= expires_at:
        time.sleep(0.1)
    # When it is accepted after that
    late = world.call("POST", ACCEPT, body={"token": invitation["token"]})
    # Then 410 invitation_expired; it lists as expired, and nobody joined
    error_of(late, 410, "invitation_expired")
    listed = world.builder.data("GET", f"/v1/orgs/{world.org_id}/invitations", expect=200)
    assert [i["status"] for i in listed] == ["expired"]
    assert "late@example.com" not in _members(world)


def test_an_unknown_or_forged_token_finds_no_invitation(world: World) -> None:
    # Given a real invitation
    invitation = _invite(world, "real@example.com")
    forged = invitation["token"][:-4] + ("AAAA" if not invitation["token"].endswith("AAAA") else "BBBB")
    # When a token with the right id and a wrong secret, and one of no Switchboard shape, are accepted
    replies = [world.call("POST", ACCEPT, body={"token": t}) for t in (forged, "not-a-token")]
    # Then both are 404 invitation_not_found, and the real one still works
    for reply in replies:
        error_of(reply, 404, "invitation_not_found")
    assert world.call("POST", ACCEPT, body={"token": invitation["token"]}).status == 201


def test_racing_accepts_make_one_membership(world: World) -> None:
    # Given an invitation for a new user
    invitation = _invite(world, "racer@example.com")
    # When eight accepts race
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(
            pool.map(lambda _: world.call("POST", ACCEPT, body={"token": invitation["token"]}), range(8))
        )
    # Then exactly one wins; the others are 409 invitation_used
    statuses = sorted(r.status for r in replies)
    assert statuses == [201] + [409] * 7, [r.body for r in replies]
    assert {r.body["error"]["code"] for r in replies if r.status == 409} == {"invitation_used"}
    # And there is one user and one membership for the email
    winner = next(r for r in replies if r.status == 201).body["data"]
    claim = control().get(keys.email_claim("racer@example.com"))
    assert claim is not None
    assert claim["user_id"] == winner["user"]["id"]
    listed = world.call("GET", f"/v1/orgs/{world.org_id}/members", token=world.admin.token).body["data"]
    assert [m["user_id"] for m in listed if m["email"] == "racer@example.com"] == [winner["user"]["id"]]


def test_the_accepting_write_holds_only_for_a_pending_unexpired_invitation(world: World) -> None:
    # Given a pending invitation, an accepted one and one past its expiry
    pending, used = _invite(world, "p@example.com"), _invite(world, "u@example.com")
    assert world.call("POST", ACCEPT, body={"token": used["token"]}).status == 201
    expires_at = datetime.now(UTC) + timedelta(seconds=1)
    expired = _invite(world, "e@example.com", expires_at=expires_at.isoformat())
    while datetime.now(UTC) <= expires_at:
        time.sleep(0.1)
    # When the accepting write is tried on each, as a racing accept that passed the checks would
    now = utcnow()
    outcomes = {
        name: control().transact_reasons([invitations.accept_op(invitation["id"], "usr-racer", now)])
        for name, invitation in {"pending": pending, "used": used, "expired": expired}.items()
    }
    # Then only the pending one is written
    assert outcomes == {
        "pending": None,
        "used": ["ConditionalCheckFailed"],
        "expired": ["ConditionalCheckFailed"],
    }
