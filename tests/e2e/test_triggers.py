"""Triggers over real HTTP on the local stack: a schedule every minute fires by itself (the in-process
scheduler) and its event links to a completed run; ``switchboard local fire`` fires one now; a webhook
trigger accepts a correctly signed event and refuses a bad signature, a stale timestamp and a replayed id; a
trigger acting for a user who has not linked the App's requirement records its firing rejected.

Only the first test waits for the clock: up to ``SCHEDULE_WAIT_S`` for the next whole minute.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from switchboard.runtime.webhooks.signing import signature_headers
from tests.e2e.app_world import AppWorld, build_app_world, scripted_upstream, wait_until
from tests.e2e.conftest import ROOT, LocalStackProcess, Story
from tests.support.fakes import HttpTarget
from tests.support.http import Reply
from tests.support.workflows import requirement_workflow

pytestmark = pytest.mark.e2e

SCHEDULE_WAIT_S = 75
"""A minutely schedule fires at the next whole minute: at most 60 s away, plus the scheduler's tick."""
EVENT = {"type": "invoice.paid", "data": {"invoice_id": "inv_1042", "amount": 4200}}


@pytest.fixture(scope="module")
def upstream() -> Iterator[HttpTarget]:
    with scripted_upstream() as target:
        yield target


@pytest.fixture(scope="module")
def world(local_stack: LocalStackProcess, upstream: HttpTarget) -> AppWorld:
    return build_app_world(local_stack, upstream.url, name="Triggers")


def create_trigger(world: AppWorld, body: dict[str, Any], app_id: str | None = None) -> dict[str, Any]:
    created: dict[str, Any] = world.api(
        "POST", f"/v1/apps/{app_id or world.app_id}/triggers", body, expect=201
    )
    return created


def events_of(world: AppWorld, trigger_id: str, app_id: str | None = None) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = world.api(
        "GET", f"/v1/apps/{app_id or world.app_id}/triggers/{trigger_id}/events", expect=200
    )
    return listed


def local_fire(stack: LocalStackProcess, trigger_id: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "switchboard_cli.main", "local", "fire", trigger_id]
    command += ["--url", stack.base_url, "--state-file", str(stack.state_file), "--json"]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)


def post_event(world: AppWorld, trigger_id: str, body: bytes, headers: dict[str, str]) -> Reply:
    """Post to the trigger's webhook URL, by host (``<app>.apps.localhost``) as the URL says, with no key."""
    return world.call(
        "POST",
        f"/v1/triggers/{trigger_id}/events",
        form="host",
        token=None,
        data=body,
        headers={"Content-Type": "application/json", **headers},
    )


def test_a_schedule_every_minute_fires_by_itself_and_its_event_links_a_completed_run(world: AppWorld) -> None:
    # Given a schedule trigger firing every minute, its static input mapped with the firing time
    trigger = create_trigger(
        world,
        {
            "name": "every-minute",
            "type": "schedule",
            "config": {"cron": "* * * * *"},
            "input": {"question": "minutely digest"},
            "input_transformer": "{route: 'fast'}",
        },
    )
    # When the next whole minute passes
    (event,) = wait_until(
        lambda: events_of(world, trigger["id"]) or None, SCHEDULE_WAIT_S, "the schedule to fire", interval_s=1
    )
    # Then its event is accepted and links to a run that completes with the trigger's input
    assert event["status"] == "accepted", event
    run = world.wait_for_status(event["run_id"], "completed", "failed")
    assert run["status"] == "completed", run
    assert run["output"]["answer"] == "minutely digest!"
    # And the event keeps the firing: Scheduler's scheduled time, on a whole minute
    detail = world.api(
        "GET", f"/v1/apps/{world.app_id}/triggers/{trigger['id']}/events/{event['id']}", expect=200
    )
    assert detail["payload"]["scheduled_time"].endswith(":00.000Z")
    assert detail["payload"]["execution_id"]
    world.api("DELETE", f"/v1/apps/{world.app_id}/triggers/{trigger['id']}", expect=204)


def test_switchboard_local_fire_fires_a_schedule_trigger_now(world: AppWorld) -> None:
    # Given a schedule trigger that would next fire at 03:00
    trigger = create_trigger(
        world,
        {
            "name": "nightly",
            "type": "schedule",
            "config": {"cron": "0 3 * * *", "timezone": "Europe/Berlin"},
            "input": {"question": "fired by hand"},
        },
    )
    # When it is fired from the command line
    fired = local_fire(world.stack, trigger["id"])
    # Then the command prints the event it recorded, accepted with a run that completes
    assert fired.returncode == 0, fired.stderr
    event = json.loads(fired.stdout)
    assert (event["trigger_id"], event["status"]) == (trigger["id"], "accepted")
    run = world.wait_for_status(event["run_id"], "completed", "failed")
    assert run["status"] == "completed", run
    assert [listed["id"] for listed in events_of(world, trigger["id"])] == [event["id"]]


def test_switchboard_local_fire_refuses_a_trigger_without_schedule(world: AppWorld) -> None:
    # Given the stack's App and a trigger ID that has no schedule
    # When a trigger id with no schedule is fired from the command line
    fired = local_fire(world.stack, "trg-doesnotexist")
    # Then the command fails and says why
    assert fired.returncode == 1
    assert "has no schedule" in fired.stderr


