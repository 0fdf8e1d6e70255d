"""OAuth connection types through the management API on moto: ``oauth2_app`` (a provider's client, filled
from a preset and overridable; its client secret write-only) and ``oauth2`` (an account authorized through an
``oauth2_app`` of the same project), as project connections and as requirements; and the end users' side: an
``oauth2`` requirement is not linked by sending fields (connect API) nor offered as a form (hosted page)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from switchboard import aws
from switchboard.store import connections
from tests.integration.apps_runtime import deploy, point_connection
from tests.integration.conftest import Reply, World, error_of
from tests.integration.links_world import LinksWorld, links_world
from tests.support.connect_forms import read_page
from tests.support.fakes import Reply as TargetReply
from tests.support.workflows import echo_workflow

CLIENT_SECRET = "client-SECRET-0123456789"
API_URL = "https://api.example.test"
DOCUMENTED_HOSTS = {
    # preset: (authorize host, token host, its RFC 7009 revocation host or None)
    "google": ("accounts.google.com", "oauth2.googleapis.com", "oauth2.googleapis.com"),
    "microsoft": ("login.microsoftonline.com", "login.microsoftonline.com", None),
    "github": ("github.com", "github.com", None),
    "slack": ("slack.com", "slack.com", None),
    "notion": ("api.notion.com", "api.notion.com", None),
    "dropbox": ("www.dropbox.com", "api.dropboxapi.com", None),
    "box": ("account.box.com", "api.box.com", "api.box.com"),
}


def _create(world: World, connection_type: str, config: dict[str, Any], name: str = "oauth") -> Reply:
    body = {"project_id": world.project_id, "name": name, "type": connection_type, "config": config}
    return world.call("POST", "/v1/connections", token=world.admin.token, body=body)


def _app(world: World, **config: Any) -> Reply:
    return _create(world, "oauth2_app", {"client_id": "client-1", "client_secret": CLIENT_SECRET, **config})


def _stored_secret(connection_id: str) -> dict[str, str]:
    stored = connections.get_connection(connection_id)
    assert stored is not None
    assert stored.secret_name is not None
    value = aws.secrets().get_secret_value(SecretId=stored.secret_name)["SecretString"]
    return json.loads(value)  # type: ignore[no-any-return]


def _problems(reply: Reply) -> dict[tuple[str | int, ...], str]:
    error = error_of(reply, 422, "validation_failed")
    return {tuple(problem["loc"]): problem["code"] for problem in error["details"]}


@pytest.mark.parametrize("preset", sorted(DOCUMENTED_HOSTS))
def test_each_preset_fills_its_documented_endpoints_and_keeps_the_secret_apart(
    world: World, preset: str
) -> None:
    # Given only a preset, a client id and a client secret
    # When the OAuth app is created
    created = _app(world, preset=preset)
    # Then it is stored with the provider's documented endpoints, and the secret is write-only
    assert created.status == 201, created.body
    data = created.body["data"]
    config = data["config"]
    authorize, token, revocation = DOCUMENTED_HOSTS[preset]
    assert urlsplit(config["authorize_url"]).hostname == authorize
    assert urlsplit(config["token_url"]).hostname == token
    assert urlsplit(config.get("revocation_url", "")).hostname == revocation
    assert config["preset"] == preset
    assert config["client_id"] == "client-1"
    assert config["token_endpoint_auth_method"] in ("client_secret_basic", "client_secret_post")
    assert data["secret_fields"] == ["client_secret"]
    assert "client_secret" not in config
    assert CLIENT_SECRET not in created.raw
    assert _stored_secret(data["id"]) == {"client_secret": CLIENT_SECRET}
    # And reading it back shows the same, still without the secret
    read = world.call("GET", f"/v1/connections/{data['id']}", token=world.admin.token)
    assert (read.status, read.body["data"]["config"]) == (200, config)
    assert CLIENT_SECRET not in read.raw


def test_google_asks_for_offline_access_and_any_preset_field_can_be_overridden(world: World) -> None:
    # Given the google preset as is, and the same preset with its token URL, scopes and auth method replaced
    # When both are created
    plain = _app(world, preset="google")
    custom = _app(
        world,
        preset="google",
        token_url="https://tokens.example.test/token",
        scopes=["https://www.googleapis.com/auth/gmail.readonly"],
        token_endpoint_auth_method="client_secret_basic",
    )
    # Then the plain one carries Google's defaults (a refresh token needs offline access and a fresh consent)
    assert (plain.status, custom.status) == (201, 201), (plain.body, custom.body)
    assert plain.body["data"]["config"]["scopes"] == ["openid", "email", "profile"]
    assert plain.body["data"]["config"]["authorize_params"] == {"access_type": "offline", "prompt": "consent"}
    assert plain.body["data"]["config"]["token_endpoint_auth_method"] == "client_secret_post"
    # And the custom one keeps what it gave, and the preset's values for the rest
    config = custom.body["data"]["config"]
    assert config["token_url"] == "https://tokens.example.test/token"
    assert config["scopes"] == ["https://www.googleapis.com/auth/gmail.readonly"]
    assert config["token_endpoint_auth_method"] == "client_secret_basic"
    assert config["authorize_url"] == plain.body["data"]["config"]["authorize_url"]
    assert config["authorize_params"] == {"access_type": "offline", "prompt": "consent"}


def test_a_generic_app_needs_its_endpoints(world: World) -> None:
    # Given a generic app without endpoints, next to one with them (the test authorization server's shape)
    # When both are created
    bare = _app(world)
    full = _app(
        world,
        authorize_url="https://idp.example.test/auth",
        token_url="https://idp.example.test/token",
        revocation_url="https://idp.example.test/token/revocation",
        userinfo_url="https://idp.example.test/me",
        scopes=["openid", "offline_access"],
        authorize_params={"prompt": "consent"},
        token_endpoint_auth_method="client_secret_post",
    )
    # Then the bare one is refused, naming both missing endpoints; the full one is stored as given
    assert _problems(bare) == {
        ("config", "authorize_url"): "missing",
        ("config", "token_url"): "missing",
    }
    assert CLIENT_SECRET not in bare.raw
    assert full.status == 201, full.body
    assert full.body["data"]["config"] == {
        "preset": "generic",
        "client_id": "client-1",
        "authorize_url": "https://idp.example.test/auth",
        "token_url": "https://idp.example.test/token",
        "revocation_url": "https://idp.example.test/token/revocation",
        "userinfo_url": "https://idp.example.test/me",
        "scopes": ["openid", "offline_access"],
        "authorize_params": {"prompt": "consent"},
        "token_endpoint_auth_method": "client_secret_post",
    }


def test_bad_oauth_app_values_are_refused_with_their_fields_and_no_secret(world: World) -> None:
    # Given an OAuth app config with a bad value in every field that checks one
    # When it is created
    refused = _app(
        world,
        preset="myspace",
        authorize_url="ftp://idp.example.test/auth",
        token_url="not a url",
        scopes=["read write", ""],
        authorize_params={"State": "forged", "redirect_uri": "https://evil.example.test"},
        token_endpoint_auth_method="private_key_jwt",
    )
    short_secret = _create(
        world, "oauth2_app", {"preset": "github", "client_id": "client-1", "client_secret": "SECRET-"}
    )
    # Then each field is named with its code, and the secret is in no answer
    assert _problems(refused) == {
        ("config", "preset"): "unknown_preset",
        ("config", "authorize_url"): "url_scheme",
        ("config", "token_url"): "url_parsing",
        ("config", "scopes", 0): "string_pattern_mismatch",
        ("config", "scopes", 1): "string_too_short",
        ("config", "authorize_params"): "reserved_authorize_param",
        ("config", "token_endpoint_auth_method"): "literal_error",
    }
    reserved = next(p for p in refused.body["error"]["details"] if p["code"] == "reserved_authorize_param")
    assert reserved["message"] == "redirect_uri, state: the authorization request sets these itself"
    assert _problems(short_secret) == {("config", "client_secret"): "secret_too_short"}
    assert CLIENT_SECRET not in refused.raw
    assert "SECRET-" not in short_secret.raw


def test_an_oauth2_connection_names_an_oauth2_app_of_its_project(world: World) -> None:
    # Given an OAuth app, the world's http_api_key connection, and an OAuth app in another project
    app_id = _app(world, preset="github").body["data"]["id"]
    other_project = world.builder.project("Elsewhere")
    foreign = world.call(
        "POST",
        "/v1/connections",
        token=world.admin.token,
        body={
            "project_id": other_project,
            "name": "foreign",
            "type": "oauth2_app",
            "config": {"preset": "github", "client_id": "c", "client_secret": CLIENT_SECRET},
        },
    )
    assert foreign.status == 201, foreign.body
    # When oauth2 connections name the app, a missing connection, the wrong type and the foreign app
    account = {"scopes": ["repo"], "url": API_URL}
    good = _create(world, "oauth2", {"app_connection_id": app_id, **account})
    missing = _create(world, "oauth2", {"app_connection_id": "connection_nope", **account})
    wrong_type = _create(world, "oauth2", {"app_connection_id": world.connection_id, **account})
    other = _create(world, "oauth2", {"app_connection_id": foreign.body["data"]["id"], **account})
    # Then only the first is created, holding no secret value yet
    assert good.status == 201, good.body
    assert good.body["data"]["config"] == {
        "app_connection_id": app_id,
        "scopes": ["repo"],
        "url": f"{API_URL}/",
    }
    assert good.body["data"]["secret_fields"] == []
    loc = ("config", "app_connection_id")
    assert _problems(missing) == {loc: "connection_not_in_project"}
    assert _problems(wrong_type) == {loc: "not_an_oauth2_app"}
    assert _problems(other) == {loc: "connection_not_in_project"}


def test_an_oauth2_connection_checks_its_scopes_and_url_and_on_every_change(world: World) -> None:
    # Given an oauth2 connection through an OAuth app
    app_id = _app(world, preset="github").body["data"]["id"]
    created = _create(world, "oauth2", {"app_connection_id": app_id, "url": API_URL})
    assert created.status == 201, created.body
    assert created.body["data"]["config"]["scopes"] == []
    connection_id = created.body["data"]["id"]
    # When it is created with an empty scope and no URL, and changed to name the http_api_key connection
    bad = _create(world, "oauth2", {"app_connection_id": app_id, "scopes": [" "]})
    changed = world.call(
        "PATCH",
        f"/v1/connections/{connection_id}",
        token=world.admin.token,
        body={"config": {"app_connection_id": world.connection_id, "url": API_URL}},
    )
    # Then both are refused and the connection still names the app
    assert _problems(bad) == {("config", "scopes", 0): "string_too_short", ("config", "url"): "missing"}
    assert _problems(changed) == {("config", "app_connection_id"): "not_an_oauth2_app"}
    read = world.call("GET", f"/v1/connections/{connection_id}", token=world.admin.token)
    assert read.body["data"]["config"]["app_connection_id"] == app_id


def test_an_oauth_app_in_use_by_an_oauth2_connection_cannot_be_deleted(world: World) -> None:
    # Given an OAuth app and an oauth2 connection through it
    app_id = _app(world, preset="notion").body["data"]["id"]
    account = _create(world, "oauth2", {"app_connection_id": app_id, "url": API_URL}).body["data"]["id"]
    # When the app is deleted, then the account, then the app
    refused = world.call("DELETE", f"/v1/connections/{app_id}", token=world.admin.token)
    account_gone = world.call("DELETE", f"/v1/connections/{account}", token=world.admin.token)
    app_gone = world.call("DELETE", f"/v1/connections/{app_id}", token=world.admin.token)
    # Then the app is kept while the account names it, and goes once it does not
    error = error_of(refused, 409, "connection_in_use")
    assert error["details"] == {"connection_ids": [account]}
    assert (account_gone.status, app_gone.status) == (204, 204)


def _oauth_requirement_workflow(app_connection_id: str) -> dict[str, Any]:
    """``echo_workflow`` whose ``crm`` requirement is an account authorized through the OAuth app."""
    document = echo_workflow(requirement=True)
    document["requirements"][0].update(
        connection_type="oauth2",
        title="Connect your CRM account",
        oauth2={"app_connection_id": app_connection_id, "scopes": ["crm.read"], "url": API_URL},
    )
    return document


def _save(world: World, definition: dict[str, Any]) -> Reply:
    path = f"/v1/workflows/{world.workflow_id}"
    return world.call("PUT", path, token=world.admin.token, body={"definition": definition})


def test_an_oauth2_requirement_names_an_oauth2_app_of_the_project(world: World) -> None:
    # Given an OAuth app of the project
    app_id = _app(world, authorize_url=f"{API_URL}/a", token_url=f"{API_URL}/t").body["data"]["id"]
    unnamed = _oauth_requirement_workflow(app_id)
    del unnamed["requirements"][0]["oauth2"]
    # When workflows declare an oauth2 requirement through it, through the http_api_key connection,
    # through a missing connection, and without naming any
    good = _save(world, _oauth_requirement_workflow(app_id))
    wrong_type = _save(world, _oauth_requirement_workflow(world.connection_id))
    missing = _save(world, _oauth_requirement_workflow("connection_nope"))
    no_app = _save(world, unnamed)
    # Then only the first is saved, its requirement naming the app; the others name the field at fault
    assert good.status == 201, good.body
    saved = good.body["data"]["version"]["definition"]["requirements"][0]
    assert saved["oauth2"] == {"app_connection_id": app_id, "scopes": ["crm.read"], "url": f"{API_URL}/"}
    loc = ("requirements", 0, "oauth2", "app_connection_id")
    assert _problems(wrong_type) == {loc: "not_an_oauth2_app"}
    assert _problems(missing) == {loc: "connection_not_in_project"}
    assert _problems(no_app) == {("requirements", 0): "missing_oauth2"}


def test_oauth2_is_named_only_by_oauth2_requirements_whose_authorization_header_is_theirs(
    world: World,
) -> None:
    # Given an OAuth app of the project
    app_id = _app(world, authorize_url=f"{API_URL}/a", token_url=f"{API_URL}/t").body["data"]["id"]
    misplaced = echo_workflow(requirement=True)
    misplaced["requirements"][0]["oauth2"] = {"app_connection_id": app_id, "url": API_URL}
    forged = _oauth_requirement_workflow(app_id)
    forged["nodes"][2]["config"]["headers"] = {"Authorization": "Bearer forged"}
    traced = _oauth_requirement_workflow(app_id)
    traced["nodes"][2]["config"]["headers"] = {"X-Trace": "run"}
    # When an http_api_key requirement names the app, and http nodes through the oauth2 requirement set
    # the Authorization header, or another header
    misplaced_reply = _save(world, misplaced)
    forged_reply = _save(world, forged)
    traced_reply = _save(world, traced)
    # Then the first two are refused at the field at fault; a header of the node's own is kept
    assert _problems(misplaced_reply) == {("requirements", 0): "oauth2_not_allowed"}
    assert _problems(forged_reply) == {
        ("nodes", 2, "config", "headers", "Authorization"): "header_not_allowed"
    }
    assert traced_reply.status == 201, traced_reply.body


@pytest.fixture
def oauth_scene(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[LinksWorld]:
    """The links world's App, its ``crm`` requirement now an oauth2 account through an OAuth app."""
    with links_world(world, monkeypatch) as built:
        app_id = _app(world, preset="slack").body["data"]["id"]
        deploy(world, _oauth_requirement_workflow(app_id))
        yield built


