"""The OAuth story, told end to end as builders and end users live it: two end users link two accounts at the
real authorization server (oidc-provider on 127.0.0.1) through authorize → login/consent → callback; their
runs reach a loopback API, which checks each bearer token with the provider's introspection endpoint, as
themselves; a token expires and is refreshed once; one user's grant is revoked at the provider and their link
turns ``expired``; the pre-flight refuses their next run, and they reconnect. The handlers run on moto."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from switchboard.domain.runs import LinkStatus
from switchboard.runtime.webhooks.signing import verify_webhook
from switchboard.store import link_secrets, links
from tests.integration.conftest import World
from tests.integration.oauth_fixtures import (
    APPS_BASE_URL,
    LONG_LIVED,
    Scene,
    api,
    oauth_scene,
    provider,
    refreshes,
)
from tests.support.bearer_api import IntrospectedApi
from tests.support.fakes import Reply as Answer
from tests.support.oauth_provider import OAuthProvider
from tests.support.world import Reply

ALICE = "user-42"
BOB = "user-43"
SHORT_LIVED = 2


__all__ = ["api", "provider"]  # the fixtures, from their shared home


@pytest.fixture
def scene(
    world: World, monkeypatch: pytest.MonkeyPatch, provider: OAuthProvider, api: IntrospectedApi
) -> Iterator[Scene]:
    """The OAuth flow's App, its ``crm`` requirement's node calling ``api`` with the end user's token."""
    with oauth_scene(world, monkeypatch, provider, upstream_url=api.url) as built:
        yield built


def run(scene: Scene, user_id: str) -> Reply:
    return scene.world.runtime.call(
        "POST", "/v1/runs", body={"input": {"question": "hi"}, "user_id": user_id}
    )


def upstream_sub(reply: Reply) -> str:
    """Whom the upstream API took the run's bearer token for (its introspected ``sub``)."""
    assert (reply.status, reply.body["data"]["status"]) == (200, "completed"), reply.body
    sub: str = reply.body["data"]["output"]["answer"]["body"]["sub"]
    return sub


def access_token(scene: Scene, user_id: str) -> str:
    link = links.get_link(scene.world.app_id, user_id, "crm")
    assert link is not None
    return str(link_secrets.open_values(link)["access_token"])


