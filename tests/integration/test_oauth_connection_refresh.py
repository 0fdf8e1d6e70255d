"""A project ``oauth2`` connection's tokens stay fresh, refreshed once: runs of an App whose ``call`` node
goes through the connection (a builder authorized it as alice) to a loopback API that checks each bearer token
with the real authorization server's introspection endpoint (oidc-provider on 127.0.0.1, refresh-token
rotation on). The ``scene`` (the project's OAuth app) and the builder's authorization are those of
``test_oauth_connection_flow``; this module's provider issues tokens with the lifetime a test sets."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import httpx
import pytest

from switchboard.domain.ids import iso, utcnow
from switchboard.store import connections, keys, secrets
from switchboard.store.control import control
from switchboard.store.table import update_op
from tests.integration.apps_runtime import deploy
from tests.integration.oauth_fixtures import (
    LONG_LIVED,
    Scene,
    api,
    assert_refresh_traced_and_no_token_shown,
    expired_behind_a_slow_token_endpoint,
    provider,
    refreshes,
    runs_together,
)
from tests.integration.test_oauth_connection_flow import (
    _account,
    _authorized_as,
    _item,
    _shown,
    _tokens,
    scene,
)
from tests.support.bearer_api import IntrospectedApi
from tests.support.stack import LambdaContextStub, load_function
from tests.support.workflows import echo_workflow
from tests.support.world import Reply

__all__ = ["api", "provider", "scene"]  # the fixtures, from their shared homes


def authorized_with_token_lifetime(scene: Scene, api: IntrospectedApi, seconds: int) -> str:
    """A connection to ``api`` that the builder authorized as alice while the provider issued access tokens
    for ``seconds`` (long-lived ones again afterwards), and the App's workflow calling ``api`` through it."""
    connection_id = _account(scene, api.url)
    scene.provider.knobs(access_token_ttl=seconds)
    assert _authorized_as(scene, connection_id, "alice").status == 200
    scene.provider.knobs(access_token_ttl=LONG_LIVED)
    deploy(scene.world.world, echo_workflow(connection_id))
    return connection_id


def hold_refresh_lease(connection_id: str, owner: str) -> None:
    """A refresher named ``owner`` holds the connection's refresh lease (it runs out in 2 s)."""
    control().write(
        update_op(
            control().name,
            dict(keys.connection(connection_id)),
            "SET refresh_lease = :owner, refreshing_until = :until",
            None,
            {":owner": owner, ":until": iso(utcnow() + timedelta(seconds=2))},
        )
    )


def run(scene: Scene) -> Reply:
    return scene.world.runtime.call("POST", "/", body={"input": {"question": "hey"}})


