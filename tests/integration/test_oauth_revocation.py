"""Revoking an OAuth link revokes its tokens at the provider (RFC 7009), through the credentials function:
the end user's unlink (Apps function) and a builder's revocation (management function) queue it, the
dispatcher hands it to the credentials function, which asks the real authorization server (oidc-provider on
127.0.0.1) to revoke the refresh and access tokens; the link is revoked whatever the provider answers, and the
outcome is recorded in the link's history and in its revocation record."""

from __future__ import annotations

import json
import warnings

import pytest

from switchboard import egress
from switchboard.domain.runs import LinkStatus
from switchboard.store import keys, link_secrets, links, oauth_revocations
from switchboard.store.links import links_table
from tests.integration.oauth_fixtures import Scene, provider, scene
from tests.support.fakes import Reply as Answer

with warnings.catch_warnings(record=True):
    from authlib.integrations.httpx_client import OAuth2Client, OAuthError


__all__ = ["provider", "scene"]  # the fixtures, from their shared home


def _introspected_active(scene: Scene, token: str) -> bool:
    """What the provider's introspection endpoint says of a token (asked as the resource server)."""
    server = scene.provider.resource_server
    with OAuth2Client(server.client_id, server.client_secret) as client:
        answer = client.introspect_token(scene.provider.discovery()["introspection_endpoint"], token=token)
    assert answer.status_code == 200, answer.text
    return bool(answer.json()["active"])


def _refresh_error(scene: Scene, refresh_token: str) -> str | None:
    """The provider's error for a refresh with ``refresh_token`` (None: it was accepted)."""
    client = scene.provider.clients["client_secret_basic"]
    with OAuth2Client(client.client_id, client.client_secret) as oauth:
        try:
            oauth.refresh_token(scene.provider.discovery()["token_endpoint"], refresh_token=refresh_token)
        except OAuthError as error:
            return str(error.error)
    return None


def _linked_tokens(scene: Scene, user_id: str, login: str) -> dict[str, object]:
    assert scene.link_as(user_id, login).status == 200
    link = links.get_link(scene.world.app_id, user_id, "crm")
    assert link is not None
    return link_secrets.open_values(link)


def _history(link_id: str) -> list[tuple[str | None, str, str | None]]:
    return [
        (t.from_status.value if t.from_status else None, t.to_status.value, t.reason)
        for t in links.list_transitions(link_id)
    ]


