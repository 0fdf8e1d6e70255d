"""End users' links on moto: the requirement status (missing, active, lazily expired, unauthorized,
revoked), connect tokens (hash-only, expiry, unknown, wrong kind), linking and re-linking through a grant,
revoking, every transition recorded, the builders' view, the pre-flight of runs, and what the executor does
to the links a run used."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from switchboard import aws
from switchboard.auth.authenticate import authenticate
from switchboard.domain.errors import (
    Conflict,
    Forbidden,
    Gone,
    NotFound,
    RequirementNotSatisfied,
    Unauthorized,
    ValidationFailed,
)
from switchboard.domain.ids import utcnow
from switchboard.domain.models import App, TokenKind
from switchboard.domain.runs import LinkStatus
from switchboard.engine.definition import WorkflowDefinition
from switchboard.runtime.links import connect_tokens, requirements
from switchboard.runtime.links import linking as links
from switchboard.runtime.links.requirements import requirement_status
from switchboard.settings import get_settings
from switchboard.store import apps, keys, link_secrets
from switchboard.store import links as link_store
from switchboard.store.connect_tokens import get_connect_token
from tests.integration.apps_runtime import deploy, new_app
from tests.integration.conftest import World
from tests.integration.links_world import USER_KEYS, LinksWorld, links_world, requirement_definition
from tests.support.fakes import Reply as Answer
from tests.support.workflows import files_workflow


@pytest.fixture
def scene(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[LinksWorld]:
    with links_world(world, monkeypatch) as built:
        yield built


def _statuses(status: requirements.RequirementsStatus) -> list[tuple[str, str]]:
    return [(entry.id, entry.status) for entry in status.requirements]


def _links_table_items() -> list[dict[str, Any]]:
    return list(aws.table(get_settings().links_table).scan()["Items"])


# ---------------------------------------------------------------- requirement status


def test_a_user_without_a_link_is_incomplete_with_a_connect_url_for_an_access_key(scene: LinksWorld) -> None:
    # Given the deployed App, whose version requires the user's CRM
    # When the status of a user who never linked is asked with an access key
    status = requirement_status(scene.app(), "user-42", connect_url_for=scene.key_principal)

    # Then the requirement is missing, described for the end user, and comes with the hosted page's URL
    assert status.status == "incomplete"
    (entry,) = status.requirements
    assert status.unsatisfied == [entry]
    assert entry.model_dump(exclude={"connect_url"}) == {
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
    assert entry.connect_url is not None
    prefix = f"https://apps-api.example.test/apps/{scene.app_id}/connect?token=sb_ct_"
    assert entry.connect_url.startswith(prefix)
    assert entry.connect_url.endswith("#crm")
    # And the URL's token is a valid grant for that user and App
    token = entry.connect_url.removeprefix(prefix.removesuffix("sb_ct_")).removesuffix("#crm")
    grant = connect_tokens.grant_for(token)
    assert (grant.app_id, grant.user_id) == (scene.app_id, "user-42")


def test_an_anonymous_caller_gets_no_connect_url(scene: LinksWorld) -> None:
    # Given a user who never linked
    # When their status is asked by an anonymous caller
    status = requirement_status(scene.app(), "user-42", connect_url_for=None)
    # Then the requirement is missing, with no connect URL, and no connect token was stored
    assert _statuses(status) == [("crm", "missing")]
    assert status.unsatisfied[0].connect_url is None
    assert not any(item["pk"].startswith("CONNECT#") for item in _links_table_items())


def test_an_active_link_makes_the_status_complete(scene: LinksWorld) -> None:
    # Given user-42's active link
    link = scene.link("user-42")
    # When their status is asked
    status = requirement_status(scene.app(), "user-42", connect_url_for=scene.key_principal)
    # Then complete, the entry active since the link, with no connect URL
    assert status.status == "complete"
    assert status.unsatisfied == []
    (entry,) = status.requirements
    assert (entry.status, entry.reason, entry.linked_at, entry.connect_url) == (
        "active",
        None,
        link.linked_at,
        None,
    )
    # And another user of the same App is still missing
    assert _statuses(requirement_status(scene.app(), "user-43", connect_url_for=None)) == [("crm", "missing")]


def test_a_link_past_its_expiry_is_expired_when_read_and_the_transition_is_recorded(
    scene: LinksWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a link that expires in an hour
    link = scene.link("user-42", expires_at=utcnow() + timedelta(hours=1))
    # When the status is read two hours later
    later = utcnow() + timedelta(hours=2)
    monkeypatch.setattr(requirements, "utcnow", lambda: later)
    status = requirement_status(scene.app(), "user-42", connect_url_for=None)
    # Then the requirement is expired with a reason, and the link was recorded expired with its transition
    (entry,) = status.requirements
    assert (entry.status, status.status) == ("expired", "incomplete")
    assert entry.reason is not None
    assert "expired" in entry.reason
    stored = link_store.get_link(scene.app_id, "user-42", "crm")
    assert stored is not None
    assert (stored.status, stored.revision) == (LinkStatus.expired, link.revision + 1)
    activated, expired = link_store.list_transitions(link.id)
    assert (activated.from_status, activated.to_status) == (None, LinkStatus.active)
    assert activated.by.startswith("ctk-")
    assert (expired.from_status, expired.to_status, expired.by, expired.at) == (
        LinkStatus.active,
        LinkStatus.expired,
        "switchboard",
        later,
    )
    # And reading again changes nothing more
    requirement_status(scene.app(), "user-42", connect_url_for=None)
    assert len(link_store.list_transitions(link.id)) == 2


def test_unauthorized_and_revoked_links_are_unsatisfied_with_their_reason(scene: LinksWorld) -> None:
    # Given user-42's link marked unauthorized and user-43's revoked
    unauthorized = scene.link("user-42")
    link_store.set_link_status(unauthorized, LinkStatus.unauthorized, "upstream answered 401", utcnow())
    revoked = scene.link("user-43")
    links.revoke_link(scene.app(), revoked, "test")

    # When their statuses are asked
    first = requirement_status(scene.app(), "user-42", connect_url_for=None)
    second = requirement_status(scene.app(), "user-43", connect_url_for=None)

    # Then both are unsatisfied, each with its reason
    assert [(e.status, e.reason) for e in first.unsatisfied] == [("unauthorized", "upstream answered 401")]
    assert [(e.status, e.reason) for e in second.unsatisfied] == [("revoked", "revoked by test")]


def test_a_link_of_a_type_the_requirement_no_longer_takes_counts_as_missing(scene: LinksWorld) -> None:
    # Given a link, then a version whose requirement needs another connection type
    scene.link("user-42")
    document = requirement_definition()
    document["requirements"][0]["connection_type"] = "http"
    deploy(scene.world, document)
    # Then the requirement is missing, saying why
    # When user-42's status is asked
    (entry,) = requirement_status(scene.app(), "user-42", connect_url_for=None).requirements
    assert entry.status == "missing"
    assert entry.reason == "linked as 'http_api_key'; the requirement now needs 'http'"


def test_an_app_without_requirements_is_complete_and_an_undeployed_one_is_a_conflict(
    scene: LinksWorld,
) -> None:
    # Given a deployed version without requirements
    deploy(scene.world, files_workflow())
    # When the status is asked
    # Then complete; and for an App with no deployment, 409 app_not_deployed
    assert requirement_status(scene.app(), "user-42", connect_url_for=scene.key_principal) == (
        requirements.RequirementsStatus(status="complete", requirements=[], unsatisfied=[])
    )
    with pytest.raises(Conflict) as raised:
        requirement_status(_app(new_app(scene.world)), "user-42", connect_url_for=None)
    assert raised.value.error_code == "app_not_deployed"


def _app(app_id: str) -> App:
    app = apps.get_app(app_id)
    assert app is not None
    return app


# ---------------------------------------------------------------- connect tokens


def test_a_connect_token_is_stored_only_as_its_hash_and_expires_in_an_hour(scene: LinksWorld) -> None:
    # Given the deployed App
    before = utcnow()
    # When a connect token is issued for user-42
    issued = scene.connect_token("user-42")
    # Then the token is an sb_ct_ token, its URL the hosted page, its lifetime the default hour
    assert issued.token.startswith("sb_ct_")
    assert issued.url == f"https://apps-api.example.test/apps/{scene.app_id}/connect?token={issued.token}"
    assert before + timedelta(seconds=3600) <= issued.expires_at <= utcnow() + timedelta(seconds=3600)
    # And the links table holds its hash, never the token
    grant = connect_tokens.grant_for(issued.token)
    record = get_connect_token(grant.token_id)
    assert record is not None
    assert record.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    assert (record.app_id, record.user_id, record.created_by) == (
        scene.app_id,
        "user-42",
        scene.key_principal.token_id,
    )
    assert record.ttl == int((record.expires_at + timedelta(days=1)).timestamp())
    assert issued.token not in json.dumps(_links_table_items(), default=str)


def test_the_default_lifetime_comes_from_the_settings_and_a_given_one_is_bounded(
    scene: LinksWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a default lifetime of 600 s in the settings
    monkeypatch.setenv("CONNECT_TOKEN_TTL_SECONDS", "600")
    get_settings.cache_clear()
    # When tokens are issued with the default, a day, and lifetimes out of bounds
    issued = scene.connect_token("user-42")
    # Then the default is the settings', a day is kept, and out of bounds is 422 naming ttl_seconds
    assert issued.expires_at <= utcnow() + timedelta(seconds=600)
    assert scene.connect_token("user-42", ttl_seconds=86_400).expires_at > utcnow() + timedelta(hours=23)
    for ttl in (59, 86_401):
        with pytest.raises(ValidationFailed) as raised:
            scene.connect_token("user-42", ttl_seconds=ttl)
        assert raised.value.details[0]["loc"] == ["ttl_seconds"]


def test_an_expired_connect_token_is_gone_and_an_unknown_one_invalid(
    scene: LinksWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a connect token of 60 s
    issued = scene.connect_token("user-42", ttl_seconds=60)
    # When the token is presented after its expiry
    later = utcnow() + timedelta(seconds=61)
    monkeypatch.setattr(connect_tokens, "utcnow", lambda: later)
    # Then it is gone: 410 token_expired
    with pytest.raises(Gone) as expired:
        connect_tokens.grant_for(issued.token)
    assert (expired.value.status, expired.value.error_code) == (410, "token_expired")
    # And a well-formed token that was never issued, or a mangled one, is 401
    forged = issued.token[:-4] + ("AAAA" if not issued.token.endswith("AAAA") else "BBBB")
    for token in (forged, "sb_ct_" + "a" * 20 + "b" * 43, "not-a-token"):
        with pytest.raises(Unauthorized) as unknown:
            connect_tokens.grant_for(token)
        assert (unknown.value.status, unknown.value.error_code) == (401, "invalid_token")


def test_a_pat_or_access_key_is_not_a_connect_token_and_a_token_for_another_app_is_invalid(
    scene: LinksWorld,
) -> None:
    # Given an access key, a PAT, and a connect token of this App
    # When each is presented as a connect token (of this App, or of another)
    # Then the key and the PAT are the wrong type, the token is invalid for another App and valid for its own
    for token in (scene.runtime.key, scene.world.admin.token):
        with pytest.raises(Forbidden) as raised:
            connect_tokens.grant_for(token)
        assert raised.value.error_code == "wrong_token_type"
    issued = scene.connect_token("user-42")
    with pytest.raises(Unauthorized) as raised_other:
        connect_tokens.grant_for(issued.token, app_id=new_app(scene.world))
    assert raised_other.value.error_code == "invalid_token"
    assert connect_tokens.grant_for(issued.token, app_id=scene.app_id).user_id == "user-42"


def test_a_connect_token_is_refused_by_the_apps_and_management_apis(scene: LinksWorld) -> None:
    # Given a connect token
    token = scene.connect_token("user-42").token
    # When it calls the Apps API and the management API
    apps_reply = scene.runtime.call("GET", "/v1/runs", token=token)
    management_reply = scene.world.call("GET", "/v1/me", token=token)
    # Then both answer 403 wrong_token_type
    for reply in (apps_reply, management_reply):
        assert reply.status == 403, reply.body
        assert reply.body["error"]["code"] == "wrong_token_type"


def test_return_urls_must_be_on_the_apps_allow_list(scene: LinksWorld) -> None:
    # Given an App that allows one exact URL and everything under one folder
    updated = scene.world.call(
        "PATCH",
        f"/v1/apps/{scene.app_id}",
        token=scene.world.admin.token,
        body={"connect_return_urls": ["https://example.com/done", "https://example.com/back/"]},
    )
    assert updated.status == 200, updated.body
    # When tokens are issued with return URLs on and off the list
    # Then those are accepted and recorded on the token; others are 422
    for allowed in (
        "https://example.com/done",
        "https://example.com/back/",
        "https://example.com/back/x?y=1",
    ):
        grant = connect_tokens.grant_for(scene.connect_token("user-42", return_url=allowed).token)
        assert grant.return_url == allowed
    for refused in (
        "https://example.com/done/more",
        "https://example.com/backdoor",
        "https://evil.test/done",
    ):
        with pytest.raises(ValidationFailed) as raised:
            scene.connect_token("user-42", return_url=refused)
        assert raised.value.details[0]["code"] == "return_url_not_allowed"


def test_csrf_tokens_are_per_token_and_requirement(scene: LinksWorld) -> None:
    # Given two grants of the same user
    grant = scene.grant("user-42")
    other = scene.grant("user-42")
    # When a CSRF token is made for one grant and requirement
    token = connect_tokens.csrf_token(grant, "crm")
    # Then it passes for them, is stable, and fails for no token, another token, requirement or grant
    connect_tokens.check_csrf(grant, "crm", token)
    assert connect_tokens.csrf_token(grant, "crm") == token
    for requirement_id, presented, holder in (
        ("crm", None, grant),
        ("crm", "", grant),
        ("crm", token + "x", grant),
        ("billing", token, grant),
        ("crm", token, other),
    ):
        with pytest.raises(Forbidden) as raised:
            connect_tokens.check_csrf(holder, requirement_id, presented)
        assert raised.value.error_code == "invalid_csrf"


# ---------------------------------------------------------------- linking


def test_linking_stores_the_secret_apart_and_records_the_activation(scene: LinksWorld) -> None:
    # Given user-42's grant and a CRM config with its key
    grant = scene.grant("user-42")
    config = {"url": "https://crm.example.test", "api_key": USER_KEYS["user-42"], "header": "X-Key"}

    # When the credentials are linked
    link = links.link_credentials(scene.app(), grant, "crm", "http_api_key", config)

    # Then the link is active, its config without the key, the secret sealed apart
    assert (link.status, link.user_id, link.requirement_id, link.revision) == (
        LinkStatus.active,
        "user-42",
        "crm",
        1,
    )
    assert link.config == {"url": "https://crm.example.test/", "header": "X-Key", "scheme": "Bearer"}
    assert link.secret_fields == ["api_key"]
    # The secret is sealed into the link's item, never in clear, and no Secrets Manager secret is made
    assert link.secret_name is None
    assert link_secrets.open_values(link) == {"api_key": USER_KEYS["user-42"]}
    assert USER_KEYS["user-42"] not in json.dumps(_links_table_items(), default=str)
    assert not [s for s in aws.secrets().list_secrets()["SecretList"] if "/links/" in s["Name"]]
    assert link_store.get_link(scene.app_id, "user-42", "crm") == link
    assert link_store.get_link_by_id(link.id) == link
    (transition,) = link_store.list_transitions(link.id)
    assert transition.model_dump(exclude={"at"}) == {
        "link_id": link.id,
        "app_id": scene.app_id,
        "user_id": "user-42",
        "requirement_id": "crm",
        "from_status": None,
        "to_status": LinkStatus.active,
        "reason": None,
        "by": grant.token_id,
    }
    assert transition.at == link.linked_at


def test_relinking_replaces_the_link_and_its_sealed_secret(scene: LinksWorld) -> None:
    # Given user-42's link
    old = scene.link("user-42")
    # When user-42 links again with a rotated key
    new = scene.link("user-42", key="user-42-SECRET-key-rotated")

    # Then a new link with the next revision replaces it, sealing only the new key
    assert new.id != old.id
    assert new.revision == old.revision + 1
    assert link_store.get_link(scene.app_id, "user-42", "crm") == new
    assert link_secrets.open_values(new) == {"api_key": "user-42-SECRET-key-rotated"}
    assert str(old.sealed_secret) not in json.dumps(_links_table_items(), default=str)
    # And both links' histories say what happened, and the old id no longer addresses a current link
    assert [(t.from_status, t.to_status, t.reason) for t in link_store.list_transitions(old.id)] == [
        (None, LinkStatus.active, None),
        (LinkStatus.active, LinkStatus.revoked, f"replaced by {new.id}"),
    ]
    assert [(t.from_status, t.to_status, t.reason) for t in link_store.list_transitions(new.id)] == [
        (None, LinkStatus.active, f"replaces {old.id}")
    ]
    assert link_store.get_link_by_id(old.id) is None


def test_linking_checks_the_requirement_the_type_and_the_config(scene: LinksWorld) -> None:
    # Given user-42's grant
    grant = scene.grant("user-42")
    app = scene.app()
    config = {"url": "https://crm.example.test", "api_key": USER_KEYS["user-42"]}

    # When links name an undeclared requirement, another type or a bad config
    # Then each is refused with its error and details
    with pytest.raises(NotFound) as undeclared:
        links.link_credentials(app, grant, "payroll", "http_api_key", config)
    assert undeclared.value.details == {"requirement_id": "payroll"}

    with pytest.raises(ValidationFailed) as mismatch:
        links.link_credentials(app, grant, "crm", "openai", {"api_key": USER_KEYS["user-42"]})
    assert mismatch.value.error_code == "connection_type_mismatch"
    assert mismatch.value.details == [
        {
            "loc": ["type"],
            "code": "connection_type_mismatch",
            "message": "expected a 'http_api_key' connection",
        }
    ]

    with pytest.raises(ValidationFailed) as invalid:
        links.link_credentials(app, grant, "crm", "http_api_key", {"url": "not a url", "extra": 1})
    assert {(tuple(d["loc"]), d["code"]) for d in invalid.value.details} == {
        (("config", "url"), "url_parsing"),
        (("config", "api_key"), "missing"),
        (("config", "extra"), "extra_forbidden"),
    }

    with pytest.raises(ValidationFailed) as past:
        links.link_credentials(app, grant, "crm", "http_api_key", config, utcnow() - timedelta(seconds=1))
    assert past.value.details[0]["loc"] == ["expires_at"]

    with pytest.raises(Unauthorized):
        links.link_credentials(_app(new_app(scene.world)), grant, "crm", "http_api_key", config)
    # And nothing was linked or stored as a secret
    assert link_store.get_link(scene.app_id, "user-42", "crm") is None
    assert not [s for s in aws.secrets().list_secrets()["SecretList"] if "/links/" in s["Name"]]


def test_a_requirements_max_age_caps_the_links_expiry(scene: LinksWorld) -> None:
    # Given a version whose requirement allows links of at most an hour
    deploy(scene.world, requirement_definition(max_age_seconds=3600))
    # When links are made without an expiry, with a later one and with a sooner one
    unbounded = scene.link("user-42")
    # Then the first two expire after an hour, the sooner one when asked
    assert unbounded.expires_at == unbounded.linked_at + timedelta(seconds=3600)
    later = scene.link("user-43", expires_at=utcnow() + timedelta(days=2))
    assert later.expires_at == later.linked_at + timedelta(seconds=3600)
    sooner = utcnow() + timedelta(minutes=5)
    assert scene.link("user-42", expires_at=sooner).expires_at == sooner


# ---------------------------------------------------------------- revoking


def test_revoking_deletes_the_sealed_secret_records_the_transition_and_is_idempotent(
    scene: LinksWorld,
) -> None:
    # Given user-42's link and grant
    link = scene.link("user-42")
    grant = scene.grant("user-42")

    # When the user revokes the requirement twice
    revoked = links.revoke_requirement(scene.app(), grant, "crm")
    again = links.revoke_requirement(scene.app(), grant, "crm")

    # Then the link is revoked once, its sealed secret deleted, the transition recorded
    assert (revoked.status, revoked.status_reason) == (LinkStatus.revoked, "revoked by the user")
    assert again == revoked
    assert link_store.get_link(scene.app_id, "user-42", "crm") == revoked
    assert revoked.sealed_secret is None
    item = link_store.links_table().get(keys.link(scene.app_id, "user-42", "crm"))
    assert item is not None
    assert "sealed_secret" not in item
    assert str(link.sealed_secret) not in json.dumps(_links_table_items(), default=str)
    assert [(t.to_status, t.by) for t in link_store.list_transitions(link.id)] == [
        (LinkStatus.active, link_store.list_transitions(link.id)[0].by),
        (LinkStatus.revoked, grant.token_id),
    ]
    # And a user with nothing linked, or an undeclared requirement, is 404
    with pytest.raises(NotFound):
        links.revoke_requirement(scene.app(), scene.grant("user-43"), "crm")
    with pytest.raises(NotFound):
        links.revoke_requirement(scene.app(), grant, "payroll")


# ---------------------------------------------------------------- builders


def test_builders_list_links_without_secrets_see_transitions_and_revoke(scene: LinksWorld) -> None:
    # Given two users' links
    first = scene.link("user-42")
    second = scene.link("user-43")

    # When the builder lists them, all and by user
    everyone, cursor = links.list_links(scene.builder, scene.app_id, None, 50, None)
    only, _ = links.list_links(scene.builder, scene.app_id, "user-43", 50, None)

    # Then both listings hold the links, with no secret value
    assert cursor is None
    assert [view.id for view in everyone] == [first.id, second.id]
    assert [view.id for view in only] == [second.id]
    listed = everyone[0].model_dump(mode="json")
    assert "secret_name" not in listed
    assert "secret_version" not in listed
    assert USER_KEYS["user-42"] not in json.dumps(listed)
    assert listed["secret_fields"] == ["api_key"]

    revoked = links.revoke_app_link(scene.builder, scene.app_id, first.id)
    assert revoked.status is LinkStatus.revoked
    history = links.link_transitions(scene.builder, scene.app_id, first.id)
    assert [(t.to_status, t.by) for t in history][-1] == (LinkStatus.revoked, scene.builder.actor)
    # And another App's link id, or an unknown one, is 404
    with pytest.raises(NotFound):
        links.link_transitions(scene.builder, new_app(scene.world), first.id)
    with pytest.raises(NotFound):
        links.revoke_app_link(scene.builder, scene.app_id, "lnk-aaaaaaaaaaaaaaaaaaaa")


def test_a_project_viewer_can_list_links_but_not_revoke_them(scene: LinksWorld) -> None:
    # Given a link and a project viewer
    link = scene.link("user-42")
    token = scene.world.token_for("viewer@example.com", project_role="viewer")
    viewer = authenticate(f"Bearer {token}", TokenKind.pat)
    # When the viewer lists and revokes
    # Then listing works and revoking is forbidden
    assert [v.id for v in links.list_links(viewer, scene.app_id, "user-42", 10, None)[0]] == [link.id]
    with pytest.raises(Forbidden):
        links.revoke_app_link(viewer, scene.app_id, link.id)


def test_last_used_is_written_at_most_hourly(scene: LinksWorld) -> None:
    # Given user-42's link
    link = scene.link("user-42")
    now = utcnow()
    # When its use is recorded now, 59 min later, 61 min later, and for a replaced link id
    # Then only the first and the one past the hour are written, without a new revision
    assert link_store.touch_link(scene.app_id, "user-42", "crm", link.id, now)
    assert not link_store.touch_link(scene.app_id, "user-42", "crm", link.id, now + timedelta(minutes=59))
    assert link_store.touch_link(scene.app_id, "user-42", "crm", link.id, now + timedelta(minutes=61))
    assert not link_store.touch_link(scene.app_id, "user-42", "crm", "lnk-replacedreplacedrepl", now)
    stored = link_store.get_link(scene.app_id, "user-42", "crm")
    assert stored is not None
    assert stored.last_used_at == now + timedelta(minutes=61)
    assert stored.revision == link.revision


def test_a_use_is_due_by_the_same_hourly_rule_the_write_enforces() -> None:
    # Given now
    # When a use is checked after none, 59 min and 61 min
    # Then it is due after none and after more than an hour
    now = utcnow()
    assert link_store.touch_is_due(None, now)
    assert not link_store.touch_is_due(now - timedelta(minutes=59), now)
    assert link_store.touch_is_due(now - timedelta(minutes=61), now)


# ---------------------------------------------------------------- pre-flight and runs


def test_a_run_for_a_user_without_links_is_refused_with_the_entries_and_not_created(
    scene: LinksWorld,
) -> None:
    # Given user-42 who never linked
    # When a run is asked for them
    reply = scene.runtime.call("POST", "/v1/runs", body={"input": {"question": "hi"}, "user_id": "user-42"})

    # Then 422 requirement_not_satisfied with the missing entry, and no run
    assert reply.status == 422, reply.body
    error = reply.body["error"]
    assert error["code"] == "requirement_not_satisfied"
    assert error["details"]["status"] == "incomplete"
    (entry,) = error["details"]["requirements"]
    assert (entry["id"], entry["status"]) == ("crm", "missing")
    assert entry["connect_url"].startswith(
        f"https://apps-api.example.test/apps/{scene.app_id}/connect?token="
    )
    assert scene.runtime.call("GET", "/v1/runs").body["data"] == []


def test_a_run_without_user_id_is_refused_when_the_version_has_requirements(scene: LinksWorld) -> None:
    # Given a version with requirements
    # When a run and a direct invoke come without user_id
    # Then each is 422 naming user_id, with no connect URL, and no run
    for path, body in (
        ("/v1/runs", {"input": {"question": "hi"}}),
        ("/", {"input": {"question": "hi"}}),
    ):
        reply = scene.runtime.call("POST", path, body=body)
        assert reply.status == 422, reply.body
        assert reply.body["error"]["code"] == "requirement_not_satisfied"
        assert "user_id" in reply.body["error"]["message"]
        assert [e["connect_url"] for e in reply.body["error"]["details"]["requirements"]] == [None]
    assert scene.runtime.call("GET", "/v1/runs").body["data"] == []


def test_a_linked_users_run_sends_their_key_and_records_the_links_use(scene: LinksWorld) -> None:
    # Given an echoing upstream and user-42's link
    scene.target.respond("/echo", Answer(echo=True))
    link = scene.link("user-42")

    # When user-42 runs twice
    first = scene.runtime.call("POST", "/v1/runs", body={"input": {"question": "hi"}, "user_id": "user-42"})
    used = link_store.get_link(scene.app_id, "user-42", "crm")
    second = scene.runtime.call("POST", "/v1/runs", body={"input": {"question": "hi"}, "user_id": "user-42"})

    # Then both complete, sending user-42's key, and the link's use is recorded
    assert (first.status, first.body["data"]["status"]) == (200, "completed"), first.body
    assert second.body["data"]["status"] == "completed"
    assert [r.headers["authorization"] for r in scene.target.requests_to("/echo")] == [
        f"Bearer {USER_KEYS['user-42']}"
    ] * 2
    assert used is not None
    assert used.last_used_at is not None
    assert used.last_used_at >= link.linked_at
    assert used.revision == link.revision
    after = link_store.get_link(scene.app_id, "user-42", "crm")
    assert after is not None
    assert after.last_used_at == used.last_used_at


def test_an_upstream_401_marks_the_link_unauthorized_and_the_next_run_is_refused(scene: LinksWorld) -> None:
    # Given an upstream that rejects the key and user-43's link
    scene.target.respond("/echo", Answer(status=401, body={"error": "bad key"}))
    link = scene.link("user-43")

    # When user-43 runs
    ran = scene.runtime.call("POST", "/v1/runs", body={"input": {"question": "hi"}, "user_id": "user-43"})

    # Then the link is unauthorized, with the reason and transition
    assert ran.status == 200, ran.body
    stored = link_store.get_link(scene.app_id, "user-43", "crm")
    assert stored is not None
    assert stored.status is LinkStatus.unauthorized
    assert stored.status_reason is not None
    assert "401" in stored.status_reason
    (_, marked) = link_store.list_transitions(link.id)
    assert (marked.from_status, marked.to_status, marked.by) == (
        LinkStatus.active,
        LinkStatus.unauthorized,
        "switchboard",
    )
    status = requirement_status(scene.app(), "user-43", connect_url_for=None)
    assert _statuses(status) == [("crm", "unauthorized")]
    refused = scene.runtime.call("POST", "/v1/runs", body={"input": {"question": "hi"}, "user_id": "user-43"})
    assert refused.status == 422
    assert refused.body["error"]["details"]["requirements"][0]["status"] == "unauthorized"
    # And re-linking makes the user's runs possible again
    scene.target.respond("/echo", Answer(status=200))
    scene.link("user-43", key="user-43-SECRET-key-fixed")
    again = scene.runtime.call("POST", "/v1/runs", body={"input": {"question": "hi"}, "user_id": "user-43"})
    assert again.body["data"]["status"] == "completed"


def test_check_requirements_makes_no_aws_call_without_requirements(
    scene: LinksWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a links store that fails any read
    def no_query(*_: Any, **__: Any) -> None:
        raise AssertionError("no links may be read")

    monkeypatch.setattr(link_store, "list_user_links", no_query)
    # When requirements of a version without any are checked, then of one with
    # Then the first reads nothing, the second is refused before any read
    requirements.check_requirements(
        scene.app(), WorkflowDefinition.model_validate(files_workflow()), None, scene.key_principal
    )
    with pytest.raises(RequirementNotSatisfied):
        requirements.check_requirements(
            scene.app(), WorkflowDefinition.model_validate(requirement_definition()), None, None
        )


def test_the_links_table_keys_are_the_documented_ones(scene: LinksWorld) -> None:
    # Given a link and a connect token
    link = scene.link("user-42")
    scene.connect_token("user-42")
    # When the links table is read
    partitions = sorted({item["pk"].split("#")[0] for item in _links_table_items()})
    # Then its partitions and the link reference item are the documented ones
    assert partitions == ["CONNECT", "LINK", "LINKLOG", "LINKREF"]
    assert aws.table(get_settings().links_table).get_item(Key=keys.link_ref(link.id))["Item"] == {
        **keys.link_ref(link.id),
        "app_id": scene.app_id,
        "user_id": "user-42",
        "requirement_id": "crm",
    }
