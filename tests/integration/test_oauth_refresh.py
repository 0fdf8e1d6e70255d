"""OAuth links' tokens stay fresh, refreshed once: runs of an App whose ``call`` node goes through the end
user's OAuth link to a loopback API that checks each bearer token with the real authorization server's
introspection endpoint (oidc-provider on 127.0.0.1, refresh-token rotation on). The handlers run on moto;
the provider's access-token lifetime is set per test (its ``access_token_ttl`` knob)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from switchboard.domain.ids import iso, utcnow
from switchboard.domain.runs import Link, LinkStatus
from switchboard.runtime.webhooks.signing import verify_webhook
from switchboard.store import keys, link_secrets, links
from switchboard.store.links import links_table
from switchboard.store.table import update_op
from tests.integration.apps_runtime import deploy
from tests.integration.conftest import World
from tests.integration.oauth_fixtures import (
    LONG_LIVED,
    Scene,
    api,
    assert_refresh_traced_and_no_token_shown,
    expired_behind_a_slow_token_endpoint,
    oauth_scene,
    provider,
    refreshes,
    runs_together,
    trace,
)
from tests.support.bearer_api import IntrospectedApi
from tests.support.fakes import Reply as Answer
from tests.support.oauth_provider import OAuthProvider
from tests.support.stack import LambdaContextStub, load_function
from tests.support.workflows import echo_workflow
from tests.support.world import Reply

USER = "user-42"


__all__ = ["api", "provider"]  # the fixtures, from their shared home


@pytest.fixture
def scene(
    world: World, monkeypatch: pytest.MonkeyPatch, provider: OAuthProvider, api: IntrospectedApi
) -> Iterator[Scene]:
    """The App's ``crm`` requirement is an account at the provider (its post-auth client, no revocation
    endpoint, no ID token check) whose tokens go to ``api``."""
    config = provider.app_config("client_secret_post", with_revocation=False, with_id_token=False)
    with oauth_scene(world, monkeypatch, provider, config, upstream_url=api.url) as built:
        yield built


def link_with_token_lifetime(scene: Scene, seconds: int) -> Link:
    """Link the user as alice while the provider issues access tokens for ``seconds``; then it issues
    long-lived ones again."""
    scene.provider.knobs(access_token_ttl=seconds)
    assert scene.link_as(USER, "alice").status == 200
    scene.provider.knobs(access_token_ttl=LONG_LIVED)
    link = links.get_link(scene.world.app_id, USER, "crm")
    assert link is not None
    return link


def run(scene: Scene) -> Reply:
    return scene.world.runtime.call("POST", "/v1/runs", body={"input": {"question": "hi"}, "user_id": USER})


def tokens(scene: Scene) -> dict[str, Any]:
    link = links.get_link(scene.world.app_id, USER, "crm")
    assert link is not None
    return link_secrets.open_values(link)


def call_span(scene: Scene, run_id: str) -> dict[str, Any]:
    """The ``call`` node's last attempt span in the run's trace (management API)."""
    trace = scene.world.world.builder.data(
        "GET", f"/v1/apps/{scene.world.app_id}/traces/{run_id}", expect=200
    )
    node = next(span for span in trace["spans"][0]["children"] if span["name"] == "call")
    attempt: dict[str, Any] = node["children"][-1]
    return attempt


def test_twenty_runs_on_an_expired_token_refresh_it_once_and_every_run_succeeds(
    scene: Scene,
    api: IntrospectedApi,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given alice's link whose access token has expired (1 s lifetime), and a slow token endpoint that
    # widens the race
    link_with_token_lifetime(scene, 1)
    old = tokens(scene)
    before = expired_behind_a_slow_token_endpoint(scene)
    # When 20 runs for the user start together
    replies = runs_together(20, lambda: run(scene))
    # Then the provider saw exactly one refresh request, and every run succeeded with the new token
    assert refreshes(scene) == before + 1
    assert len(replies) == 20
    assert [(r.status, r.body["data"]["status"]) for r in replies] == [(200, "completed")] * 20
    assert {r.body["data"]["output"]["answer"]["body"]["sub"] for r in replies} == {"alice"}
    new = tokens(scene)
    assert set(api.bearer_tokens()) == {new["access_token"]}
    # And the rotated refresh token is stored with the new access token, the version bumped once
    assert new["refresh_token"] != old["refresh_token"]
    assert new["access_token"] != old["access_token"]
    link = links.get_link(scene.world.app_id, USER, "crm")
    assert link is not None
    assert (link.status, link.token_version, link.refresh_lease) == (LinkStatus.active, 1, None)
    # And the traces of the runs that got the refreshed token as it was made (the refresher's, those that
    # waited for it) record the refresh; runs that started after it read a fresh token. No token anywhere
    item = links_table().get(keys.link(link.app_id, link.user_id, link.requirement_id))
    shown = capsys.readouterr().out + caplog.text + json.dumps(item, default=str)
    assert_refresh_traced_and_no_token_shown(scene, replies, [old, new], shown)


def test_a_token_expiring_within_60_s_is_refreshed_and_one_with_more_left_is_not(scene: Scene) -> None:
    # Given alice's link whose access token expires in 30 s
    link_with_token_lifetime(scene, 30)
    first = tokens(scene)
    before = refreshes(scene)
    # When a run uses it, and then another (the refreshed token has an hour left)
    refreshed = run(scene)
    kept = run(scene)
    # Then the first run's token was refreshed before it was handed out, the second's not
    assert (refreshed.status, refreshed.body["data"]["status"]) == (200, "completed")
    assert (kept.status, kept.body["data"]["status"]) == (200, "completed")
    assert refreshes(scene) == before + 1
    assert tokens(scene)["access_token"] != first["access_token"]
    assert trace(scene, refreshed.body["data"]["id"])["credential_resolutions"][0]["refreshed"] is True
    assert trace(scene, kept.body["data"]["id"])["credential_resolutions"][0]["refreshed"] is False


def test_a_401_refreshes_once_and_the_request_is_retried_with_the_new_token(
    scene: Scene, api: IntrospectedApi
) -> None:
    # Given alice's link with an hour-long token that the provider has since dropped (its refresh token
    # stays valid)
    link_with_token_lifetime(scene, LONG_LIVED)
    dropped = tokens(scene)["access_token"]
    assert scene.provider.revoke_access("alice") >= 1
    before = refreshes(scene)
    # When a run calls the API with it, and then another run
    retried = run(scene)
    after = run(scene)
    # Then the API answered 401, the node asked for a refresh once and its retry succeeded
    assert (retried.status, retried.body["data"]["status"]) == (200, "completed"), retried.body
    fresh = tokens(scene)["access_token"]
    assert api.bearer_tokens() == [dropped, fresh, fresh]
    assert refreshes(scene) == before + 1
    assert (after.status, after.body["data"]["status"]) == (200, "completed")
    # And the node's span records the refresh, without the token
    attributes = call_span(scene, retried.body["data"]["id"])["attributes"]
    assert attributes["credential.refreshed"] is True
    assert attributes["http.status_code"] == 200
    assert fresh not in json.dumps(attributes)


def test_a_revoked_grant_marks_the_link_expired_and_the_next_run_is_refused(
    scene: Scene, api: IntrospectedApi
) -> None:
    # Given alice's link, an App with an event URL, and the user removed the app at the provider
    secret = scene.world.use_event_receiver()
    scene.world.target.respond("/events", Answer(status=204))
    link = link_with_token_lifetime(scene, LONG_LIVED)
    scene.world.take_deliveries()
    assert scene.provider.revoke("alice") >= 1
    # When a run calls the API (401: the token is dead) and the node asks for a refresh (invalid_grant)
    failed = run(scene)
    # Then the node fails with a clear non-retryable error, after one attempt
    assert failed.status == 200, failed.body
    assert failed.body["data"]["status"] == "failed"
    error = failed.body["data"]["nodes"]["call"]["error"]
    assert error["type"] == "oauth2_link_expired"
    assert "invalid_grant" in error["message"]
    assert len(api.requests) == 1
    # And the link is expired with its reason, the transition recorded
    expired = links.get_link(scene.world.app_id, USER, "crm")
    assert expired is not None
    assert (expired.id, expired.status) == (link.id, LinkStatus.expired)
    assert expired.status_reason is not None
    assert "invalid_grant" in expired.status_reason
    last = links.list_transitions(link.id)[-1]
    assert (last.from_status, last.to_status, last.reason) == (
        LinkStatus.active,
        LinkStatus.expired,
        expired.status_reason,
    )
    # And the App gets the signed link.expired event
    ((message, _),) = scene.world.take_deliveries()
    scene.world.deliver(message)
    (request,) = scene.world.events_received()
    verify_webhook(secret, request.headers, request.body)
    assert request.json()["type"] == "link.expired"
    assert request.json()["data"]["status"] == "expired"
    # And the next run's pre-flight refuses it like any non-active link
    refused = run(scene)
    assert refused.status == 422, refused.body
    assert refused.body["error"]["code"] == "requirement_not_satisfied"
    assert [(e["id"], e["status"]) for e in refused.body["error"]["details"]["requirements"]] == [
        ("crm", "expired")
    ]


def test_an_expired_token_whose_grant_was_revoked_expires_the_link_before_any_request(
    scene: Scene, api: IntrospectedApi
) -> None:
    # Given alice's link whose access token has expired, and whose grant the user revoked
    link_with_token_lifetime(scene, 1)
    time.sleep(1.5)
    scene.provider.revoke("alice")
    # When a run needs it
    failed = run(scene)
    # Then the refresh failed invalid_grant before the run's nodes ran: the node fails without a request
    assert (failed.status, failed.body["data"]["status"]) == (200, "failed"), failed.body
    assert failed.body["data"]["nodes"]["call"]["error"]["type"] == "oauth2_link_expired"
    assert api.requests == []
    expired = links.get_link(scene.world.app_id, USER, "crm")
    assert expired is not None
    assert expired.status is LinkStatus.expired
    resolution = trace(scene, failed.body["data"]["id"])["credential_resolutions"][0]
    assert resolution["status"] == "expired"


def test_a_401_with_a_freshly_refreshed_token_marks_the_link_unauthorized(
    scene: Scene, api: IntrospectedApi
) -> None:
    # Given alice's link, and an API that now refuses every token of hers
    link_with_token_lifetime(scene, LONG_LIVED)
    api.reject_all = True
    before = refreshes(scene)
    # When a run calls it: 401, one refresh, and 401 again with the new token
    failed = run(scene)
    # Then the node fails unauthorized after exactly one refresh and one retry, and the link is unauthorized
    assert (failed.status, failed.body["data"]["status"]) == (200, "failed"), failed.body
    assert failed.body["data"]["nodes"]["call"]["error"]["type"] == "connection_unauthorized"
    assert refreshes(scene) == before + 1
    assert len(api.requests) == 2
    link = links.get_link(scene.world.app_id, USER, "crm")
    assert link is not None
    assert link.status is LinkStatus.unauthorized


def test_a_crashed_refreshers_lease_is_taken_over_once_it_runs_out(scene: Scene) -> None:
    # Given alice's link whose access token has expired, and a refresher that claimed its lease and
    # crashed: the lease runs out in 2 s
    link = link_with_token_lifetime(scene, 1)
    time.sleep(1.5)
    table = links_table()
    table.write(
        update_op(
            table.name,
            keys.link(link.app_id, link.user_id, link.requirement_id),
            "SET refresh_lease = :owner, refreshing_until = :until",
            None,
            {":owner": "rfl-crashedcrashedcrash", ":until": iso(utcnow() + timedelta(seconds=2))},
        )
    )
    before = refreshes(scene)
    started = time.monotonic()
    # When a run needs the token
    reply = run(scene)
    # Then it waited for the lease to run out, took it over, refreshed once and the run succeeded
    assert (reply.status, reply.body["data"]["status"]) == (200, "completed"), reply.body
    assert time.monotonic() - started >= 1.0
    assert refreshes(scene) == before + 1
    taken = links.get_link(scene.world.app_id, USER, "crm")
    assert taken is not None
    assert (taken.token_version, taken.refresh_lease, taken.refreshing_until) == (1, None, None)


def test_run_input_cannot_set_the_authorization_header_the_oauth_link_owns(
    scene: Scene, api: IntrospectedApi
) -> None:
    # Given a version whose call node takes its headers from the run input, and alice's link
    document = echo_workflow(requirement=True)
    document["requirements"][0].update(
        connection_type="oauth2",
        title="Connect your CRM account",
        oauth2={"app_connection_id": scene.app_connection_id, "url": api.url},
    )
    document["nodes"][0]["fields"].append({"name": "headers", "type": "object"})
    document["nodes"][2]["inputs"] = {"headers": "$.input.headers"}
    deploy(scene.world.world, document)
    link_with_token_lifetime(scene, LONG_LIVED)
    # When one run's input sets Authorization (a forged token), and another's sets an ordinary header
    forged = scene.world.runtime.call(
        "POST",
        "/v1/runs",
        body={"input": {"question": "hi", "headers": {"authorization": "Bearer forged"}}, "user_id": USER},
    )
    plain = scene.world.runtime.call(
        "POST", "/v1/runs", body={"input": {"question": "hi", "headers": {"X-Trace": "7"}}, "user_id": USER}
    )
    # Then the forged one fails its node header_not_allowed before any request; the other is sent with the
    # link's own bearer token and the input's header
    assert (forged.status, forged.body["data"]["status"]) == (200, "failed"), forged.body
    assert forged.body["data"]["nodes"]["call"]["error"]["type"] == "header_not_allowed"
    assert (plain.status, plain.body["data"]["status"]) == (200, "completed"), plain.body
    (request,) = api.requests
    assert request.headers["authorization"] == f"Bearer {tokens(scene)['access_token']}"
    assert request.headers["x-trace"] == "7"


def test_a_refresh_request_is_answered_only_for_the_runs_own_user_and_declared_requirement(
    scene: Scene,
) -> None:
    # Given alice's link for user-42, and a run of the App for user-42
    link_with_token_lifetime(scene, LONG_LIVED)
    started = scene.world.runtime.call(
        "POST", "/v1/runs", body={"input": {"question": "hi"}, "user_id": USER, "background": True}
    )
    assert started.status == 202, started.body
    run_id = started.body["data"]["id"]
    before = refreshes(scene)
    request = {
        "kind": "oauth2_refresh",
        "run_id": run_id,
        "app_id": scene.world.app_id,
        "user_id": USER,
        "requirement_id": "crm",
        "token_version": 0,
    }
    credentials = load_function("credentials").lambda_handler
    # When the executor's refresh request names another user, an undeclared requirement, an extra field,
    # and then asks as the run's own user
    other_user = credentials({**request, "user_id": "user-43"}, LambdaContextStub())
    undeclared = credentials({**request, "requirement_id": "billing"}, LambdaContextStub())
    extra = credentials({**request, "refresh_token": "forged"}, LambdaContextStub())
    legit = credentials(request, LambdaContextStub())
    # Then the first three are refused without a refresh, and the legitimate one gets a newer token
    assert other_user["error"]["code"] == "forbidden"
    assert undeclared["error"]["code"] == "forbidden"
    assert extra["error"]["code"] == "invalid_request"
    assert extra["error"]["details"][0]["loc"] == ["refresh_token"]
    credential = legit["credentials"]["requirement:crm"]
    assert credential["config"]["token_version"] == 1
    assert credential["config"]["access_token"] == tokens(scene)["access_token"]
    assert credential["secret_fields"] == ["access_token"]
    assert "refresh_token" not in credential["config"]
    assert legit["resolutions"][0]["refreshed"] is True
    assert refreshes(scene) == before + 1


def test_a_provider_failure_keeps_a_token_that_still_works_and_fails_only_an_expired_one(
    scene: Scene, api: IntrospectedApi
) -> None:
    # Given alice's link whose token expires in 30 s, and a token endpoint failing the next refresh (500)
    link_with_token_lifetime(scene, 30)
    still_valid = tokens(scene)["access_token"]
    scene.provider.knobs(fail_refresh="server_error", fail_count=1)
    before = refreshes(scene)
    # When a run needs it
    kept = run(scene)
    # Then the failed refresh released the lease and the run used the token that still works
    assert (kept.status, kept.body["data"]["status"]) == (200, "completed"), kept.body
    assert refreshes(scene) == before + 1
    assert api.bearer_tokens() == [still_valid]
    link = links.get_link(scene.world.app_id, USER, "crm")
    assert link is not None
    assert (link.status, link.token_version, link.refresh_lease) == (LinkStatus.active, 0, None)

    # Given the user reconnected with a token that has since expired, and the token endpoint failing again
    link_with_token_lifetime(scene, 1)
    time.sleep(1.5)
    scene.provider.knobs(fail_refresh="server_error", fail_count=1)
    # When a run needs it, and another once the provider is back
    failed = run(scene)
    recovered = run(scene)
    # Then the first fails its node oauth2_refresh_failed (the link stays active), the next refreshes
    assert (failed.status, failed.body["data"]["status"]) == (200, "failed"), failed.body
    assert failed.body["data"]["nodes"]["call"]["error"]["type"] == "oauth2_refresh_failed"
    assert (recovered.status, recovered.body["data"]["status"]) == (200, "completed"), recovered.body
    link = links.get_link(scene.world.app_id, USER, "crm")
    assert link is not None
    assert (link.status, link.refresh_lease) == (LinkStatus.active, None)


def test_a_node_whose_link_another_run_expired_meanwhile_fails_link_expired_without_a_refresh(
    scene: Scene, api: IntrospectedApi
) -> None:
    # Given alice's link, and an upstream that answers 401 while, meanwhile, another run found the grant
    # gone and expired the link
    link = link_with_token_lifetime(scene, LONG_LIVED)
    api.reject_all = True

    def expire_meanwhile() -> None:
        current = links.get_link(link.app_id, link.user_id, link.requirement_id)
        if current is not None and current.status is LinkStatus.active:
            links.set_link_status(current, LinkStatus.expired, "invalid_grant in another run", utcnow())

    api.on_request = expire_meanwhile
    before = refreshes(scene)
    # When a run calls it
    failed = run(scene)
    # Then its node asked for a newer token, was told the link expired, and failed so without a refresh
    assert (failed.status, failed.body["data"]["status"]) == (200, "failed"), failed.body
    error = failed.body["data"]["nodes"]["call"]["error"]
    assert error["type"] == "oauth2_link_expired"
    assert refreshes(scene) == before
    assert len(api.requests) == 1