def test_an_oauth2_requirement_is_not_linked_by_sending_fields(oauth_scene: LinksWorld) -> None:
    # Given an end user's connect token for the App whose crm requirement is an oauth2 account
    token = oauth_scene.connect_token("user-42").token
    credentials = "/v1/connect/requirements/crm/credentials"
    # When the user sends an access token as the account's fields, and an http_api_key as before
    sent = oauth_scene.runtime.call(
        "POST",
        credentials,
        token=token,
        body={"type": "oauth2", "config": {"app_connection_id": "x", "url": API_URL, "access_token": "t"}},
    )
    other_type = oauth_scene.runtime.call(
        "POST", credentials, token=token, body={"type": "http_api_key", "config": {"url": API_URL}}
    )
    # Then the oauth2 one is refused (it is authorized at the provider), the other is of the wrong type
    error = error_of(sent, 422, "authorization_required")
    assert error["details"] == [
        {"loc": ["type"], "code": "authorization_required", "message": "linked through the OAuth flow"}
    ]
    error_of(other_type, 422, "connection_type_mismatch")
    # And the requirement is still missing
    listed = oauth_scene.runtime.call("GET", "/v1/connect/requirements", token=token)
    assert listed.status == 200
    entries = listed.body["data"]["requirements"]
    assert [(e["id"], e["connection_type"], e["status"]) for e in entries] == [("crm", "oauth2", "missing")]


