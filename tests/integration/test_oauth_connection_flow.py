"""A builder authorizes a project ``oauth2`` connection (a shared account, once) through the management API,
against the real authorization server (oidc-provider on 127.0.0.1): ``POST
/v1/connections/{id}/oauth2/authorize``, the provider's login and consent over plain HTTP, the Apps
function's one callback, the dispatcher and the credentials function's exchange (``Scene`` of the end users'
flow drives them), and an http node bound to the connection sending its bearer token upstream."""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from switchboard import aws
from switchboard.runtime.identity.bootstrap import bootstrap_admin
from switchboard.store import connections, keys, oauth_states
from switchboard.store.control import control
from switchboard.store.links import links_table
from tests.integration.apps_runtime import deploy
from tests.integration.conftest import Reply, World, error_of
from tests.integration.oauth_fixtures import CALLBACK, Scene, oauth_scene
from tests.support.fakes import Reply as Answer
from tests.support.oauth_provider import OAuthProvider, start_oauth_provider
from tests.support.stack import LambdaContextStub, load_function
from tests.support.workflows import echo_workflow

CONNECTION_SCOPES = ["openid", "email", "offline_access"]


@pytest.fixture(scope="module")
def provider() -> Iterator[OAuthProvider]:
    """A provider whose clients' redirect URI is this deployment's callback; access tokens live 5 minutes,
    so a run right after the authorization finds its token active."""
    with start_oauth_provider(redirect_uris=(CALLBACK,), access_token_ttl=300) as started:
        yield started


@pytest.fixture
def scene(world: World, monkeypatch: pytest.MonkeyPatch, provider: OAuthProvider) -> Iterator[Scene]:
    """The project's OAuth app (the provider's basic-auth client), the App, and the loopback upstream."""
    config = provider.app_config(with_revocation=False, with_id_token=False)
    with oauth_scene(world, monkeypatch, provider, config, upstream_url=None) as built:
        yield built


def _account(scene: Scene, url: str | None = None) -> str:
    """A project oauth2 connection through the scene's OAuth app, sending its token to ``url`` (by default
    the loopback target)."""
    config = {
        "app_connection_id": scene.app_connection_id,
        "scopes": CONNECTION_SCOPES,
        "url": url or scene.world.target.url,
    }
    body = {"project_id": scene.world.world.project_id, "name": "shared", "type": "oauth2", "config": config}
    return str(scene.world.world.builder.data("POST", "/v1/connections", body)["id"])


def _authorize(scene: Scene, connection_id: str, token: str | None = None, **body: Any) -> Reply:
    world = scene.world.world
    path = f"/v1/connections/{connection_id}/oauth2/authorize"
    return world.call("POST", path, token=token or world.admin.token, body=body or None)


def _authorized_as(scene: Scene, connection_id: str, login: str, **body: Any) -> Reply:
    """The builder authorizes the connection, signs in as ``login`` and comes back: the callback's page."""
    started = _authorize(scene, connection_id, **body)
    assert started.status == 200, started.body
    return scene.callback(scene.sign_in(started.body["data"]["authorization_url"], login))


def _shown(scene: Scene, connection_id: str) -> dict[str, Any]:
    shown: dict[str, Any] = scene.world.world.builder.data(
        "GET", f"/v1/connections/{connection_id}", expect=200
    )
    return shown


def _item(connection_id: str) -> dict[str, Any]:
    item = control().get(keys.connection(connection_id))
    assert item is not None
    return item


def _tokens(connection_id: str) -> dict[str, Any]:
    connection = connections.get_connection(connection_id)
    assert connection is not None
    assert connection.secret_name is not None
    stored: dict[str, Any] = json.loads(
        aws.secrets().get_secret_value(SecretId=connection.secret_name)["SecretString"]
    )
    return stored


def _query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