def test_an_end_user_unlinking_revokes_the_tokens_at_the_provider(
    scene: Scene, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a user linked as alice, whose refresh and access tokens the provider holds active
    tokens = _linked_tokens(scene, "user-42", "alice")
    refresh, access = str(tokens["refresh_token"]), str(tokens["access_token"])
    assert _introspected_active(scene, refresh)
    assert _introspected_active(scene, access)
    revocations_before = scene.provider.stats()["revocation"]
    # When the user unlinks through the connect API, and the dispatcher takes the queued revocation
    token = scene.world.connect_token("user-42").token
    reply = scene.world.runtime.call("DELETE", "/v1/connect/requirements/crm", token=token)
    assert reply.status == 204, reply.body
    assert scene.dispatch("oauth2_revoke") == 1
    # Then the link is revoked, and the provider was asked to revoke both tokens (the app's basic auth)
    link = links.get_link(scene.world.app_id, "user-42", "crm")
    assert link is not None
    assert (link.status, link.sealed_secret) == (LinkStatus.revoked, None)
    assert scene.provider.stats()["revocation"] == revocations_before + 2
    # And the tokens no longer work at the provider: introspection says inactive, a refresh is invalid_grant
    assert not _introspected_active(scene, refresh)
    assert not _introspected_active(scene, access)
    assert _refresh_error(scene, refresh) == "invalid_grant"
    # And the outcome is in the link's history and its revocation record, which no longer holds the tokens
    assert _history(link.id)[-2:] == [
        ("active", "revoked", "revoked by the user"),
        ("revoked", "revoked", "tokens revoked at the provider: revoked"),
    ]
    record = links_table().get(keys.oauth2_revocation(link.id))
    assert record is not None
    assert record["outcome"] == "revoked"
    assert "sealed_secret" not in record
    # And no token or client secret is in a log line
    seen = capsys.readouterr().out + caplog.text + json.dumps(record, default=str)
    for value in (refresh, access, scene.app_config["client_secret"]):
        assert value not in seen


def test_a_builder_revoking_a_link_revokes_its_tokens_and_leaves_another_users_alone(scene: Scene) -> None:
    # Given two users linked as alice and bob (two grants at the provider)
    alice = _linked_tokens(scene, "user-1", "alice")
    bob = _linked_tokens(scene, "user-2", "bob")
    link = links.get_link(scene.world.app_id, "user-1", "crm")
    assert link is not None
    # When a builder revokes alice's link through the management API, and the dispatcher takes the message
    builder = scene.world.world.builder
    assert builder.data("DELETE", f"/v1/apps/{scene.world.app_id}/links/{link.id}", expect=204) is None
    assert scene.dispatch("oauth2_revoke") == 1
    # Then alice's refresh token is dead at the provider, bob's still works
    assert _refresh_error(scene, str(alice["refresh_token"])) == "invalid_grant"
    assert _introspected_active(scene, str(bob["refresh_token"]))
    assert links.get_link(scene.world.app_id, "user-2", "crm").status is LinkStatus.active  # type: ignore[union-attr]
    # And revoking again changes nothing and queues nothing
    assert builder.data("DELETE", f"/v1/apps/{scene.world.app_id}/links/{link.id}", expect=204) is None
    assert scene.dispatch("oauth2_revoke") == 0


@pytest.mark.parametrize(
    ("revocation_url", "outcome"),
    [
        ("http://127.0.0.1:1/revoke", "unreachable"),
        ("target:/revoke", "provider_error"),
        ("http://revoke.internal.test/revoke", "destination_not_allowed"),
        (None, "not_configured"),
    ],
)
def test_a_provider_that_does_not_revoke_still_leaves_the_link_revoked_with_the_outcome_recorded(
    scene: Scene, revocation_url: str | None, outcome: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a linked user, and an OAuth app whose revocation endpoint is down, answers 503, is a name that
    # resolves to a private address by the time it is called, or is not configured
    tokens = _linked_tokens(scene, "user-42", "alice")
    scene.world.target.respond("/revoke", Answer(status=503, body={"error": "temporarily_unavailable"}))
    config = {key: value for key, value in scene.app_config.items() if key != "revocation_url"}
    if revocation_url is not None:
        config["revocation_url"] = revocation_url.replace("target:", scene.world.target.url)
    scene.world.world.builder.data(
        "PATCH", f"/v1/connections/{scene.app_connection_id}", {"config": config}, expect=200
    )
    real_resolver = egress.system_resolver
    monkeypatch.setattr(
        egress,
        "system_resolver",
        lambda host, port: ["10.255.255.1"] if host == "revoke.internal.test" else real_resolver(host, port),
    )
    # When the user unlinks, and the dispatcher takes the queued revocation
    token = scene.world.connect_token("user-42").token
    reply = scene.world.runtime.call("DELETE", "/v1/connect/requirements/crm", token=token)
    assert scene.dispatch("oauth2_revoke") == 1
    # Then the link is revoked all the same, and the outcome is recorded
    assert reply.status == 204, reply.body
    link = links.get_link(scene.world.app_id, "user-42", "crm")
    assert link is not None
    assert link.status is LinkStatus.revoked
    assert _history(link.id)[-1] == ("revoked", "revoked", f"tokens revoked at the provider: {outcome}")
    record = oauth_revocations.get_revocation(link.id)
    assert record is not None
    assert (record.outcome, record.sealed_secret) == (outcome, None)
    # And the provider's own tokens were not revoked (nothing reached it)
    assert _introspected_active(scene, str(tokens["refresh_token"]))
    if outcome == "provider_error":
        assert len(scene.world.target.requests_to("/revoke")) == 2