class WebhookStory(Story):
    """A webhook trigger of the App, the event it is sent, and what the phases so far got back."""

    def __init__(self) -> None:
        super().__init__()
        self.body = json.dumps(EVENT).encode()
        self.now = int(time.time())
        self.trigger: dict[str, Any] = {}
        self.accepted: dict[str, Any] = {}

    @property
    def secret(self) -> str:
        return str(self.trigger["signing_secret"])


@pytest.fixture(scope="module")
def webhook() -> WebhookStory:
    return WebhookStory()


def test_a_webhook_trigger_accepts_a_signed_event(world: AppWorld, webhook: WebhookStory) -> None:
    # Given a webhook trigger mapping the event into the App's input; its URL and secret are shown once
    webhook.trigger = trigger = create_trigger(
        world,
        {
            "name": "billing",
            "type": "webhook",
            "input": {"route": "fast"},
            "input_transformer": "{question: join(' ', [type, data.invoice_id])}",
        },
    )
    assert trigger["webhook_url"] == (
        f"http://{world.app_id}.apps.localhost:{world.stack.port}/v1/triggers/{trigger['id']}/events"
    )
    body, secret, now = webhook.body, webhook.secret, webhook.now
    # When the sender posts a correctly signed event, without any access key
    accepted = post_event(world, trigger["id"], body, signature_headers(secret, "msg_1", now, body))
    # Then it is accepted, and the run it started completes with the mapped input
    assert accepted.status == 202, accepted.text
    webhook.accepted = data = accepted.body["data"]
    assert data["status"] == "accepted"
    run = world.wait_for_status(data["run_id"], "completed", "failed")
    assert run["status"] == "completed", run
    assert run["input"]["question"] == "invoice.paid inv_1042"
    webhook.finished("accepted")


def test_a_webhook_trigger_refuses_a_forged_or_stale_event(world: AppWorld, webhook: WebhookStory) -> None:
    # Given the webhook trigger that accepted a signed event
    webhook.needs("accepted")
    trigger_id, body, now = webhook.trigger["id"], webhook.body, webhook.now
    # When an event is signed with another secret, or correctly signed six minutes ago
    forged = post_event(world, trigger_id, body, signature_headers(world.signing_secret, "msg_2", now, body))
    stale = post_event(world, trigger_id, body, signature_headers(webhook.secret, "msg_3", now - 360, body))
    # Then both are 401, for their own reason
    assert (forged.status, forged.body["error"]["code"]) == (401, "invalid_signature"), forged.text
    assert (stale.status, stale.body["error"]["code"]) == (401, "stale_timestamp"), stale.text
    webhook.finished("refused")


def test_a_webhook_trigger_refuses_a_replayed_event(world: AppWorld, webhook: WebhookStory) -> None:
    # Given the webhook trigger that accepted one event and refused the forged and stale ones
    webhook.needs("refused")
    trigger_id, body, now = webhook.trigger["id"], webhook.body, webhook.now
    # When the first event's webhook-id comes again, freshly signed
    replayed = post_event(world, trigger_id, body, signature_headers(webhook.secret, "msg_1", now + 1, body))
    # Then it is 409 and starts nothing: the trigger recorded exactly the one accepted event
    assert (replayed.status, replayed.body["error"]["code"]) == (409, "duplicate_event"), replayed.text
    assert [(event["id"], event["status"]) for event in events_of(world, trigger_id)] == [
        (webhook.accepted["event_id"], "accepted")
    ]
    webhook.finished("replayed")


def test_a_webhook_triggers_signing_secret_never_reaches_the_output(
    world: AppWorld, webhook: WebhookStory
) -> None:
    # Given the webhook story told
    webhook.needs("replayed")
    # When the stack's output is read
    output = world.stack.stdout() + world.stack.stderr()
    # Then the signing secret is not in it
    assert webhook.secret not in output


def test_a_trigger_acting_for_a_user_without_the_linked_requirement_records_rejected(world: AppWorld) -> None:
    # Given an App whose workflow needs each end user's CRM link, and a trigger acting for a user who has none
    app = world.api.builder.deployed_app(world.project_id, "Per user", requirement_workflow())
    trigger = create_trigger(
        world,
        {
            "name": "for-ada",
            "type": "schedule",
            "config": {"rate": "1 day"},
            "input": {"question": "q"},
            "user_id": "ada",
        },
        app_id=app.id,
    )
    # When it fires
    fired = local_fire(world.stack, trigger["id"])
    # Then its event is rejected by the requirements pre-flight, naming the requirement, and no run started
    assert fired.returncode == 0, fired.stderr
    event = json.loads(fired.stdout)
    assert (event["status"], event["run_id"]) == ("rejected", None)
    assert event["reason"].startswith("requirement_not_satisfied: ")
    assert event["reason"].endswith("(crm)")
    (listed,) = events_of(world, trigger["id"], app_id=app.id)
    assert (listed["id"], listed["status"], listed["reason"]) == (event["id"], "rejected", event["reason"])
    runs = world.call("GET", "/v1/runs", app_id=app.id)
    assert runs.status == 200, runs.text
    assert runs.body["data"] == []