def test_the_hosted_page_offers_an_oauth2_requirement_a_connect_button_not_a_form(
    oauth_scene: LinksWorld,
) -> None:
    # Given an end user's connect token for the App whose crm requirement is an oauth2 account
    token = oauth_scene.connect_token("user-42").token
    # When the user opens the hosted connect page
    reply = oauth_scene.runtime.call("GET", "/connect", token=None, query={"token": token})
    # Then the requirement is listed as missing, with a button to the provider and no form to paste into
    assert reply.status == 200, reply.raw[:2000]
    page = read_page(reply.raw)
    assert "Connect your CRM account" in reply.raw
    assert page.forms["crm"].status == "Not connected"
    assert (page.forms["crm"].action, page.forms["crm"].input_types) == ("", {})
    assert "<form" not in reply.raw
    href = f"/apps/{oauth_scene.app_id}/connect/oauth2?token={token}&amp;requirement=crm"
    assert f'<a class="button" href="{href}">Connect Connect your CRM account</a>' in reply.raw


def test_an_http_node_through_an_oauth2_connection_sends_nothing_until_it_holds_a_token(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with links_world(world, monkeypatch) as scene:
        # Given the App calling the loopback upstream through the world's http_api_key connection
        point_connection(world, scene.target.url)
        scene.target.respond("/echo", TargetReply(body={"ok": True}))
        deploy(world, echo_workflow(world.connection_id))
        keyed = scene.runtime.call("POST", "/", body={"input": {"question": "hey"}})
        # When it calls the same upstream through a project oauth2 connection no flow has authorized yet
        app_id = _app(world, preset="github").body["data"]["id"]
        account = _create(world, "oauth2", {"app_connection_id": app_id, "url": scene.target.url})
        deploy(world, echo_workflow(account.body["data"]["id"]))
        unauthorized = scene.runtime.call("POST", "/", body={"input": {"question": "hey"}})
    # Then the keyed run reached the upstream, the oauth2 one failed at its node without sending anything
    assert (keyed.status, keyed.body["data"]["status"]) == (200, "completed"), keyed.body
    assert (unauthorized.status, unauthorized.body["data"]["status"]) == (200, "failed"), unauthorized.body
    error = unauthorized.body["data"]["output"]["call"]["error"]
    assert error["type"] == "oauth2_not_authorized"
    assert error["message"] == "the OAuth connection holds no access token yet"
    assert len(scene.target.requests_to("/echo")) == 1