def test_a_builder_authorizes_a_connection_and_its_node_sends_the_bearer_token(
    scene: Scene, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given a project oauth2 connection nobody authorized yet
    connection_id = _account(scene)
    before, unauthorized_item = _shown(scene, connection_id), _item(connection_id)
    # When the builder asks for the authorization URL (no body), signs in as alice, consents and comes back
    started = _authorize(scene, connection_id)
    url = started.body["data"]["authorization_url"]
    returned = scene.sign_in(url, "alice")
    page = scene.callback(returned)
    # Then the URL came from the OAuth app's config and the connection's scopes, with PKCE S256, a state
    # that expires in 10 minutes, and the deployment's one callback
    assert started.status == 200, started.body
    assert set(started.body["data"]) == {"authorization_url", "expires_at"}
    query = _query(url)
    assert url.startswith(f"{scene.provider.issuer}/auth?")
    assert (query["client_id"], query["redirect_uri"], query["prompt"]) == ("sb-basic", CALLBACK, "consent")
    assert (query["code_challenge_method"], query["scope"]) == ("S256", " ".join(CONNECTION_SCOPES))
    state = oauth_states.get_state(query["state"].split(".")[0])
    assert state is not None
    assert (state.target.value, state.connection_id, state.status.value) == (
        "connection",
        connection_id,
        "done",
    )
    assert started.body["data"]["expires_at"] == state.expires_at.isoformat().replace("+00:00", "Z")
    # And the callback shows success as alice
    assert page.status == 200, page.raw
    assert "Account connected" in page.raw
    assert "alice@example.test" in page.raw
    # And the connection shows it authorized as alice, when and by whom, where it showed nothing before
    assert (before["authorized"], before["upstream"], before["authorized_at"]) == (False, None, None)
    shown = _shown(scene, connection_id)
    assert shown["authorized"] is True
    assert shown["upstream"] == {"sub": "alice", "email": "alice@example.test", "login": None, "name": None}
    assert shown["authorized_at"] is not None
    assert (
        shown["authorization_event"]
        == f"authorized by {scene.world.world.admin.user_id} as upstream account alice"
    )
    # And the tokens are the connection secret's new version; its item counts them (token_version 1)
    tokens = _tokens(connection_id)
    assert set(tokens) == {"access_token", "refresh_token", "expires_at"}
    item = _item(connection_id)
    assert item["authorization"]["token_version"] == 1
    assert item["secret_version"] != unauthorized_item["secret_version"]
    assert "authorization" not in unauthorized_item

    # When an App's workflow calls the upstream through the connection
    scene.world.target.respond("/echo", Answer(body={"ok": True}))
    deploy(scene.world.world, echo_workflow(connection_id))
    run = scene.world.runtime.call("POST", "/", body={"input": {"question": "hey"}})
    # Then the run completed, its node sent the access token as a bearer token, and the authorization
    # server says that token is alice's and active
    assert (run.status, run.body["data"]["status"]) == (200, "completed"), run.body
    (request,) = scene.world.target.requests_to("/echo")
    assert request.headers["authorization"] == f"Bearer {tokens['access_token']}"
    introspected = httpx.post(
        scene.provider.discovery()["introspection_endpoint"],
        data={"token": tokens["access_token"]},
        auth=(scene.provider.resource_server.client_id, scene.provider.resource_server.client_secret),
        timeout=10,
    ).json()
    assert (introspected["active"], introspected["sub"]) == (True, "alice")
    # And what the credentials function hands the run's executor for the connection is the access token and
    # its expiry, never the refresh token
    asked = {
        "run_id": run.body["data"]["id"],
        "app_id": scene.world.app_id,
        "connection_ids": [connection_id],
    }
    handed = load_function("credentials").lambda_handler(
        {**asked, "requirement_ids": []}, LambdaContextStub()
    )
    credential = handed["credentials"][f"connection:{connection_id}"]
    assert credential["config"]["access_token"] == tokens["access_token"]
    assert credential["config"]["expires_at"] == tokens["expires_at"]
    assert tokens["refresh_token"] not in json.dumps(handed)
    # And no token, code or client secret is in any answer, the state or connection items, or a log line
    seen = (
        started.raw
        + page.raw
        + run.raw
        + json.dumps([links_table().get(keys.oauth2_state(state.id)), item, shown], default=str)
        + capsys.readouterr().out
        + caplog.text
    )
    for value in (
        tokens["access_token"],
        tokens["refresh_token"],
        returned["code"],
        scene.app_config["client_secret"],
    ):
        assert str(value) not in seen


def test_replacing_the_config_forgets_the_tokens_and_the_node_sends_nothing(scene: Scene) -> None:
    # Given a connection authorized as alice
    connection_id = _account(scene)
    assert _authorized_as(scene, connection_id, "alice").status == 200
    # When the builder replaces its config, and an App calls the upstream through it
    config = {"app_connection_id": scene.app_connection_id, "url": scene.world.target.url}
    scene.world.world.builder.data(
        "PATCH", f"/v1/connections/{connection_id}", {"config": config}, expect=200
    )
    deploy(scene.world.world, echo_workflow(connection_id))
    run = scene.world.runtime.call("POST", "/", body={"input": {"question": "hey"}})
    # Then the connection holds no tokens (alice stays its pinned account), and the node sent nothing
    shown = _shown(scene, connection_id)
    assert (shown["authorized"], shown["authorized_at"], shown["upstream"]["sub"]) == (False, None, "alice")
    assert _tokens(connection_id) == {}
    assert (run.status, run.body["data"]["status"]) == (200, "failed"), run.body
    assert run.body["data"]["output"]["call"]["error"]["type"] == "oauth2_not_authorized"
    assert scene.world.target.requests_to("/echo") == []


def test_provider_errors_a_replay_a_forgery_and_a_token_endpoint_error_leave_the_connection_unchanged(
    scene: Scene,
) -> None:
    # Given a connection authorized as alice
    connection_id = _account(scene)
    first = _authorize(scene, connection_id).body["data"]["authorization_url"]
    returned = scene.sign_in(first, "alice")
    assert scene.callback(returned).status == 200
    authorized, tokens = _item(connection_id), _tokens(connection_id)
    # When the builder declines at the provider (access_denied) on a second authorization
    second = _query(_authorize(scene, connection_id).body["data"]["authorization_url"])["state"]
    denied = scene.callback({"error": "access_denied", "state": second})
    # And the first callback comes again (a replay), and one comes with the state's random part forged
    replayed = scene.callback(returned)
    forged_state = _query(_authorize(scene, connection_id).body["data"]["authorization_url"])["state"]
    forged = scene.callback({"code": "x", "state": forged_state.split(".")[0] + ".forged"})
    # And a third authorization comes back after the OAuth app changed to an auth method its client may
    # not use (the token endpoint answers invalid_client)
    third = scene.sign_in(_authorize(scene, connection_id).body["data"]["authorization_url"], "alice")
    app_config = {**scene.app_config, "token_endpoint_auth_method": "client_secret_post"}
    scene.world.world.builder.data(
        "PATCH", f"/v1/connections/{scene.app_connection_id}", {"config": app_config}, expect=200
    )
    refused = scene.callback(third)
    # Then each is a clear error page
    assert (denied.status, replayed.status, forged.status, refused.status) == (403, 409, 400, 502)
    assert "access_denied" in denied.raw
    assert "already used" in replayed.raw
    assert "invalid_state" in forged.raw
    assert "token_endpoint_error" in refused.raw
    # And the connection's item and tokens are exactly what the first authorization made
    assert _item(connection_id) == authorized
    assert _tokens(connection_id) == tokens
    assert _shown(scene, connection_id)["upstream"]["sub"] == "alice"


def test_reauthorizing_as_another_account_is_refused_unless_the_request_allowed_it(scene: Scene) -> None:
    # Given a connection authorized as alice
    connection_id = _account(scene)
    assert _authorized_as(scene, connection_id, "alice").status == 200
    alices = _tokens(connection_id)
    # When the builder authorizes it again as bob without allowing another account
    refused = _authorized_as(scene, connection_id, "bob")
    # Then it is refused identity_mismatch: alice's identity and tokens stay, and the refusal is recorded
    assert refused.status == 409, refused.raw
    assert "identity_mismatch" in refused.raw
    kept = _shown(scene, connection_id)
    assert (kept["authorized"], kept["upstream"]["sub"]) == (True, "alice")
    assert _tokens(connection_id) == alices
    assert _item(connection_id)["authorization"]["token_version"] == 1
    builder = scene.world.world.admin.user_id
    assert kept["authorization_event"] == (
        f"reauthorization as upstream account bob by {builder} refused (identity_mismatch)"
    )
    # When the authorize request allows another account and the builder signs in as bob
    allowed = _authorized_as(scene, connection_id, "bob", allow_identity_change=True)
    # Then the connection is bob's, with new tokens, and the change is recorded
    assert allowed.status == 200, allowed.raw
    changed = _shown(scene, connection_id)
    assert (changed["authorized"], changed["upstream"]["sub"]) == (True, "bob")
    assert changed["authorization_event"] == (
        f"authorized by {builder} as upstream account bob; upstream account changed from alice to bob"
    )
    assert _tokens(connection_id)["access_token"] != alices["access_token"]
    assert _item(connection_id)["authorization"]["token_version"] == 2


def test_only_an_editor_of_the_project_authorizes_and_only_an_oauth2_connection(scene: Scene) -> None:
    world = scene.world.world
    connection_id = _account(scene)
    # Given an access key of the org, an admin of another org, a member of another project only, a viewer
    # of this project, and an editor of it
    access_key = world.call(
        "POST", "/v1/access-keys", token=world.admin.token, body={"org_id": world.org_id, "name": "k"}
    ).body["data"]["token"]
    stranger = bootstrap_admin("stranger@example.org", "Elsewhere").token
    other_project = world.builder.data("POST", "/v1/projects", {"org_id": world.org_id, "name": "B"})
    outsider = world.token_for("b-editor@example.com")
    world.builder.data(
        "POST",
        f"/v1/projects/{other_project['id']}/members",
        {"email": "b-editor@example.com", "role": "editor"},
    )
    viewer = world.token_for("viewer@example.com", project_role="viewer")
    editor = world.token_for("editor@example.com", project_role="editor")
    # When each asks to authorize the connection, the editor also for the project's http_api_key
    # connection and with a field the route does not take
    keyed = _authorize(scene, connection_id, token=access_key)
    foreign = _authorize(scene, connection_id, token=stranger)
    elsewhere = _authorize(scene, connection_id, token=outsider)
    viewed = _authorize(scene, connection_id, token=viewer)
    not_oauth = _authorize(scene, world.connection_id, token=editor)
    steered = _authorize(scene, connection_id, token=editor, authorize_url="https://evil.example/auth")
    granted = _authorize(scene, connection_id, token=editor, allow_identity_change=False)
    # Then the access key is the wrong kind of token, the stranger and the other project's member see no
    # such connection, the viewer lacks the role, the http_api_key connection is not an OAuth one, and the
    # extra field is refused by name
    error_of(keyed, 403, "wrong_token_type")
    error_of(foreign, 404, "not_found")
    error_of(elsewhere, 404, "not_found")
    error_of(viewed, 403, "forbidden")
    error = error_of(not_oauth, 409, "not_an_oauth2_connection")
    assert error["details"] == {"type": "http_api_key"}
    problems = error_of(steered, 422, "validation_failed")["details"]
    assert [(p["loc"], p["code"]) for p in problems] == [(["authorize_url"], "extra_forbidden")]
    # And the editor's request gets the provider's URL, and nothing else started an authorization
    assert granted.status == 200, granted.body
    assert granted.body["data"]["authorization_url"].startswith(f"{scene.provider.issuer}/auth?")
    items = aws.client("dynamodb").scan(TableName=links_table().name)["Items"]
    states = [i["connection_id"]["S"] for i in items if i["pk"]["S"].startswith("OAUTH2STATE#")]
    assert states == [connection_id]
