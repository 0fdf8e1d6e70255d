"""The test authorization server and the OAuth client library, together, over plain HTTP: oidc-provider
(tests/support/oauth_server) answers discovery, and Authlib runs the authorization-code flow with PKCE S256
through its login and consent pages, then a refresh (rotated) and a revocation (RFC 7009). A test of the test
server and the library, which the OAuth connections build on; no Switchboard code is involved."""

from __future__ import annotations

import urllib.parse
from typing import Any

import httpx
import pytest
from authlib.common.security import generate_token
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from tests.support.oauth_provider import DEFAULT_REDIRECT_URI, OAuthProvider, sign_in

SCOPE = "openid email profile offline_access"


def _client(provider: OAuthProvider, method: str) -> OAuth2Client:
    registered = provider.clients[method]
    return OAuth2Client(
        client_id=registered.client_id,
        client_secret=registered.client_secret,
        token_endpoint_auth_method=method,
        revocation_endpoint_auth_method=method,
        redirect_uri=DEFAULT_REDIRECT_URI,
        code_challenge_method="S256",
        timeout=10,
        trust_env=False,
    )


def _query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def _introspect(provider: OAuthProvider, token: str) -> dict[str, Any]:
    resource_server = provider.resource_server
    response = httpx.post(
        provider.discovery()["introspection_endpoint"],
        data={"token": token},
        auth=(resource_server.client_id, resource_server.client_secret),
        timeout=10,
        trust_env=False,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_discovery_document_names_every_endpoint_and_only_s256(oauth_provider: OAuthProvider) -> None:
    # Given the provider the suite started
    # When its discovery document is read
    response = httpx.get(f"{oauth_provider.issuer}/.well-known/openid-configuration", trust_env=False)
    # Then it answers for its own issuer, with PKCE S256 only and every endpoint the connections use
    assert response.status_code == 200
    document = response.json()
    assert document["issuer"] == oauth_provider.issuer
    assert document["code_challenge_methods_supported"] == ["S256"]
    for endpoint in ("authorization", "token", "revocation", "introspection", "userinfo"):
        assert document[f"{endpoint}_endpoint"].startswith(f"{oauth_provider.issuer}/"), endpoint


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_authlib_signs_in_refreshes_and_revokes_against_the_provider(
    oauth_provider: OAuthProvider, method: str
) -> None:
    # Given a client registered for one token endpoint auth method, and a user's browser
    oauth_provider.reset()
    endpoints = oauth_provider.discovery()
    client = _client(oauth_provider, method)
    verifier = generate_token(64)
    url, state = client.create_authorization_url(
        endpoints["authorization_endpoint"],
        state=generate_token(32),
        code_verifier=verifier,
        scope=SCOPE,
        prompt="consent",
    )
    assert _query(url)["code_challenge"] == create_s256_code_challenge(verifier)
    assert _query(url)["code_challenge_method"] == "S256"
    with httpx.Client(timeout=10, trust_env=False) as browser:
        # When the user signs in as alice and consents
        callback = _query(sign_in(browser, url, "alice", DEFAULT_REDIRECT_URI))
    # Then the provider returns a code with the same state and its issuer (RFC 9207); the code carries the
    # suite's secret marker (tests/conftest.py), like every token it issues
    assert (callback["state"], callback["iss"]) == (state, oauth_provider.issuer)
    assert callback["code"].startswith("SECRET-")

    # When the code is exchanged with the verifier
    token = client.fetch_token(
        endpoints["token_endpoint"],
        grant_type="authorization_code",
        code=callback["code"],
        code_verifier=verifier,
    )
    # Then the tokens belong to alice, and the client authenticated with its registered method; the access
    # and refresh tokens are opaque bearer tokens carrying the secret marker
    assert {"access_token", "refresh_token", "id_token", "expires_at"} <= set(token)
    assert token["token_type"] == "Bearer"
    assert token["access_token"].startswith("SECRET-")
    assert token["refresh_token"].startswith("SECRET-")
    assert token["access_token"].count(".") == 0
    introspected = _introspect(oauth_provider, token["access_token"])
    assert (introspected["active"], introspected["sub"]) == (True, "alice")
    assert introspected["client_id"] == oauth_provider.clients[method].client_id

    # When the refresh token is used
    refreshed = client.refresh_token(endpoints["token_endpoint"], refresh_token=token["refresh_token"])
    # Then a new access token works and the refresh token was rotated, both marked too
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert refreshed["access_token"].startswith("SECRET-")
    assert refreshed["refresh_token"].startswith("SECRET-")
    assert _introspect(oauth_provider, refreshed["access_token"])["active"] is True

    # When the rotated refresh token is revoked (RFC 7009)
    revoked = client.revoke_token(
        endpoints["revocation_endpoint"], token=refreshed["refresh_token"], token_type_hint="refresh_token"
    )
    # Then the grant is gone: a refresh is an invalid_grant, the access token inactive
    assert (revoked.status_code, revoked.text) == (200, "")
    with pytest.raises(OAuthError) as refused:
        client.refresh_token(endpoints["token_endpoint"], refresh_token=refreshed["refresh_token"])
    assert refused.value.error == "invalid_grant"
    assert _introspect(oauth_provider, refreshed["access_token"]) == {"active": False}
    # And the provider counted one code exchange, two refreshes and one revocation, all with this method
    # (besides the three introspections of the upstream API's client)
    stats = oauth_provider.stats()
    assert stats["token_requests"] == {"authorization_code": 1, "refresh_token": 2}
    assert stats["revocation"] == 1
    assert stats["auth_methods"] == {
        f"{oauth_provider.clients[method].client_id} {method}": 4,
        "upstream-api client_secret_basic": 3,
    }


def test_an_authorization_request_without_pkce_is_refused(oauth_provider: OAuthProvider) -> None:
    # Given an authorization URL without a code challenge, next to one with it
    endpoints = oauth_provider.discovery()
    client = _client(oauth_provider, "client_secret_basic")
    without, _ = client.create_authorization_url(endpoints["authorization_endpoint"], state="s1", scope=SCOPE)
    with_pkce, _ = client.create_authorization_url(
        endpoints["authorization_endpoint"], state="s2", scope=SCOPE, code_verifier=generate_token(64)
    )
    # When a browser opens each
    refused = httpx.get(without, trust_env=False)
    accepted = httpx.get(with_pkce, trust_env=False)
    # Then the one without PKCE comes back to the client as invalid_request; the other goes to the login page
    assert refused.status_code == 303
    error = _query(refused.headers["location"])
    assert (error["error"], error["state"]) == ("invalid_request", "s1")
    assert "PKCE" in error["error_description"]
    assert accepted.status_code == 303
    assert accepted.headers["location"].startswith("/interaction/")


def test_a_client_using_another_auth_method_than_registered_is_refused(oauth_provider: OAuthProvider) -> None:
    # Given the client registered for client_secret_post
    registered = oauth_provider.clients["client_secret_post"]
    token_endpoint = oauth_provider.discovery()["token_endpoint"]
    form = {"grant_type": "refresh_token", "refresh_token": "not-a-token"}
    # When it authenticates with HTTP Basic, and then in the form as registered
    basic = httpx.post(
        token_endpoint, data=form, auth=(registered.client_id, registered.client_secret), trust_env=False
    )
    posted = httpx.post(
        token_endpoint,
        data={**form, "client_id": registered.client_id, "client_secret": registered.client_secret},
        trust_env=False,
    )
    # Then Basic is refused as invalid_client; the registered method reaches the grant check
    assert basic.status_code == 401
    assert basic.json()["error"] == "invalid_client"
    assert posted.status_code == 400
    assert posted.json()["error"] == "invalid_grant"
