"""The code exchange, hardened: the code is sent to the token endpoint once even when the dispatcher delivers
its message again, an ID token is believed only once validated (JWKS signature, issuer, audience, expiry,
nonce), and every request to the provider connects to the address the egress rule checked. Against the real
authorization server (oidc-provider on 127.0.0.1) and, for the tokens it would never issue, a loopback token
endpoint."""

from __future__ import annotations

import json
import socket
import time
import urllib.parse
import warnings
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey

from switchboard import aws, egress
from switchboard.domain.ids import utcnow
from switchboard.domain.runs import LinkStatus
from switchboard.runtime.credentials import oauth_exchange
from switchboard.store import links, oauth_states
from tests.integration.oauth_fixtures import CALLBACK, Scene, provider, scene
from tests.support.fakes import Reply as Answer

with warnings.catch_warnings(record=True):
    from authlib.integrations.httpx_client import OAuth2Client


__all__ = ["provider", "scene"]  # the fixtures, from their shared home


def _state_id(url: str) -> str:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))["state"].split(".")[0]


def _code_exchanges(scene: Scene) -> int:
    return int(scene.provider.stats()["token_requests"].get("authorization_code", 0))


def _use_app_config(scene: Scene, **changes: Any) -> None:
    config = {**scene.app_config, **changes}
    scene.world.world.builder.data(
        "PATCH", f"/v1/connections/{scene.app_connection_id}", {"config": config}, expect=200
    )


# ---------------------------------------------------------------- the code is spent once


