"""The HTTP surface of end-user requirements on moto: the status endpoint, connect tokens and the connect API
(Apps API), who may call each (access key, connect token, PAT, nobody; other orgs, projects and Apps), the
pre-flight of direct invokes, and the builders' link routes (management API)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from switchboard.auth import tokens
from switchboard.domain.ids import iso, utcnow
from switchboard.domain.models import App, TokenKind
from switchboard.runtime.identity.bootstrap import bootstrap_admin
from switchboard.runtime.links import connect_tokens
from switchboard.settings import get_settings
from switchboard.store import apps
from switchboard.store import links as link_store
from tests.integration.apps_runtime import access_key, deploy, new_app
from tests.integration.conftest import Reply, World
from tests.integration.links_world import USER_KEYS, LinksWorld, links_world
from tests.support.fakes import Reply as Answer
from tests.support.workflows import files_workflow
from tests.support.world import Builder

STATUS = "/v1/requirements/status"
TOKENS = "/v1/connect/tokens"
REQUIREMENTS = "/v1/connect/requirements"
CREDENTIALS = "/v1/connect/requirements/crm/credentials"
REQUIREMENT = "/v1/connect/requirements/crm"


@pytest.fixture
def scene(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[LinksWorld]:
    with links_world(world, monkeypatch) as built:
        yield built


def _credentials(scene: LinksWorld, user_id: str) -> dict[str, Any]:
    return {"type": "http_api_key", "config": {"url": scene.target.url, "api_key": USER_KEYS[user_id]}}


def _error(reply: Reply, status: int, code: str) -> None:
    assert (reply.status, reply.body["error"]["code"]) == (status, code), reply.body


def _make_public(scene: LinksWorld) -> None:
    scene.world.builder.data("PATCH", f"/v1/apps/{scene.app_id}", {"access": "public"}, expect=200)


def _app(app_id: str) -> App:
    app = apps.get_app(app_id)
    assert app is not None
    return app


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _entry(reply: Reply) -> dict[str, Any]:
    (entry,) = reply.body["data"]["requirements"]
    return dict(entry)


# ---------------------------------------------------------------- GET /v1/requirements/status


def test_the_status_of_a_user_who_never_linked_is_incomplete_with_a_connect_url(scene: LinksWorld) -> None:
    # Given the deployed App, and user-42 who never linked
    # When the App's caller asks for user-42's status
    reply = scene.runtime.call("GET", STATUS, query={"user_id": "user-42"})

    # Then the requirement is missing, described for the end user, with the hosted page at this requirement
    assert reply.status == 200, reply.body
    assert reply.headers["cache-control"] == "no-store"
    data = reply.body["data"]
    assert (data["status"], data["unsatisfied"]) == ("incomplete", data["requirements"])
    entry = _entry(reply)
    connect_url = entry.pop("connect_url")
    assert entry == {
        "id": "crm",
        "name": "CRM",
        "type": "connection",
        "connection_type": "http_api_key",
        "form": {"title": "Connect your CRM", "description": "Your own CRM API key"},
        "workflow_id": scene.world.workflow_id,
        "status": "missing",
        "reason": None,
        "linked_at": None,
        "last_used_at": None,
        "upstream": None,
    }
    prefix = f"https://apps-api.example.test/apps/{scene.app_id}/connect?token="
    assert connect_url.startswith(prefix + "sb_ct_")
    assert connect_url.endswith("#crm")
    # And its token acts for that user on this App
    grant = connect_tokens.grant_for(connect_url.removeprefix(prefix).removesuffix("#crm"), scene.app_id)
    assert grant.user_id == "user-42"


def test_without_an_apps_base_url_connect_urls_point_where_the_request_came(
    scene: LinksWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stack that does not tell the Apps function its API's URL (as on AWS)
    monkeypatch.setenv("APPS_BASE_URL", "")
    get_settings.cache_clear()

    # When the status is asked on the API's own domain, and on the App's host
    by_path = scene.runtime.call("GET", STATUS, query={"user_id": "user-42"})
    by_host = scene.runtime.call("GET", STATUS, query={"user_id": "user-42"}, form="host")
    minted = scene.runtime.call("POST", TOKENS, body={"user_id": "user-42"}, form="host")

    # Then each connect URL is absolute, on the domain the request came to
    app = scene.app_id
    assert _entry(by_path)["connect_url"].startswith(f"https://api.example.test/apps/{app}/connect?token=")
    assert _entry(by_host)["connect_url"].startswith(
        f"https://{app}.apps.example.test/apps/{app}/connect?token="
    )
    assert minted.body["data"]["url"].startswith(f"https://{app}.apps.example.test/apps/{app}/connect?token=")


def test_the_status_is_complete_once_linked_in_both_addressing_forms(scene: LinksWorld) -> None:
    # Given user-42 linked their CRM key
    link = scene.link("user-42")

    # When their status is asked by path and by host
    by_path = scene.runtime.call("GET", STATUS, query={"user_id": "user-42"})
    by_host = scene.runtime.call("GET", STATUS, query={"user_id": "user-42"}, form="host")

    # Then both say complete, the entry active since the link, with no connect URL
    for reply in (by_path, by_host):
        assert reply.status == 200, reply.body
        assert (reply.body["data"]["status"], reply.body["data"]["unsatisfied"]) == ("complete", [])
        entry = _entry(reply)
        assert (entry["status"], _moment(entry["linked_at"]), entry["connect_url"]) == (
            "active",
            link.linked_at,
            None,
        )


def test_the_status_needs_a_user_id(scene: LinksWorld) -> None:
    # Given the deployed App
    # When the status is asked without a user_id, and with one too long
    # Then 400 missing_user_id, and 422
    _error(scene.runtime.call("GET", STATUS), 400, "missing_user_id")
    _error(scene.runtime.call("GET", STATUS, query={"user_id": "u" * 257}), 422, "validation_failed")


def test_the_status_of_an_undeployed_app_is_a_conflict(scene: LinksWorld) -> None:
    # Given an App with no deployment
    other = new_app(scene.world)
    # When its status is asked for a user
    # Then 409 app_not_deployed
    _error(
        scene.runtime.call("GET", STATUS, app_id=other, query={"user_id": "user-42"}), 409, "app_not_deployed"
    )


def test_the_status_of_a_private_app_needs_an_access_key_of_its_org_and_project(scene: LinksWorld) -> None:
    query = {"user_id": "user-42"}
    # Given a PAT, a connect token, a stranger org's key and a key of another project
    stranger = bootstrap_admin("stranger@example.org", "Elsewhere")
    strangers_key = Builder(scene.world.call, stranger.token, stranger.org_id).access_key().token
    other_project = scene.world.builder.project("B")
    scoped_key = access_key(scene.world, project_id=other_project)

    # When each asks for the status (each call below)
    # Then each is refused as its kind of credential deserves, and nobody's answer holds a connect URL
    _error(scene.runtime.call("GET", STATUS, token=None, query=query), 401, "missing_token")
    _error(scene.runtime.call("GET", STATUS, token="sb_ak_nonsense", query=query), 401, "malformed_token")
    _error(
        scene.runtime.call("GET", STATUS, token=scene.world.admin.token, query=query), 403, "wrong_token_type"
    )
    connect = scene.connect_token("user-42").token
    _error(scene.runtime.call("GET", STATUS, token=connect, query=query), 403, "wrong_token_type")
    _error(scene.runtime.call("GET", STATUS, token=strangers_key, query=query), 404, "not_found")
    _error(scene.runtime.call("GET", STATUS, token=scoped_key, query=query), 403, "wrong_project")


def test_a_public_apps_status_still_needs_a_key(scene: LinksWorld) -> None:
    # Given a public App
    _make_public(scene)

    # When an anonymous caller and the App's caller ask whether a user has linked
    anonymous = scene.runtime.call("GET", STATUS, token=None, query={"user_id": "user-42"})
    keyed = scene.runtime.call("GET", STATUS, query={"user_id": "user-42"})

    # Then the anonymous caller learns nothing; the key sees the requirement missing, with a connect URL
    _error(anonymous, 401, "missing_token")
    assert keyed.status == 200, keyed.body
    assert _entry(keyed)["status"] == "missing"
    assert _entry(keyed)["connect_url"] is not None


# ---------------------------------------------------------------- POST /v1/connect/tokens


def test_the_apps_caller_mints_a_connect_token_for_a_user(scene: LinksWorld) -> None:
    # Given an App that lets its users return to example.com
    allowed = scene.world.call(
        "PATCH",
        f"/v1/apps/{scene.app_id}",
        token=scene.world.admin.token,
        body={"connect_return_urls": ["https://example.com/back/"]},
    )
    assert allowed.status == 200, allowed.body
    before = utcnow()

    # When a token is asked for user-42, with a return URL and a ten-minute lifetime
    reply = scene.runtime.call(
        "POST",
        TOKENS,
        body={"user_id": "user-42", "return_url": "https://example.com/back/done", "ttl_seconds": 600},
    )

    # Then it is an sb_ct_ token, shown with the hosted page's URL and its expiry, never stored as such
    assert reply.status == 201, reply.body
    assert reply.headers["cache-control"] == "no-store"
    data = reply.body["data"]
    assert set(data) == {"token", "url", "expires_at"}
    parsed = tokens.parse(data["token"])
    assert parsed is not None
    assert parsed.kind is TokenKind.connect
    assert data["url"] == f"https://apps-api.example.test/apps/{scene.app_id}/connect?token={data['token']}"
    grant = connect_tokens.grant_for(data["token"], scene.app_id)
    assert (grant.user_id, grant.return_url) == ("user-42", "https://example.com/back/done")
    assert before + timedelta(seconds=600) <= grant.expires_at <= utcnow() + timedelta(seconds=600)
    assert _moment(data["expires_at"]) == grant.expires_at


def test_a_connect_token_request_is_validated(scene: LinksWorld) -> None:
    # Given connect token requests each invalid in one field
    invalid: tuple[tuple[dict[str, Any], list[str]], ...] = (
        ({"user_id": "user-42", "return_url": "https://elsewhere.example.com/"}, ["return_url"]),
        ({"user_id": "user-42", "ttl_seconds": 59}, ["ttl_seconds"]),
        ({"user_id": "user-42", "ttl_seconds": 86_401}, ["ttl_seconds"]),
        ({"user_id": ""}, ["user_id"]),
        ({}, ["user_id"]),
    )
    # When each is sent
    # Then 422 naming the field
    for body, loc in invalid:
        reply = scene.runtime.call("POST", TOKENS, body=body)
        _error(reply, 422, "validation_failed")
        assert [detail["loc"] for detail in reply.body["error"]["details"]] == [loc], body
    unknown = scene.runtime.call("POST", TOKENS, body={"user_id": "u", "scope": "all"})
    _error(unknown, 422, "validation_failed")
    assert unknown.body["error"]["details"] == [
        {"loc": ["scope"], "code": "extra_forbidden", "message": "Extra inputs are not permitted"}
    ]
    _error(scene.runtime.call("POST", TOKENS, raw_body="[1]"), 400, "malformed_json")
    form = {"content-type": "application/x-www-form-urlencoded"}
    _error(
        scene.runtime.call("POST", TOKENS, raw_body="user_id=u", headers=form), 415, "unsupported_media_type"
    )


def test_only_an_access_key_mints_connect_tokens(scene: LinksWorld) -> None:
    # Given no token, a PAT and a connect token
    body = {"user_id": "user-42"}
    connect = scene.connect_token("user-42").token
    # When each asks for a connect token
    # Then 401 or 403: only an access key mints them
    _error(scene.runtime.call("POST", TOKENS, token=None, body=body), 401, "missing_token")
    _error(
        scene.runtime.call("POST", TOKENS, token=scene.world.admin.token, body=body), 403, "wrong_token_type"
    )
    _error(scene.runtime.call("POST", TOKENS, token=connect, body=body), 403, "wrong_token_type")
    # Not even on a public App: whoever holds one may link credentials for the user
    _make_public(scene)
    _error(scene.runtime.call("POST", TOKENS, token=None, body=body), 401, "missing_token")


# ---------------------------------------------------------------- the connect API (connect token)


def test_a_connect_token_lists_links_and_revokes_its_users_requirement(scene: LinksWorld) -> None:
    # Given a connect token for user-42
    issued = scene.connect_token("user-42")
    token = issued.token

    # When the token's holder lists the requirements
    listed = scene.runtime.call("GET", REQUIREMENTS, token=token)
    # Then they see this user's, missing, and no connect URL (they are on it already)
    assert listed.status == 200, listed.body
    assert (listed.body["data"]["user_id"], listed.body["data"]["status"]) == ("user-42", "incomplete")
    assert _moment(listed.body["data"]["token_expires_at"]) == issued.expires_at
    assert (_entry(listed)["status"], _entry(listed)["connect_url"]) == ("missing", None)

    # When they link the CRM key
    linked = scene.runtime.call("POST", CREDENTIALS, token=token, body=_credentials(scene, "user-42"))
    # Then the link is active, shown without its secret value
    assert linked.status == 201, linked.body
    view = linked.body["data"]
    assert USER_KEYS["user-42"] not in linked.raw
    assert {k: view[k] for k in ("app_id", "user_id", "requirement_id", "connection_type", "status")} == {
        "app_id": scene.app_id,
        "user_id": "user-42",
        "requirement_id": "crm",
        "connection_type": "http_api_key",
        "status": "active",
    }
    assert (view["config"], view["secret_fields"]) == (
        {"url": f"{scene.target.url}/", "header": "Authorization", "scheme": "Bearer"},
        ["api_key"],
    )
    assert "secret_name" not in view
    assert "sealed_secret" not in view  # not even the ciphertext leaves the store
    assert view["id"].startswith("lnk-")
    # And the App's caller sees the user complete
    status = scene.runtime.call("GET", STATUS, query={"user_id": "user-42"})
    assert status.body["data"]["status"] == "complete"
    assert scene.runtime.call("GET", REQUIREMENTS, token=token).body["data"]["status"] == "complete"

    # When they revoke it, twice
    revoked = scene.runtime.call("DELETE", REQUIREMENT, token=token)
    again = scene.runtime.call("DELETE", REQUIREMENT, token=token)
    # Then 204 both times, the requirement revoked, the secret gone
    assert (revoked.status, revoked.raw, again.status) == (204, "", 204)
    assert _entry(scene.runtime.call("GET", REQUIREMENTS, token=token))["status"] == "revoked"
    stored = link_store.get_link(scene.app_id, "user-42", "crm")
    assert stored is not None
    assert [t.to_status.value for t in link_store.list_transitions(stored.id)] == ["active", "revoked"]


def test_the_connect_api_works_by_host_too_and_relinking_replaces_the_link(scene: LinksWorld) -> None:
    # Given a connect token for user-43
    token = scene.connect_token("user-43").token
    # When user-43 links twice through the host form
    first = scene.runtime.call(
        "POST", CREDENTIALS, token=token, body=_credentials(scene, "user-43"), form="host"
    )
    second = scene.runtime.call(
        "POST", CREDENTIALS, token=token, body=_credentials(scene, "user-43"), form="host"
    )
    # Then both are created, the second replacing the first
    assert (first.status, second.status) == (201, 201), (first.body, second.body)
    assert first.body["data"]["id"] != second.body["data"]["id"]
    listed = scene.runtime.call("GET", REQUIREMENTS, token=token, form="host")
    assert _entry(listed)["status"] == "active"


def test_linking_checks_the_requirement_the_type_the_config_and_the_expiry(scene: LinksWorld) -> None:
    # Given a connect token and good credentials
    token = scene.connect_token("user-42").token
    good = _credentials(scene, "user-42")

    # When a link names an unknown requirement, another type, a bad config or a bad expiry
    # Then each is refused with its code
    unknown = scene.runtime.call("POST", "/v1/connect/requirements/nope/credentials", token=token, body=good)
    _error(unknown, 404, "not_found")

    mismatch = scene.runtime.call("POST", CREDENTIALS, token=token, body={**good, "type": "openai"})
    _error(mismatch, 422, "connection_type_mismatch")
    assert mismatch.body["error"]["details"] == [
        {
            "loc": ["type"],
            "code": "connection_type_mismatch",
            "message": "expected a 'http_api_key' connection",
        }
    ]

    incomplete = scene.runtime.call(
        "POST", CREDENTIALS, token=token, body={"type": "http_api_key", "config": {"url": scene.target.url}}
    )
    _error(incomplete, 422, "validation_failed")
    assert [(d["loc"], d["code"]) for d in incomplete.body["error"]["details"]] == [
        (["config", "api_key"], "missing")
    ]

    past = scene.runtime.call(
        "POST", CREDENTIALS, token=token, body={**good, "expires_at": iso(utcnow() - timedelta(hours=1))}
    )
    _error(past, 422, "validation_failed")
    naive = scene.runtime.call(
        "POST", CREDENTIALS, token=token, body={**good, "expires_at": "2030-01-01T00:00:00"}
    )
    _error(naive, 422, "validation_failed")
    assert [d["loc"] for d in naive.body["error"]["details"]] == [["expires_at"]]
    unknown = scene.runtime.call("POST", CREDENTIALS, token=token, body={**good, "x": 1})
    _error(unknown, 422, "validation_failed")
    assert [d["code"] for d in unknown.body["error"]["details"]] == ["extra_forbidden"]
    _error(
        scene.runtime.call("POST", CREDENTIALS, token=token, body={"type": "http_api_key"}),
        422,
        "validation_failed",
    )

    # And none of it linked anything or echoed the key
    assert link_store.get_link(scene.app_id, "user-42", "crm") is None
    for reply in (unknown, mismatch, past, naive):
        assert USER_KEYS["user-42"] not in reply.raw


def test_a_linked_expiry_is_kept_and_shown(scene: LinksWorld) -> None:
    # Given a connect token and an expiry in a week
    token = scene.connect_token("user-42").token
    until = (utcnow() + timedelta(days=7)).replace(microsecond=0)
    # When user-42 links with it
    reply = scene.runtime.call(
        "POST", CREDENTIALS, token=token, body={**_credentials(scene, "user-42"), "expires_at": iso(until)}
    )
    # Then the link is created with that expiry
    assert reply.status == 201, reply.body
    assert _moment(reply.body["data"]["expires_at"]) == until


def test_revoking_a_requirement_never_linked_is_not_found(scene: LinksWorld) -> None:
    # Given a connect token of a user who never linked
    token = scene.connect_token("user-42").token
    # When the requirement (or an unknown one) is revoked
    # Then 404
    _error(scene.runtime.call("DELETE", REQUIREMENT, token=token), 404, "not_found")
    _error(scene.runtime.call("DELETE", "/v1/connect/requirements/nope", token=token), 404, "not_found")


def test_the_connect_api_of_an_undeployed_app_is_a_conflict(scene: LinksWorld) -> None:
    # Given an App with no deployment and a connect token for it
    other = new_app(scene.world)
    token = connect_tokens.issue_connect_token(_app(other), scene.key_principal, "user-42").token
    # When its requirements are listed or linked
    # Then 409 app_not_deployed, and 404 for an unknown requirement
    _error(scene.runtime.call("GET", REQUIREMENTS, app_id=other, token=token), 409, "app_not_deployed")
    unknown = scene.runtime.call(
        "POST", CREDENTIALS, app_id=other, token=token, body=_credentials(scene, "user-42")
    )
    _error(unknown, 404, "not_found")


def test_the_connect_routes_take_only_a_valid_connect_token_of_this_app(
    scene: LinksWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a token of another App, a well-formed token nobody issued, and one that expired
    other = new_app(scene.world, deploy_version=1)
    others_token = connect_tokens.issue_connect_token(_app(other), scene.key_principal, "user-42").token
    forged = tokens.issue(TokenKind.connect).token
    expiring = scene.connect_token("user-42", ttl_seconds=60).token

    routes: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", REQUIREMENTS, {}),
        ("POST", CREDENTIALS, {"body": _credentials(scene, "user-42")}),
        ("DELETE", REQUIREMENT, {}),
    ]
    for method, path, options in routes:
        # Then nothing, a malformed header or an unknown token is 401
        _error(scene.runtime.call(method, path, token=None, **options), 401, "missing_token")
        bad_scheme = scene.runtime.call(
            method, path, token=None, headers={"authorization": "Basic x"}, **options
        )
        _error(bad_scheme, 401, "malformed_token")
        _error(scene.runtime.call(method, path, token=forged, **options), 401, "invalid_token")
        _error(scene.runtime.call(method, path, token="sb_ct_short", **options), 401, "invalid_token")
        # And another App's token is 401 there too, by path and by host
        _error(scene.runtime.call(method, path, token=others_token, **options), 401, "invalid_token")
        _error(
            scene.runtime.call(method, path, token=others_token, form="host", **options), 401, "invalid_token"
        )
        # And an access key (even of this App's org) or a PAT is the wrong kind
        _error(scene.runtime.call(method, path, **options), 403, "wrong_token_type")
        _error(
            scene.runtime.call(method, path, token=scene.world.admin.token, **options),
            403,
            "wrong_token_type",
        )

    # When the short-lived token's minute has passed
    later = utcnow() + timedelta(minutes=2)
    monkeypatch.setattr(connect_tokens, "utcnow", lambda: later)
    # Then every connect route answers 410
    for method, path, options in routes:
        _error(scene.runtime.call(method, path, token=expiring, **options), 410, "token_expired")
    assert link_store.get_link(scene.app_id, "user-42", "crm") is None


def test_a_public_app_still_needs_a_connect_token_on_the_connect_routes(scene: LinksWorld) -> None:
    # Given the App made public
    _make_public(scene)
    # When the connect routes are called without a token
    # Then 401 missing_token
    _error(scene.runtime.call("GET", REQUIREMENTS, token=None), 401, "missing_token")
    _error(
        scene.runtime.call("POST", CREDENTIALS, token=None, body=_credentials(scene, "user-42")),
        401,
        "missing_token",
    )


def test_the_guard_judges_the_body_before_the_connect_token(scene: LinksWorld) -> None:
    # Given bodies the guard refuses, sent without a connect token
    # When each is sent
    # Then the body's error comes first
    form = {"content-type": "application/x-www-form-urlencoded"}
    # A form body is 415 on the connect API (forms are only for the hosted page), even without a token
    _error(
        scene.runtime.call("POST", CREDENTIALS, token=None, raw_body="type=x", headers=form),
        415,
        "unsupported_media_type",
    )
    # An oversized body is 413 before anything looks at the token
    huge = json.dumps({"type": "http_api_key", "config": {"pad": "x" * (1024 * 1024)}})
    _error(scene.runtime.call("POST", CREDENTIALS, token=None, raw_body=huge), 413, "payload_too_large")


# ---------------------------------------------------------------- pre-flight of a direct invoke (POST /)


def test_a_direct_invoke_for_a_user_who_did_not_link_is_refused_and_creates_no_run(scene: LinksWorld) -> None:
    # Given user-42 who did not link
    # When the App is invoked for them
    reply = scene.runtime.call("POST", "/", body={"input": {"question": "hi"}, "user_id": "user-42"})

    # Then 422 requirement_not_satisfied with the entries, and no run
    _error(reply, 422, "requirement_not_satisfied")
    details = reply.body["error"]["details"]
    assert details["status"] == "incomplete"
    (entry,) = details["requirements"]
    assert (entry["id"], entry["status"], entry["form"]["title"]) == ("crm", "missing", "Connect your CRM")
    assert entry["connect_url"].startswith(
        f"https://apps-api.example.test/apps/{scene.app_id}/connect?token="
    )
    assert scene.runtime.call("GET", "/v1/runs").body["data"] == []


def test_a_direct_invoke_acts_for_its_user_id_with_that_users_link(scene: LinksWorld) -> None:
    # Given both users linked their own key
    scene.target.respond("/echo", Answer(echo=True))
    scene.link("user-42")
    scene.link("user-43")

    # When the App is invoked for each, as JSON and as multipart
    json_invoke = scene.runtime.call("POST", "/", body={"input": {"question": "hi"}, "user_id": "user-43"})
    boundary = "sbboundary"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="input"\r\n\r\n{{"question": "hi"}}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="user_id"\r\n\r\nuser-42\r\n--{boundary}--\r\n'
    )
    form_invoke = scene.runtime.call(
        "POST", "/", raw_body=multipart, headers={"content-type": f"multipart/form-data; boundary={boundary}"}
    )

    # Then each run completed and called the upstream with its own user's key
    assert (json_invoke.status, form_invoke.status) == (200, 200), (json_invoke.body, form_invoke.body)
    assert [r.headers["authorization"] for r in scene.target.requests_to("/echo")] == [
        f"Bearer {USER_KEYS['user-43']}",
        f"Bearer {USER_KEYS['user-42']}",
    ]
    runs = scene.runtime.call("GET", "/v1/runs").body["data"]
    assert sorted(run["user_id"] for run in runs) == ["user-42", "user-43"]


def test_an_anonymous_invoke_of_a_public_app_cannot_act_for_a_user(scene: LinksWorld) -> None:
    # Given the App made public
    _make_public(scene)
    # When it is invoked without a key for a user, and for nobody
    # Then 401, and 422 since the requirement needs a user
    body = {"input": {"question": "hi"}, "user_id": "user-42"}
    _error(scene.runtime.call("POST", "/", token=None, body=body), 401, "missing_token")
    _error(
        scene.runtime.call("POST", "/", token=None, body={"input": {"question": "hi"}}),
        422,
        "requirement_not_satisfied",
    )


# ---------------------------------------------------------------- builders' link routes (management API)


def test_builders_list_links_without_secret_values_page_by_page(scene: LinksWorld) -> None:
    # Given two users' links
    first = scene.link("user-42")
    second = scene.link("user-43")
    call, token, links_path = scene.world.call, scene.world.admin.token, f"/v1/apps/{scene.app_id}/links"

    # When the builder lists them: all, by user, page by page
    everyone = call("GET", links_path, token=token)
    only = call("GET", links_path, token=token, query={"user_id": "user-43"})
    page_one = call("GET", links_path, token=token, query={"limit": "1"})
    page_two = call(
        "GET", links_path, token=token, query={"limit": "1", "next_token": page_one.body["next_token"]}
    )

    # Then each listing holds the links it should, in order, and no secret value
    assert everyone.status == 200, everyone.body
    assert [link["id"] for link in everyone.body["data"]] == [first.id, second.id]
    assert everyone.body["next_token"] is None
    assert [link["id"] for link in only.body["data"]] == [second.id]
    assert [link["id"] for link in page_one.body["data"] + page_two.body["data"]] == [first.id, second.id]
    shown = everyone.body["data"][0]
    assert (shown["user_id"], shown["status"], shown["secret_fields"]) == ("user-42", "active", ["api_key"])
    assert "secret_name" not in shown
    assert "sealed_secret" not in shown
    for reply in (everyone, only, page_one, page_two):
        assert all(key not in reply.raw for key in USER_KEYS.values())


def test_builders_read_a_links_history_and_revoke_it(scene: LinksWorld) -> None:
    # Given user-42's link
    link = scene.link("user-42")
    call, token, base = scene.world.call, scene.world.admin.token, f"/v1/apps/{scene.app_id}/links/{link.id}"

    # When the builder revokes it twice and reads its transitions
    revoked = call("DELETE", base, token=token)
    again = call("DELETE", base, token=token)
    history = call("GET", f"{base}/transitions", token=token)

    # Then 204 both times, and the history shows the revocation
    assert (revoked.status, revoked.raw, again.status) == (204, "", 204)
    assert history.status == 200, history.body
    assert history.body["next_token"] is None
    assert [(t["from_status"], t["to_status"]) for t in history.body["data"]] == [
        (None, "active"),
        ("active", "revoked"),
    ]
    assert history.body["data"][1]["by"] == scene.builder.actor
    assert history.body["data"][0]["link_id"] == link.id
    # And the App's caller sees the user's requirement revoked
    status = scene.runtime.call("GET", STATUS, query={"user_id": "user-42"})
    assert (_entry(status)["status"], status.body["data"]["status"]) == ("revoked", "incomplete")


def test_builders_link_routes_follow_project_roles(scene: LinksWorld) -> None:
    # Given a link, and a viewer, an editor and an org member outside the project
    link = scene.link("user-42")
    call, links_path = scene.world.call, f"/v1/apps/{scene.app_id}/links"
    viewer = scene.world.token_for("viewer@example.com", project_role="viewer")
    editor = scene.world.token_for("editor@example.com", project_role="editor")
    outsider = scene.world.token_for("member@example.com")

    # When each lists or revokes
    # Then each is allowed what their role allows
    # A viewer reads but cannot revoke
    assert [v["id"] for v in call("GET", links_path, token=viewer).body["data"]] == [link.id]
    assert call("GET", f"{links_path}/{link.id}/transitions", token=viewer).status == 200
    _error(call("DELETE", f"{links_path}/{link.id}", token=viewer), 403, "forbidden")
    # An org member outside the project sees no App
    _error(call("GET", links_path, token=outsider), 404, "not_found")
    _error(call("DELETE", f"{links_path}/{link.id}", token=outsider), 404, "not_found")
    # An editor revokes
    assert call("DELETE", f"{links_path}/{link.id}", token=editor).status == 204
    stored = link_store.get_link(scene.app_id, "user-42", "crm")
    assert stored is not None
    assert stored.status.value == "revoked"


def test_a_link_is_addressed_only_under_its_own_app(scene: LinksWorld) -> None:
    # Given user-42's link and another App
    link = scene.link("user-42")
    other = new_app(scene.world)
    call, token = scene.world.call, scene.world.admin.token
    # When the link is addressed under the other App, or an unknown link under its own
    # Then 404
    _error(call("GET", f"/v1/apps/{other}/links/{link.id}/transitions", token=token), 404, "not_found")
    _error(call("DELETE", f"/v1/apps/{other}/links/{link.id}", token=token), 404, "not_found")
    _error(
        call("DELETE", f"/v1/apps/{scene.app_id}/links/lnk-aaaaaaaaaaaaaaaaaaaa", token=token),
        404,
        "not_found",
    )
    _error(
        call("GET", f"/v1/apps/{scene.app_id}/links/lnk-aaaaaaaaaaaaaaaaaaaa/transitions", token=token),
        404,
        "not_found",
    )
    assert call("GET", f"/v1/apps/{other}/links", token=token).body["data"] == []
    stored = link_store.get_link(scene.app_id, "user-42", "crm")
    assert stored is not None
    assert stored.status.value == "active"


def test_a_connect_token_cannot_call_the_builders_link_routes(scene: LinksWorld) -> None:
    # Given a connect token
    token = scene.connect_token("user-42").token
    # When it calls the builders' link listing
    reply = scene.world.call("GET", f"/v1/apps/{scene.app_id}/links", token=token)
    # Then 403 wrong_token_type
    _error(reply, 403, "wrong_token_type")


def test_an_app_whose_deployed_version_has_no_requirements_is_complete(scene: LinksWorld) -> None:
    # Given a deployed version without requirements
    deploy(scene.world, files_workflow())
    # When the status is asked
    reply = scene.runtime.call("GET", STATUS, query={"user_id": "user-42"})
    # Then complete, with no requirements
    assert reply.status == 200, reply.body
    assert reply.body["data"] == {"status": "complete", "requirements": [], "unsatisfied": []}


def test_a_link_to_a_non_public_address_or_with_a_short_key_is_422(
    scene: LinksWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployed stack (the local loopback switch off) and an end user with a connect token
    monkeypatch.setenv("ALLOW_LOOPBACK_EGRESS", "false")
    get_settings.cache_clear()
    token = scene.connect_token("user-42").token
    key = USER_KEYS["user-42"]

    # When the user links a CRM at the metadata service, the Lambda Runtime API, or with a 4-character key
    refused = [
        scene.runtime.call(
            "POST",
            CREDENTIALS,
            token=token,
            body={"type": "http_api_key", "config": {"url": url, "api_key": key}},
        )
        for url in ("http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:9001/2018-06-01/")
    ]
    short = scene.runtime.call(
        "POST",
        CREDENTIALS,
        token=token,
        body={"type": "http_api_key", "config": {"url": "https://crm.example.test", "api_key": "conn"}},
    )

    # Then each is 422 with the field and the code, nothing is linked and no key is echoed
    for reply in refused:
        _error(reply, 422, "validation_failed")
        assert [(d["loc"], d["code"]) for d in reply.body["error"]["details"]] == [
            (["config", "url"], "address_not_allowed")
        ]
        assert key not in reply.raw
    _error(short, 422, "validation_failed")
    assert [(d["loc"], d["code"]) for d in short.body["error"]["details"]] == [
        (["config", "api_key"], "secret_too_short")
    ]
    assert link_store.get_link(scene.app_id, "user-42", "crm") is None

    # And a link to a public host is accepted
    public = scene.runtime.call(
        "POST",
        CREDENTIALS,
        token=token,
        body={"type": "http_api_key", "config": {"url": "https://crm.example.test", "api_key": key}},
    )
    assert public.status == 201, public.body
    assert link_store.get_link(scene.app_id, "user-42", "crm") is not None
