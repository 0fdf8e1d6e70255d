"""The end user's OAuth 2.0 flow through the handlers on moto, against the real authorization server
(oidc-provider on 127.0.0.1): the connect API's authorization URL, the provider's login and consent over plain
HTTP (``sign_in``), the Apps function's callback, the dispatcher (fed the run queue as its event source would,
while the callback waits) and the credentials function's exchange."""

from __future__ import annotations

import json
import urllib.parse
from datetime import timedelta

import pytest

from switchboard.domain.ids import utcnow
from switchboard.domain.runs import LinkStatus
from switchboard.runtime.webhooks.signing import verify_webhook
from switchboard.settings import get_settings
from switchboard.store import keys, link_secrets, links, oauth_states
from switchboard.store.links import links_table
from switchboard.store.table import update_op
from tests.integration.oauth_fixtures import CALLBACK, Scene, provider, scene
from tests.integration.test_connect_page import allow_returns
from tests.support.fakes import Reply as Answer

__all__ = ["provider", "scene"]  # the fixtures, from their shared home


def test_an_end_user_links_their_account_and_its_identity_is_shown(
    scene: Scene, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given an end user's connect token and the authorization URL the connect API gives for it
    url = scene.authorization_url("user-42")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    exchanged_before = scene.provider.stats()["token_requests"].get("authorization_code", 0)
    # When the user signs in as alice at the provider, consents, and comes back to the callback
    returned = scene.sign_in(url, "alice")
    reply = scene.callback(returned)
    # Then the URL was built from the OAuth app's config with PKCE S256 and a signed state
    assert url.startswith(scene.provider.issuer)
    assert query["client_id"] == "sb-basic"
    assert query["redirect_uri"] == CALLBACK
    assert query["code_challenge_method"] == "S256"
    assert query["scope"] == "openid email profile offline_access"
    assert query["state"].startswith("ost-")
    assert "." in query["state"]
    # And the callback shows success with the upstream account
    assert reply.status == 200, reply.raw
    assert "Account connected" in reply.raw
    assert "alice@example.test" in reply.raw
    # And the link is active with alice's identity, shown in the requirement status
    link = links.get_link(scene.world.app_id, "user-42", "crm")
    assert link is not None
    assert link.status is LinkStatus.active
    assert link.upstream is not None
    assert link.upstream.sub == "alice"
    status = scene.requirement_status("user-42")
    assert (status["status"], status["upstream"]["sub"]) == ("active", "alice")
    assert status["upstream"]["email"] == "alice@example.test"
    listed = scene.world.world.builder.data("GET", f"/v1/apps/{scene.world.app_id}/links", expect=200)
    assert [(entry["user_id"], entry["upstream"]["sub"]) for entry in listed] == [("user-42", "alice")]
    # And the tokens are sealed in the link (a refresh token too); the code was exchanged once
    sealed = link_secrets.open_values(link)
    assert set(sealed) == {"access_token", "refresh_token", "expires_at"}
    assert isinstance(sealed["refresh_token"], str)
    assert scene.provider.stats()["token_requests"]["authorization_code"] == exchanged_before + 1
    # And no token, code or client secret is in the page, the state and link items, or any log line
    state_item = links_table().get(keys.oauth2_state(query["state"].split(".")[0]))
    link_item = links_table().get(keys.link(link.app_id, link.user_id, link.requirement_id))
    seen = (
        reply.raw + json.dumps([state_item, link_item], default=str) + capsys.readouterr().out + caplog.text
    )
    secret = scene.app_config["client_secret"]
    for value in (sealed["access_token"], sealed["refresh_token"], returned["code"], secret):
        assert str(value) not in seen
    assert state_item is not None
    assert (state_item["status"], state_item["outcome"]) == ("done", "active")
    assert "sealed_code" not in state_item


def test_access_denied_at_the_provider_shows_an_error_and_links_nothing(scene: Scene) -> None:
    # Given an authorization the user started
    url = scene.authorization_url("user-42")
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["state"]
    # When the provider returns access_denied (the user pressed Cancel)
    reply = scene.callback({"error": "access_denied", "state": state})
    # Then a clear error page, and nothing is linked
    assert reply.status == 403, reply.raw
    assert "Access was not granted" in reply.raw
    assert "access_denied" in reply.raw
    assert links.get_link(scene.world.app_id, "user-42", "crm") is None


def test_a_replayed_forged_or_expired_state_changes_nothing(scene: Scene) -> None:
    # Given a user who linked once
    url = scene.authorization_url("user-42")
    returned = scene.sign_in(url, "alice")
    first = scene.callback(returned)
    assert first.status == 200, first.raw
    linked = links.get_link(scene.world.app_id, "user-42", "crm")
    # When the same callback comes again (a replay), one with a forged signature, and one whose state expired
    replayed = scene.callback(returned)
    forged_state = returned["state"].split(".")[0] + ".forged"
    forged = scene.callback({"code": "x", "state": forged_state})
    other_url = scene.authorization_url("user-42")
    other_state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(other_url).query))["state"]
    table = links_table()
    past = (utcnow() - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    table.write(
        update_op(
            table.name,
            keys.oauth2_state(other_state.split(".")[0]),
            "SET expires_at = :t",
            None,
            {":t": past},
        )
    )
    expired = scene.callback({"code": "x", "state": other_state})
    # Then each is a clear error page, and the link is the one the first callback made
    assert (replayed.status, forged.status, expired.status) == (409, 400, 410)
    assert "already used" in replayed.raw
    assert "not valid" in forged.raw
    assert "too long" in expired.raw
    assert links.get_link(scene.world.app_id, "user-42", "crm") == linked
    assert oauth_states.get_state(other_state.split(".")[0]).status.value == "pending"  # type: ignore[union-attr]


def test_a_token_endpoint_error_shows_an_error_and_links_nothing(scene: Scene) -> None:
    # Given a user who signed in, and an OAuth app now configured with an auth method its client may not use
    returned = scene.sign_in(scene.authorization_url("user-42"), "alice")
    config = {**scene.app_config, "token_endpoint_auth_method": "client_secret_post"}
    scene.world.world.builder.data(
        "PATCH", f"/v1/connections/{scene.app_connection_id}", {"config": config}, expect=200
    )
    # When the provider's redirect reaches the callback (the token endpoint answers 401 invalid_client)
    reply = scene.callback(returned)
    # Then a clear error page, nothing is linked, and the provider saw the refused exchange
    assert reply.status == 502, reply.raw
    assert "did not accept the sign-in" in reply.raw
    assert "token_endpoint_error" in reply.raw
    assert links.get_link(scene.world.app_id, "user-42", "crm") is None
    assert scene.provider.stats()["auth_methods"].get("sb-basic client_secret_post", 0) >= 1


def test_reconnecting_as_another_account_is_refused_unless_the_backend_allowed_it(scene: Scene) -> None:
    # Given a user linked as alice
    assert scene.link_as("user-42", "alice").status == 200
    first = links.get_link(scene.world.app_id, "user-42", "crm")
    # When they reconnect as bob with an ordinary connect token
    refused = scene.link_as("user-42", "bob")
    # Then it is refused identity_mismatch, the link is unchanged, and its history records the refusal
    assert refused.status == 409, refused.raw
    assert "identity_mismatch" in refused.raw
    assert links.get_link(scene.world.app_id, "user-42", "crm") == first
    assert first is not None
    refusals = [t for t in links.list_transitions(first.id) if "identity_mismatch" in (t.reason or "")]
    assert [(t.from_status, t.to_status) for t in refusals] == [(LinkStatus.active, LinkStatus.active)]
    assert refusals[0].reason == "reconnect as upstream account bob refused (identity_mismatch)"
    # When the user asks to allow the change without the backend's say-so
    ordinary = scene.world.connect_token("user-42").token
    forbidden = scene.authorize(ordinary, allow_identity_change=True)
    assert forbidden.status == 403
    assert forbidden.body["error"]["code"] == "identity_change_not_allowed"
    # When the App's backend minted the token allowing it and the reconnect asks for it
    allowed_token = scene.world.connect_token("user-42", allow_identity_change=True).token
    started = scene.authorize(allowed_token, allow_identity_change=True)
    assert started.status == 200, started.body
    allowed = scene.callback(scene.sign_in(started.body["data"]["authorization_url"], "bob"))
    # Then the link is bob's, and its history records the change
    assert allowed.status == 200, allowed.raw
    now = links.get_link(scene.world.app_id, "user-42", "crm")
    assert now is not None
    assert now.upstream is not None
    assert now.upstream.sub == "bob"
    history = links.list_transitions(now.id)
    assert any("upstream account changed from alice to bob" in (t.reason or "") for t in history)


def test_the_hosted_page_button_goes_to_the_provider_and_back_to_an_active_link(scene: Scene) -> None:
    # Given an end user on the hosted connect page, whose crm requirement is an OAuth account
    token = scene.world.connect_token("user-42").token
    page = scene.world.runtime.call("GET", "/connect", token=None, query={"token": token})
    assert page.status == 200, page.raw[:500]
    assert "/connect/oauth2?token=" in page.raw
    # When they press "Connect" (the page route), sign in at the provider and come back
    pressed = scene.world.runtime.call(
        "GET", "/connect/oauth2", token=None, query={"token": token, "requirement": "crm"}
    )
    assert pressed.status == 303, pressed.raw
    location = pressed.headers["location"]
    reply = scene.callback(scene.sign_in(location, "alice"))
    # Then the route sent them to the provider's authorization page, and the account is linked
    assert location.startswith(f"{scene.provider.issuer}/auth?")
    assert reply.status == 200, reply.raw
    assert "Linked as alice@example.test" in reply.raw
    # And the page now shows the requirement connected, with a button to reconnect
    again = scene.world.runtime.call("GET", "/connect", token=None, query={"token": token})
    assert "Reconnect Connect your CRM account" in again.raw


def test_the_page_button_refuses_a_requirement_that_is_not_an_oauth_one_and_a_bad_token(scene: Scene) -> None:
    # Given an end user's connect token
    token = scene.world.connect_token("user-42").token
    # When the page route is asked for an undeclared requirement, and with a token that is not one
    unknown = scene.world.runtime.call(
        "GET", "/connect/oauth2", token=None, query={"token": token, "requirement": "nope"}
    )
    forged = scene.world.runtime.call(
        "GET", "/connect/oauth2", token=None, query={"token": "sb_ct_forged", "requirement": "crm"}
    )
    # Then each is an error page, and no authorization was started
    assert (unknown.status, forged.status) == (404, 401)
    assert "location" not in unknown.headers
    assert "location" not in forged.headers


def test_the_callback_sends_the_user_to_an_allowed_return_url_and_refuses_one_off_the_list(
    scene: Scene,
) -> None:
    # Given an App that allows returns under https://builder.example/done/
    allow_returns(scene.world, ["https://builder.example/done/"])
    token = scene.world.connect_token("user-42").token
    # When the authorization asks for a return URL off the list, and one on it, and the user links
    off_list = scene.authorize(token, return_url="https://evil.example/steal")
    started = scene.authorize(token, return_url="https://builder.example/done/?from=app")
    assert started.status == 200, started.body
    reply = scene.callback(scene.sign_in(started.body["data"]["authorization_url"], "alice"))
    # Then the one off the list is refused with its field, and the linked user is sent back with the outcome
    assert off_list.status == 422
    assert off_list.body["error"]["details"][0]["code"] == "return_url_not_allowed"
    assert reply.status == 303, reply.raw
    assert reply.headers["location"] == "https://builder.example/done/?from=app&requirement=crm&status=active"


def test_the_authorization_url_takes_nothing_from_the_caller_but_the_requirement(scene: Scene) -> None:
    # Given an end user's connect token, and a caller who tries to choose the provider, scopes and client
    token = scene.world.connect_token("user-42").token
    # When the authorize request carries such fields, and then names a requirement the App does not declare
    steered = scene.authorize(
        token, authorize_url="https://evil.example/auth", scope="admin", client_id="someone-else"
    )
    undeclared = scene.authorize(token, requirement_id="nope")
    plain = scene.authorize(token)
    # Then the extra fields are refused with their names, the undeclared requirement is 404, and the
    # legitimate request's URL is the OAuth app's own
    assert steered.status == 422
    refused = {tuple(problem["loc"]) for problem in steered.body["error"]["details"]}
    assert refused == {("authorize_url",), ("scope",), ("client_id",)}
    assert undeclared.status == 404
    assert undeclared.body["error"]["code"] == "not_found"
    assert plain.status == 200
    url = plain.body["data"]["authorization_url"]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    assert url.startswith(f"{scene.provider.issuer}/auth?")
    assert (query["client_id"], query["prompt"]) == ("sb-basic", "consent")


def test_an_oauth_link_delivers_a_signed_link_activated_event(scene: Scene) -> None:
    # Given an App with an event URL
    secret = scene.world.use_event_receiver()
    scene.world.target.respond("/events", Answer(status=204))
    # When a user links their account at the provider
    assert scene.link_as("user-42", "alice").status == 200
    link = links.get_link(scene.world.app_id, "user-42", "crm")
    assert link is not None
    # Then one delivery is queued and its attempt posts the signed link.activated event, with nothing secret
    ((message, _),) = scene.world.take_deliveries()
    scene.world.deliver(message)
    (request,) = scene.world.events_received()
    verify_webhook(secret, request.headers, request.body)
    event = request.json()
    assert event["type"] == "link.activated"
    assert event["data"] == {
        "link_id": link.id,
        "app_id": scene.world.app_id,
        "user_id": "user-42",
        "requirement_id": "crm",
        "status": "active",
        "reason": "authorized at the provider",
    }


def test_a_token_endpoint_on_a_non_public_address_is_not_called_unless_the_deployment_allows_it(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a user who signed in at the provider (on 127.0.0.1), and a deployment that allows public
    # addresses only
    returned = scene.sign_in(scene.authorization_url("user-42"), "alice")
    exchanged_before = scene.provider.stats()["token_requests"].get("authorization_code", 0)
    monkeypatch.setenv("ALLOW_LOOPBACK_EGRESS", "false")
    get_settings.cache_clear()
    # When the provider's redirect reaches the callback
    reply = scene.callback(returned)
    # Then the token endpoint is never called, the page says why, and nothing is linked
    assert reply.status == 502, reply.raw
    assert "destination_not_allowed" in reply.raw
    assert scene.provider.stats()["token_requests"].get("authorization_code", 0) == exchanged_before
    assert links.get_link(scene.world.app_id, "user-42", "crm") is None