def test_a_redelivered_exchange_after_a_crash_never_sends_the_code_again(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a user who signed in at the provider, and a first delivery of the exchange that recorded its
    # token request, sent the code and stopped before finishing (simulated before the dispatcher's turn)
    monkeypatch.setattr(oauth_exchange, "REDELIVERY_WAIT_SECONDS", 0.3)
    returned = scene.sign_in(scene.authorization_url("user-42"), "alice")
    before = _code_exchanges(scene)
    client = scene.provider.clients["client_secret_basic"]

    def first_delivery_crashed(state_id: str) -> None:
        state = oauth_states.get_state(state_id)
        assert state is not None
        assert state.sealed_code is not None
        assert oauth_states.start_token_request(state, utcnow())
        with OAuth2Client(client.client_id, client.client_secret, redirect_uri=CALLBACK) as oauth:
            oauth.fetch_token(
                scene.app_config["token_url"],
                grant_type="authorization_code",
                code=oauth_states.open_part(state, "code", state.sealed_code),
                code_verifier=oauth_states.open_part(state, "verifier", state.sealed_verifier),
            )

    # When the dispatcher gets the message again (the redelivery) while the callback waits
    reply = scene.callback(returned, before_exchange=first_delivery_crashed)
    # Then the code reached the token endpoint once (the first delivery's request), not twice
    assert _code_exchanges(scene) == before + 1
    # And the page tells the user to start again, the state says why, and nothing is linked
    assert reply.status == 502, reply.raw
    assert "Linking was interrupted" in reply.raw
    assert "Start connecting again" in reply.raw
    state = oauth_states.get_state(_state_id_from(returned))
    assert state is not None
    assert (state.status.value, state.outcome, state.sealed_code) == ("done", "exchange_interrupted", None)
    assert links.get_link(scene.world.app_id, "user-42", "crm") is None


def test_a_message_delivered_again_after_the_exchange_finished_changes_nothing(scene: Scene) -> None:
    # Given a user linked as alice (the code exchanged once)
    url = scene.authorization_url("user-42")
    assert scene.callback(scene.sign_in(url, "alice")).status == 200
    linked = links.get_link(scene.world.app_id, "user-42", "crm")
    before = _code_exchanges(scene)
    # When the same exchange message reaches the dispatcher again
    aws.client("sqs").send_message(
        QueueUrl=scene.world.runtime.queue_url, MessageBody=json.dumps({"oauth2_exchange": _state_id(url)})
    )
    assert scene.dispatch("oauth2_exchange") == 1
    # Then the token endpoint is not called, and the link and the state's outcome stay as they were
    assert _code_exchanges(scene) == before
    assert links.get_link(scene.world.app_id, "user-42", "crm") == linked
    state = oauth_states.get_state(_state_id(url))
    assert state is not None
    assert state.outcome == "active"


def _state_id_from(returned: dict[str, str]) -> str:
    return returned["state"].split(".")[0]


# ---------------------------------------------------------------- the ID token


def test_the_upstream_identity_comes_from_the_validated_id_token_with_the_nonce_sent(scene: Scene) -> None:
    # Given an authorization asking for openid
    url = scene.authorization_url("user-42")
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    state = oauth_states.get_state(_state_id(url))
    userinfo_before = scene.provider.stats()["userinfo"]
    # When the user signs in as alice and comes back
    reply = scene.callback(scene.sign_in(url, "alice"))
    # Then the request carried a nonce, kept in the state
    assert state is not None
    assert state.nonce is not None
    assert query["nonce"] == state.nonce
    # And the identity is the ID token's (email and name in it): userinfo was not asked
    assert reply.status == 200, reply.raw
    link = links.get_link(scene.world.app_id, "user-42", "crm")
    assert link is not None
    assert link.upstream is not None
    assert (link.upstream.sub, link.upstream.email, link.upstream.name) == (
        "alice",
        "alice@example.test",
        "Alice",
    )
    assert scene.provider.stats()["userinfo"] == userinfo_before


SIGNING_KEY = RSAKey.generate_key(2048, parameters={"kid": "served"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "served"})


def _id_token(scene: Scene, nonce: str | None, case: str) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": scene.world.target.url,
        "sub": "alice",
        "aud": scene.app_config["client_id"],
        "iat": now,
        "exp": now + 300,
        "nonce": nonce,
        "email": "alice@example.test",
        "name": "Alice at the loopback provider",
    }
    if case == "wrong audience":
        claims["aud"] = "another-client"
    elif case == "wrong issuer":
        claims["iss"] = "https://issuer.example.test"
    elif case == "wrong nonce":
        claims["nonce"] = "not-the-one-sent"
    elif case == "expired":
        claims["exp"] = now - 600
    key = OTHER_KEY if case == "signed with another key" else SIGNING_KEY
    if case == "signed with the client secret (HS256)":
        secret = OctKey.import_key(scene.app_config["client_secret"])
        return jwt.encode({"alg": "HS256"}, claims, secret)
    token = jwt.encode({"alg": "RS256", "kid": "served"}, claims, key)
    if case == "tampered payload":
        header, _, signature = token.split(".")
        forged = jwt.encode({"alg": "RS256", "kid": "served"}, {**claims, "sub": "mallory"}, OTHER_KEY)
        token = ".".join((header, forged.split(".")[1], signature))
    return token


@pytest.mark.parametrize(
    "case",
    [
        "valid",
        "signed with another key",
        "tampered payload",
        "signed with the client secret (HS256)",
        "wrong audience",
        "wrong issuer",
        "wrong nonce",
        "expired",
    ],
)
def test_an_id_token_that_does_not_validate_is_refused_and_the_link_is_unchanged(
    scene: Scene, case: str
) -> None:
    # Given a user linked as alice, and an OAuth app whose token endpoint (a loopback server) answers with an
    # ID token signed by the key its JWKS serves, or forged or tampered in one way
    assert scene.link_as("user-42", "alice").status == 200
    linked = links.get_link(scene.world.app_id, "user-42", "crm")
    target = scene.world.target
    _use_app_config(scene, token_url=f"{target.url}/token", jwks_uri=f"{target.url}/jwks", issuer=target.url)
    target.respond("/jwks", Answer(body=KeySet([SIGNING_KEY]).as_dict(private=False)))
    url = scene.authorization_url("user-42")
    state = oauth_states.get_state(_state_id(url))
    assert state is not None
    token = {"access_token": "at-loopback", "token_type": "Bearer", "expires_in": 300}
    target.respond("/token", Answer(body={**token, "id_token": _id_token(scene, state.nonce, case)}))
    # When the provider's redirect reaches the callback
    reply = scene.callback({"code": "loopback-code", "state": url.split("state=")[1].split("&")[0]})
    current = links.get_link(scene.world.app_id, "user-42", "crm")
    assert current is not None
    if case == "valid":
        # Then a valid ID token links the account with its claims
        assert reply.status == 200, reply.raw
        assert current.status is LinkStatus.active
        assert current.upstream is not None
        assert current.upstream.name == "Alice at the loopback provider"
        return
    # Then anything else is refused invalid_id_token, and the link is the one made before
    assert reply.status == 502, reply.raw
    assert "invalid_id_token" in reply.raw
    assert current == linked