def test_ten_runs_on_an_expired_connection_token_refresh_it_once_and_every_run_succeeds(
    scene: Scene,
    api: IntrospectedApi,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a connection whose access token has expired (1 s lifetime), and a slow token endpoint that
    # widens the race
    connection_id = authorized_with_token_lifetime(scene, api, 1)
    old = _tokens(connection_id)
    before = expired_behind_a_slow_token_endpoint(scene)
    # When 10 runs start together
    replies = runs_together(10, lambda: run(scene))
    # Then the provider saw exactly one refresh request, and every run reached the API as alice
    assert refreshes(scene) == before + 1
    assert len(replies) == 10
    assert [(r.status, r.body["data"]["status"]) for r in replies] == [(200, "completed")] * 10
    assert {r.body["data"]["nodes"]["call"]["output"]["body"]["sub"] for r in replies} == {"alice"}
    new = _tokens(connection_id)
    assert set(api.bearer_tokens()) == {new["access_token"]}
    # And the rotated refresh token is the secret's current version with the new access token; the item
    # names that version, its token version bumped once and no lease left
    assert new["refresh_token"] != old["refresh_token"]
    assert new["access_token"] != old["access_token"]
    item = _item(connection_id)
    assert item["authorization"]["token_version"] == 2
    assert "refresh_lease" not in item
    assert "refreshing_until" not in item
    assert _shown(scene, connection_id)["authorized"] is True
    # And the traces record the refresh; no token in any answer, trace, log line or the item
    shown = capsys.readouterr().out + caplog.text + json.dumps(item, default=str)
    assert_refresh_traced_and_no_token_shown(scene, replies, [old, new], shown)


def test_a_401_refreshes_the_connections_token_once_and_the_request_is_retried(
    scene: Scene, api: IntrospectedApi
) -> None:
    # Given a connection with an hour-long token that the provider has since dropped (its refresh token
    # stays valid)
    connection_id = authorized_with_token_lifetime(scene, api, LONG_LIVED)
    dropped = _tokens(connection_id)["access_token"]
    assert scene.provider.revoke_access("alice") >= 1
    before = refreshes(scene)
    # When a run calls the API with it, and then another run
    retried = run(scene)
    after = run(scene)
    # Then the API answered 401, the node asked for a refresh once and its retry succeeded; the next run
    # used the new token without a refresh
    assert (retried.status, retried.body["data"]["status"]) == (200, "completed"), retried.body
    fresh = _tokens(connection_id)["access_token"]
    assert fresh != dropped
    assert api.bearer_tokens() == [dropped, fresh, fresh]
    assert refreshes(scene) == before + 1
    assert (after.status, after.body["data"]["status"]) == (200, "completed"), after.body
    assert _item(connection_id)["authorization"]["token_version"] == 2


def test_a_revoked_grant_marks_the_connection_expired_until_a_builder_authorizes_it_again(
    scene: Scene, api: IntrospectedApi
) -> None:
    # Given a connection authorized as alice, whose grant alice then removed at the provider
    connection_id = authorized_with_token_lifetime(scene, api, LONG_LIVED)
    assert scene.provider.revoke("alice") >= 1
    # When a run calls the API (401: the token is dead) and its node asks for a refresh (invalid_grant)
    failed = run(scene)
    # Then the node fails with a clear non-retryable error after one request
    assert (failed.status, failed.body["data"]["status"]) == (200, "failed"), failed.body
    error = failed.body["data"]["nodes"]["call"]["error"]
    assert error["type"] == "oauth2_connection_expired"
    assert "invalid_grant" in error["message"]
    assert len(api.requests) == 1
    # And the builder sees the connection expired, with the reason and when (alice stays its account)
    shown = _shown(scene, connection_id)
    assert (shown["authorized"], shown["authorized_at"], shown["upstream"]["sub"]) == (False, None, "alice")
    assert shown["authorization_event"].startswith("expired: ")
    assert "invalid_grant" in shown["authorization_event"]
    marked_at = datetime.fromisoformat(_item(connection_id)["authorization"]["last_event_at"])
    assert utcnow() - timedelta(minutes=1) < marked_at <= utcnow()
    # When the next run needs it
    refused = run(scene)
    # Then its node fails the same way without a request or a refresh
    before = refreshes(scene)
    assert (refused.status, refused.body["data"]["status"]) == (200, "failed"), refused.body
    assert refused.body["data"]["nodes"]["call"]["error"]["type"] == "oauth2_connection_expired"
    assert len(api.requests) == 1
    assert refreshes(scene) == before
    # When the builder authorizes it again, and a run needs it
    assert _authorized_as(scene, connection_id, "alice").status == 200
    recovered = run(scene)
    # Then the connection is authorized and the run reaches the API as alice
    assert _shown(scene, connection_id)["authorized"] is True
    assert (recovered.status, recovered.body["data"]["status"]) == (200, "completed"), recovered.body
    assert recovered.body["data"]["nodes"]["call"]["output"]["body"]["sub"] == "alice"


def test_a_401_with_a_freshly_refreshed_token_marks_the_connection_unauthorized(
    scene: Scene, api: IntrospectedApi
) -> None:
    # Given a connection authorized as alice, and an API that now refuses every token
    connection_id = authorized_with_token_lifetime(scene, api, LONG_LIVED)
    api.reject_all = True
    before = refreshes(scene)
    # When a run calls it: 401, one refresh, and 401 again with the new token
    failed = run(scene)
    # Then the node fails unauthorized after exactly one refresh and one retry
    assert (failed.status, failed.body["data"]["status"]) == (200, "failed"), failed.body
    assert failed.body["data"]["nodes"]["call"]["error"]["type"] == "connection_unauthorized"
    assert refreshes(scene) == before + 1
    assert len(api.requests) == 2
    # And the builder sees the connection unauthorized, and the next run's node fails without a request
    shown = _shown(scene, connection_id)
    assert shown["authorized"] is False
    assert shown["authorization_event"].startswith("unauthorized: ")
    refused = run(scene)
    assert (refused.status, refused.body["data"]["status"]) == (200, "failed"), refused.body
    assert refused.body["data"]["nodes"]["call"]["error"]["type"] == "oauth2_connection_unauthorized"
    assert len(api.requests) == 2


def test_a_crashed_refreshers_lease_on_a_connection_is_taken_over_once_it_runs_out(
    scene: Scene, api: IntrospectedApi
) -> None:
    # Given a connection whose access token has expired, and a refresher that claimed its lease and crashed:
    # the lease runs out in 2 s
    connection_id = authorized_with_token_lifetime(scene, api, 1)
    time.sleep(1.5)
    hold_refresh_lease(connection_id, "refresh_lease-crashed")
    before = refreshes(scene)
    started = time.monotonic()
    # When a run needs the token
    reply = run(scene)
    # Then it waited for the lease to run out, took it over, refreshed once and the run succeeded
    assert (reply.status, reply.body["data"]["status"]) == (200, "completed"), reply.body
    assert time.monotonic() - started >= 1.0
    assert refreshes(scene) == before + 1
    item = _item(connection_id)
    assert item["authorization"]["token_version"] == 2
    assert ("refresh_lease" in item, "refreshing_until" in item) == (False, False)


def test_a_refresh_request_is_answered_only_for_a_connection_the_runs_workflow_binds(
    scene: Scene, api: IntrospectedApi
) -> None:
    # Given a connection the App's workflow binds, a connection of the project it does not bind, another
    # project's connection, and a run of the App
    connection_id = authorized_with_token_lifetime(scene, api, LONG_LIVED)
    world = scene.world.world
    other_project = world.builder.project("Elsewhere")
    foreign = world.builder.connection(other_project, "crm", "https://crm.example.test", "sk-elsewhere")
    started = run(scene)
    assert started.status == 200, started.body
    before = refreshes(scene)
    request = {
        "kind": "oauth2_refresh",
        "run_id": started.body["data"]["id"],
        "app_id": scene.world.app_id,
        "connection_id": connection_id,
        "token_version": 1,
    }
    credentials = load_function("credentials").lambda_handler
    # When the executor's refresh request names the other project's connection, the unbound one, both a
    # connection and a requirement, and then the bound connection
    other = credentials({**request, "connection_id": foreign}, LambdaContextStub())
    unbound = credentials({**request, "connection_id": world.connection_id}, LambdaContextStub())
    both = credentials({**request, "requirement_id": "crm", "user_id": "user-42"}, LambdaContextStub())
    legit = credentials(request, LambdaContextStub())
    # Then the first three are refused without a refresh, and the legitimate one gets a newer token
    assert (other["error"]["code"], other["error"]["details"]) == ("forbidden", {"connection_id": foreign})
    assert unbound["error"]["code"] == "forbidden"
    assert both["error"]["code"] == "invalid_request"
    credential = legit["credentials"][f"connection:{connection_id}"]
    assert credential["config"]["token_version"] == 2
    assert credential["config"]["access_token"] == _tokens(connection_id)["access_token"]
    assert credential["secret_fields"] == ["access_token"]
    assert "refresh_token" not in credential["config"]
    assert legit["resolutions"][0]["refreshed"] is True
    assert refreshes(scene) == before + 1
    # When the executor asks to mark the other project's connection, or the unbound one, unauthorized
    report = {**request, "kind": "oauth2_unauthorized", "node_id": "call", "status_code": 401}
    marks = [
        credentials({**report, "connection_id": other_id}, LambdaContextStub())
        for other_id in (foreign, world.connection_id)
    ]
    # Then both are refused, and the bound connection stays authorized
    assert [mark["error"]["code"] for mark in marks] == ["forbidden", "forbidden"]
    assert _shown(scene, connection_id)["authorized"] is True


def test_a_refresher_that_died_between_the_secret_and_the_item_loses_no_rotated_refresh_token(
    scene: Scene, api: IntrospectedApi
) -> None:
    # Given a connection whose refresher sent the refresh token, stored what came back (a rotated refresh
    # token, a short-lived access token) as the secret's current version and died before the item named it:
    # the item still holds the old token version and the dead refresher's lease (running out in 2 s)
    connection_id = authorized_with_token_lifetime(scene, api, LONG_LIVED)
    spent = _tokens(connection_id)["refresh_token"]
    client = scene.provider.clients["client_secret_basic"]
    scene.provider.knobs(access_token_ttl=1)
    answered = httpx.post(
        scene.provider.discovery()["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": spent},
        auth=(client.client_id, client.client_secret),
        timeout=10,
    ).json()
    scene.provider.knobs(access_token_ttl=LONG_LIVED)
    rotated = {
        "access_token": answered["access_token"],
        "refresh_token": answered["refresh_token"],
        "expires_at": int(time.time()) + int(answered["expires_in"]),
    }
    assert rotated["refresh_token"] != spent
    connection = connections.get_connection(connection_id)
    assert connection is not None
    assert connection.secret_name is not None
    secrets.put_secret(connection.secret_name, rotated)
    hold_refresh_lease(connection_id, "refresh_lease-died")
    time.sleep(1.5)
    before = refreshes(scene)
    # When a run needs the (now expired) token
    reply = run(scene)
    # Then once the lease ran out, one refresh sent the rotated refresh token (the spent one would have made
    # the provider revoke the grant): the run reached the API as alice and the connection stays authorized
    assert (reply.status, reply.body["data"]["status"]) == (200, "completed"), reply.body
    assert reply.body["data"]["nodes"]["call"]["output"]["body"]["sub"] == "alice"
    assert refreshes(scene) == before + 1
    stored = _tokens(connection_id)
    assert stored["refresh_token"] not in (spent, rotated["refresh_token"])
    assert _shown(scene, connection_id)["authorized"] is True
    assert _item(connection_id)["authorization"]["token_version"] == 2