def test_two_users_link_their_accounts_a_token_is_refreshed_a_revoked_grant_expires_and_is_reconnected(
    scene: Scene, api: IntrospectedApi
) -> None:
    # Given the App sends its events, signed, to the builder's receiver
    secret = scene.world.use_event_receiver()
    scene.world.target.respond("/events", Answer(status=204))

    # Given alice links her account while the provider issues access tokens that live 2 s, and bob links
    # his while it issues hour-long ones, each through authorize → login and consent → callback
    scene.provider.knobs(access_token_ttl=SHORT_LIVED)
    alice_linked = scene.link_as(ALICE, "alice")
    scene.provider.knobs(access_token_ttl=LONG_LIVED)
    bob_linked = scene.link_as(BOB, "bob")
    # Then both callbacks show the account connected, and each link is active with its own upstream identity
    for reply, email in ((alice_linked, "alice@example.test"), (bob_linked, "bob@example.test")):
        assert reply.status == 200, reply.raw
        assert "Account connected" in reply.raw
        assert email in reply.raw
    assert [
        (s["status"], s["upstream"]["sub"])
        for s in (scene.requirement_status(ALICE), scene.requirement_status(BOB))
    ] == [("active", "alice"), ("active", "bob")]
    scene.world.take_deliveries()

    # When bob runs the App
    bob_first = run(scene, BOB)
    # Then the upstream API took his own token for bob, and nothing was refreshed
    assert upstream_sub(bob_first) == "bob"
    assert api.bearer_tokens() == [access_token(scene, BOB)]
    assert refreshes(scene) == 0

    # Given alice's access token has expired at the provider
    expired_token = access_token(scene, ALICE)
    time.sleep(SHORT_LIVED + 0.5)
    # When alice runs the App, and then again
    alice_first = run(scene, ALICE)
    alice_second = run(scene, ALICE)
    # Then her token was refreshed exactly once, before it was handed out: the upstream API saw only the new
    # token, twice, and took it for alice
    assert (upstream_sub(alice_first), upstream_sub(alice_second)) == ("alice", "alice")
    assert refreshes(scene) == 1
    refreshed_token = access_token(scene, ALICE)
    assert refreshed_token != expired_token
    assert api.bearer_tokens()[1:] == [refreshed_token, refreshed_token]

    # Given bob removed the app at the provider: every grant of his account is revoked
    assert scene.provider.revoke("bob") >= 1
    bob_link = links.get_link(scene.world.app_id, BOB, "crm")
    assert bob_link is not None
    sent = len(api.requests)
    # When bob runs the App: the upstream API refuses his token (401) and the refresh is refused
    bob_refused = run(scene, BOB)
    # Then his run fails its node oauth2_link_expired after one request, the refresh refused invalid_grant
    assert (bob_refused.status, bob_refused.body["data"]["status"]) == (200, "failed"), bob_refused.body
    error = bob_refused.body["data"]["nodes"]["call"]["error"]
    assert error["type"] == "oauth2_link_expired"
    assert "invalid_grant" in error["message"]
    assert len(api.requests) == sent + 1
    assert refreshes(scene) == 2
    assert scene.provider.stats()["token"].get("refresh_token.error") == 1
    # And his link is expired in the requirement status, the transition recorded with its reason
    bob_status = scene.requirement_status(BOB)
    assert (bob_status["status"], bob_status["upstream"]["sub"]) == ("expired", "bob")
    assert "/connect?token=" in bob_status["connect_url"]
    last = links.list_transitions(bob_link.id)[-1]
    assert (last.from_status, last.to_status) == (LinkStatus.active, LinkStatus.expired)
    assert last.reason is not None
    assert "invalid_grant" in last.reason
    # And the App received the signed link.expired event for bob's link
    ((message, _),) = scene.world.take_deliveries()
    scene.world.deliver(message)
    (event,) = scene.world.events_received()
    verify_webhook(secret, event.headers, event.body)
    assert event.json()["type"] == "link.expired"
    assert (event.json()["data"]["user_id"], event.json()["data"]["status"]) == (BOB, "expired")

    # When alice runs the App again
    alice_after = run(scene, ALICE)
    # Then she is unaffected: her link is active, her token works as before, without a refresh
    assert upstream_sub(alice_after) == "alice"
    assert api.bearer_tokens()[-1] == refreshed_token
    assert scene.requirement_status(ALICE)["status"] == "active"
    assert refreshes(scene) == 2

    sent = len(api.requests)
    # When bob asks for another run
    preflight = run(scene, BOB)
    # Then the pre-flight refuses it before any request, with a URL where bob can reconnect
    assert preflight.status == 422, preflight.body
    assert preflight.body["error"]["code"] == "requirement_not_satisfied"
    (entry,) = preflight.body["error"]["details"]["requirements"]
    assert (entry["id"], entry["status"]) == ("crm", "expired")
    assert entry["connect_url"].startswith(f"{APPS_BASE_URL}/apps/{scene.world.app_id}/connect?token=")
    assert len(api.requests) == sent

    expired_link = links.get_link(scene.world.app_id, BOB, "crm")
    assert expired_link is not None
    assert (expired_link.id, expired_link.status) == (bob_link.id, LinkStatus.expired)
    # When bob reconnects signing in as another account
    mismatched = scene.link_as(BOB, "mallory")
    # Then it is refused identity_mismatch, and his link is left as it was
    assert mismatched.status == 409, mismatched.raw
    assert "identity_mismatch" in mismatched.raw
    assert links.get_link(scene.world.app_id, BOB, "crm") == expired_link
    assert scene.requirement_status(BOB)["status"] == "expired"

    # When bob reconnects as his own account
    reconnected = scene.link_as(BOB, "bob")
    # Then a new active link replaces the expired one, its identity still bob
    assert reconnected.status == 200, reconnected.raw
    assert "Account connected" in reconnected.raw
    relinked = links.get_link(scene.world.app_id, BOB, "crm")
    assert relinked is not None
    assert (relinked.status, relinked.upstream.sub if relinked.upstream else None) == (
        LinkStatus.active,
        "bob",
    )
    # And the expired link's history records the refusal and its replacement, the new link's its origin
    assert [(t.from_status, t.to_status, t.reason) for t in links.list_transitions(bob_link.id)][-2:] == [
        (
            LinkStatus.expired,
            LinkStatus.expired,
            "reconnect as upstream account mallory refused (identity_mismatch)",
        ),
        (LinkStatus.expired, LinkStatus.revoked, f"replaced by {relinked.id}"),
    ]
    assert [(t.from_status, t.to_status, t.reason) for t in links.list_transitions(relinked.id)] == [
        (None, LinkStatus.active, f"authorized at the provider; replaces {bob_link.id}")
    ]
    assert (scene.requirement_status(BOB)["status"], scene.requirement_status(BOB)["upstream"]["sub"]) == (
        "active",
        "bob",
    )

    sent = len(api.requests)
    # When bob runs the App once more
    bob_back = run(scene, BOB)
    # Then the upstream API takes his new token for bob again
    assert upstream_sub(bob_back) == "bob"
    assert api.bearer_tokens()[sent:] == [access_token(scene, BOB)]