# ---------------------------------------------------------------- egress pinning


def test_a_token_endpoint_whose_name_resolves_to_a_refused_address_is_not_called(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a user who signed in, and an OAuth app whose token endpoint's name (accepted when saved, when it
    # did not resolve) now resolves to a private address, refused even where loopback is allowed
    returned = scene.sign_in(scene.authorization_url("user-42"), "alice")
    port = urllib.parse.urlsplit(scene.world.target.url).port
    _use_app_config(scene, token_url=f"http://token.internal.test:{port}/token")
    scene.world.target.respond("/token", Answer(body={"access_token": "at", "token_type": "Bearer"}))
    real_resolver = egress.system_resolver
    monkeypatch.setattr(
        egress,
        "system_resolver",
        lambda host, p: ["10.20.30.40"] if host == "token.internal.test" else real_resolver(host, p),
    )
    # When the provider's redirect reaches the callback
    reply = scene.callback(returned)
    # Then the request is refused before it is sent: the page says why, and nothing is linked
    assert reply.status == 502, reply.raw
    assert "destination_not_allowed" in reply.raw
    assert scene.world.target.requests_to("/token") == []
    assert links.get_link(scene.world.app_id, "user-42", "crm") is None


def test_the_exchange_connects_to_the_address_it_checked_not_a_later_dns_answer(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an OAuth app whose endpoints are a name the egress check resolves to the loopback server, while
    # any later lookup (a connection's) would answer a private address (DNS rebinding)
    target = scene.world.target
    port = urllib.parse.urlsplit(target.url).port
    origin = f"http://rebind.test:{port}"
    _use_app_config(scene, token_url=f"{origin}/token", jwks_uri=f"{origin}/jwks", issuer=target.url)
    target.respond("/jwks", Answer(body=KeySet([SIGNING_KEY]).as_dict(private=False)))
    url = scene.authorization_url("user-42")
    state = oauth_states.get_state(_state_id(url))
    assert state is not None
    token = {"access_token": "at", "token_type": "Bearer", "expires_in": 300}
    target.respond("/token", Answer(body={**token, "id_token": _id_token(scene, state.nonce, "valid")}))
    checks: list[str] = []
    later_lookups: list[str] = []
    real_resolver, real_getaddrinfo = egress.system_resolver, socket.getaddrinfo

    def checked(host: str, p: int) -> list[str]:
        if host != "rebind.test":
            return real_resolver(host, p)
        checks.append(host)
        return ["127.0.0.1"]

    def later(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            later_lookups.append(host)
            return real_getaddrinfo("10.20.30.40", *args, **kwargs)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(egress, "system_resolver", checked)
    monkeypatch.setattr(socket, "getaddrinfo", later)
    # When the provider's redirect reaches the callback
    reply = scene.callback({"code": "loopback-code", "state": url.split("state=")[1].split("&")[0]})
    # Then each request (token, JWKS) was checked once and connected to the checked address, never looking
    # the name up again, with the name in its Host header; and the account is linked
    assert reply.status == 200, reply.raw
    assert (len(checks), later_lookups) == (2, [])
    requests = target.requests_to("/token") + target.requests_to("/jwks")
    assert [request.headers.get("host") for request in requests] == [f"rebind.test:{port}"] * 2
    assert links.get_link(scene.world.app_id, "user-42", "crm") is not None
