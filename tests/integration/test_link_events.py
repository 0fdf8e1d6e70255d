"""Link events on moto: each link change is delivered to the App's event URL (a loopback receiver) through
the delivery machinery, signed with the App's secret, retried like callbacks, and never holding a secret;
the management API sets and checks the event URL and the connect return URLs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from switchboard.domain.deliveries import DeliveryStatus
from switchboard.domain.ids import utcnow
from switchboard.runtime.links import linking as links
from switchboard.runtime.links import requirements
from switchboard.runtime.links.requirements import requirement_status
from switchboard.runtime.webhooks import deliveries
from switchboard.runtime.webhooks.signing import verify_webhook
from switchboard.settings import get_settings
from switchboard.store.deliveries import get_event_delivery
from tests.integration.conftest import World
from tests.integration.links_world import USER_KEYS, LinksWorld, links_world
from tests.support.fakes import Recorded
from tests.support.fakes import Reply as Answer


@pytest.fixture
def scene(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[LinksWorld]:
    with links_world(world, monkeypatch) as built:
        yield built


def _event(secret: str, request: Recorded) -> dict[str, Any]:
    verify_webhook(secret, request.headers, request.body)
    body: dict[str, Any] = request.json()
    return body


def _deliver_all(scene: LinksWorld) -> list[dict[str, Any]]:
    """Feed every queued delivery message to the dispatcher (without waiting for delays)."""
    fed: list[dict[str, Any]] = []
    while queued := scene.take_deliveries():
        for body, _ in queued:
            scene.deliver(body)
            fed.append(body)
    return fed


def test_linking_delivers_a_signed_link_activated_event(scene: LinksWorld) -> None:
    # Given an App with an event URL
    secret = scene.use_event_receiver()
    scene.target.respond("/events", Answer(status=204))
    # When a user links their connection
    link = scene.link("user-42")
    # Then one delivery message names the event, and its attempt posts the signed event
    ((message, delay),) = scene.take_deliveries()
    assert set(message) == {"delivery_id", "event_id", "attempt"}
    assert (message["attempt"], delay) == (1, 0)
    scene.deliver(message)
    (request,) = scene.events_received()
    event = _event(secret, request)
    assert event == {
        "id": message["event_id"],
        "type": "link.activated",
        "created_at": event["created_at"],
        "data": {
            "link_id": link.id,
            "app_id": scene.app_id,
            "user_id": "user-42",
            "requirement_id": "crm",
            "status": "active",
            "reason": None,
        },
    }
    assert request.headers["webhook-id"] == message["delivery_id"]
    assert request.headers["user-agent"] == "Switchboard-Webhooks/1"
    assert "authorization" not in request.headers
    assert USER_KEYS["user-42"].encode() not in request.body
    # And the delivery is recorded delivered with its attempt
    delivery = get_event_delivery(message["event_id"], message["delivery_id"])
    assert delivery is not None
    assert delivery.status is DeliveryStatus.delivered
    assert [(a.number, a.status_code) for a in delivery.attempts] == [(1, 204)]
    assert delivery.event_type == "link.activated"
    assert delivery.url == f"{scene.target.url}/events"


def test_revoking_expiring_and_an_upstream_401_each_deliver_their_event(
    scene: LinksWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = scene.use_event_receiver()
    scene.target.respond("/events", Answer(status=200))
    # Given three users' links: one revoked, one past its expiry, one refused by the upstream
    revoked = scene.link("user-42")
    links.revoke_link(scene.app(), revoked, "builder@example.com")
    expiring = scene.link("user-43", expires_at=utcnow() + timedelta(minutes=5))
    later = utcnow() + timedelta(minutes=10)
    monkeypatch.setattr(requirements, "utcnow", lambda: later)
    requirement_status(scene.app(), "user-43", connect_url_for=None)
    scene.target.respond("/echo", Answer(status=401))
    refused = scene.link("user-44", key="user-44-SECRET-key-cccc")
    ran = scene.runtime.call("POST", "/v1/runs", body={"input": {"question": "hi"}, "user_id": "user-44"})
    assert ran.status == 200, ran.body
    # When every queued delivery is made
    _deliver_all(scene)
    # Then the receiver heard every change, in order, each signed
    events = [_event(secret, request) for request in scene.events_received()]
    assert [(e["type"], e["data"]["link_id"], e["data"]["status"]) for e in events] == [
        ("link.activated", revoked.id, "active"),
        ("link.revoked", revoked.id, "revoked"),
        ("link.activated", expiring.id, "active"),
        ("link.expired", expiring.id, "expired"),
        ("link.activated", refused.id, "active"),
        ("link.unauthorized", refused.id, "unauthorized"),
    ]
    reasons = {e["type"]: e["data"]["reason"] for e in events}
    assert reasons["link.revoked"] == "revoked by builder@example.com"
    assert reasons["link.expired"].startswith("the link expired at ")
    assert "upstream answered 401" in reasons["link.unauthorized"]


def test_a_failing_receiver_is_retried_like_a_callback(
    scene: LinksWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an App with an event URL whose receiver fails once (500), then accepts
    scene.use_event_receiver()
    scene.target.respond("/events", Answer(status=500), Answer(status=200))
    # When user-42 links, and the queued delivery of its event is made
    scene.link("user-42")
    ((first, _),) = scene.take_deliveries()
    scene.deliver(first)
    # Then a second attempt of the same delivery is queued after 5 s, and delivers
    ((second, delay),) = scene.take_deliveries()
    assert second == {**first, "attempt": 2}
    assert 3 < delay <= 5
    later = utcnow() + timedelta(seconds=delay)
    monkeypatch.setattr(deliveries, "utcnow", lambda: later)
    scene.deliver(second)
    delivery = get_event_delivery(first["event_id"], first["delivery_id"])
    assert delivery is not None
    assert [(a.number, a.status_code) for a in delivery.attempts] == [(1, 500), (2, 200)]
    assert delivery.status is DeliveryStatus.delivered
    assert {r.headers["webhook-id"] for r in scene.events_received()} == {first["delivery_id"]}


def test_without_an_event_url_nothing_is_queued(scene: LinksWorld) -> None:
    # Given an App without an event URL
    # When user-42 links and the link is revoked
    link = scene.link("user-42")
    links.revoke_link(scene.app(), link, "test")
    # Then no event delivery is queued
    assert scene.take_deliveries() == []


def test_an_event_that_cannot_be_scheduled_never_fails_the_change(
    scene: LinksWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an App with an event URL, but no delivery queue configured
    scene.use_event_receiver()
    monkeypatch.setenv("DELIVERY_QUEUE_URL", "")
    get_settings.cache_clear()
    # When user-42 links
    link = scene.link("user-42")
    # Then the link is made, active, and nothing is queued
    assert link.status.value == "active"
    assert scene.take_deliveries() == []


# ---------------------------------------------------------------- the App's URLs (management API)


def test_the_management_api_sets_shows_and_clears_the_apps_urls(scene: LinksWorld) -> None:
    # Given the scene's App, without URLs, and two connect return URLs
    call, token, path = scene.world.call, scene.world.admin.token, f"/v1/apps/{scene.app_id}"
    urls = ["https://example.com/done", "https://example.com/back/"]

    # When a new App is created with an event URL and the return URLs, and the scene's App gets an event URL,
    # then has both cleared
    created = call(
        "POST",
        "/v1/apps",
        token=token,
        body={
            "project_id": scene.world.project_id,
            "name": "Hooked",
            "workflow_id": scene.world.workflow_id,
            "event_url": "https://hooks.example.com/links",
            "connect_return_urls": urls,
        },
    )
    updated = call("PATCH", path, token=token, body={"event_url": "https://hooks.example.com/x"})
    cleared = call("PATCH", path, token=token, body={"event_url": "", "connect_return_urls": []})

    # Then each answer shows the URLs as set, and a later read of the scene's App shows them cleared
    assert created.status == 201, created.body
    assert (created.body["data"]["event_url"], created.body["data"]["connect_return_urls"]) == (
        "https://hooks.example.com/links",
        urls,
    )
    assert updated.status == 200, updated.body
    assert updated.body["data"]["event_url"] == "https://hooks.example.com/x"
    assert (cleared.body["data"]["event_url"], cleared.body["data"]["connect_return_urls"]) == (None, [])
    shown = call("GET", path, token=token)
    assert (shown.body["data"]["event_url"], shown.body["data"]["connect_return_urls"]) == (None, [])


def test_the_management_api_refuses_urls_that_may_not_receive_events_or_users(scene: LinksWorld) -> None:
    # Given an App with no event URL and no return URLs
    call, token, path = scene.world.call, scene.world.admin.token, f"/v1/apps/{scene.app_id}"
    # When event URLs with a wrong scheme, credentials, a metadata or private address, or a return URL that is
    # not a URL are set / Then each is 422 naming the field and its code
    for body, loc, code in (
        ({"event_url": "ftp://hooks.example.com/x"}, ["event_url"], "scheme_not_allowed"),
        ({"event_url": "https://user:pw@hooks.example.com/"}, ["event_url"], "credentials_in_url"),
        ({"event_url": "https://169.254.169.254/latest/"}, ["event_url"], "address_not_allowed"),
        ({"event_url": "https://10.0.0.5/events"}, ["event_url"], "address_not_allowed"),
        (
            {"connect_return_urls": ["https://ok.example.com/", "no url"]},
            ["connect_return_urls", 1],
            "invalid_url",
        ),
    ):
        reply = call("PATCH", path, token=token, body=body)
        assert reply.status == 422, reply.body
        assert reply.body["error"]["code"] == "validation_failed"
        assert [(d["loc"], d["code"]) for d in reply.body["error"]["details"]] == [(loc, code)]
    # And eleven return URLs are 422
    too_many = call(
        "PATCH", path, token=token, body={"connect_return_urls": [f"https://a.test/{i}" for i in range(11)]}
    )
    assert too_many.status == 422, too_many.body
    # And the App kept no URL, and no refused value is in it
    unchanged = call("GET", path, token=token)
    assert (unchanged.body["data"]["event_url"], unchanged.body["data"]["connect_return_urls"]) == (None, [])
    assert json.dumps(unchanged.body).count("ftp://") == 0
