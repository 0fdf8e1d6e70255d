"""Events posted to a webhook trigger through the Apps API on moto: the Standard Webhooks signature is the
credential (no access key), checked by the trigger function with the trigger's secret, which it alone may
decrypt (no credentials function involved); a bad or missing signature and a stale timestamp are 401 and
record nothing, a replayed webhook-id is 409 and starts no second run, an unknown trigger or one of another
App is 404."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from switchboard import aws
from switchboard.domain.runs import RunSource
from switchboard.domain.triggers import TriggerType
from switchboard.observability import logger
from switchboard.runtime.webhooks.signing import signature_headers
from switchboard.store import runs, trigger_events
from tests.integration.apps_runtime import new_app
from tests.integration.conftest import Reply, World
from tests.integration.trigger_world import TriggerWorld, trigger_world
from tests.support.stack import LambdaContextStub, load_function

EVENT = {"type": "invoice.paid", "data": {"invoice_id": "inv_1042", "amount": 42.5}}
TRANSFORMER = "{question: join(' ', [type, data.invoice_id])}"


@pytest.fixture
def scene(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[TriggerWorld]:
    """The trigger world; afterwards no signing secret it made is in a table, a log line or printed output
    (the Powertools logger writes to its own stream, captured here)."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    caplog.set_level(logging.INFO)
    try:
        with trigger_world(world, monkeypatch) as built:
            yield built
            printed = capsys.readouterr()
            logged = stream.getvalue()
            built.assert_unleaked(logged + caplog.text + printed.out + printed.err)
    finally:
        handler.setStream(previous)


def post(
    scene: TriggerWorld,
    trigger_id: str,
    body: bytes,
    headers: dict[str, str],
    *,
    app_id: str | None = None,
    form: str = "path",
    token: str | None = None,
) -> Reply:
    return scene.runtime.call(
        "POST",
        f"/v1/triggers/{trigger_id}/events",
        app_id=app_id,
        token=token,
        raw_body=body,
        headers=headers,
        form=form,
    )


def signed(secret: str, body: bytes, message_id: str = "msg_1", at: float | None = None) -> dict[str, str]:
    return {
        "content-type": "application/json",
        **signature_headers(secret, message_id, int(time.time() if at is None else at), body),
    }


def body_of(document: Any) -> bytes:
    return json.dumps(document).encode()


def recorded(trigger_id: str) -> list[Any]:
    return trigger_events.list_events(trigger_id, limit=10, next_token=None)[0]


def test_a_correctly_signed_event_starts_a_run_from_the_event(scene: TriggerWorld) -> None:
    # Given a webhook trigger mapping the event into the App's input
    trigger, secret = scene.webhook_trigger(input={"count": 2}, input_transformer=TRANSFORMER)
    body = body_of(EVENT)
    # When the sender posts a signed event without any access key
    reply = post(scene, trigger.id, body, signed(secret, body))
    # Then it is accepted with the run it started from the event
    assert reply.status == 202, reply.body
    data = reply.body["data"]
    assert (data["status"], data["reason"]) == ("accepted", None)
    assert scene.runtime.queued_run_ids() == [data["run_id"]]
    run = runs.get_run(data["run_id"])
    assert run is not None
    assert (run.input, run.source) == ({"question": "invoice.paid inv_1042", "count": 2}, RunSource.webhook)
    # And the event keeps the body as it arrived, under the webhook-id
    (event,) = recorded(trigger.id)
    assert (event.id, event.payload, event.firing_key) == (data["event_id"], EVENT, "webhook:msg_1")


def test_the_raw_bytes_are_verified_whatever_the_content_type(scene: TriggerWorld) -> None:
    # Given a webhook trigger with static input, and a signed body that is neither JSON nor sent as JSON
    trigger, secret = scene.webhook_trigger(input={"question": "ping"})
    body = b"plain text \xe2\x9c\x93 ping"
    headers = {**signed(secret, body), "content-type": "text/plain"}
    # When it is posted by host addressing, with some Authorization header of the sender's own
    reply = post(scene, trigger.id, body, {**headers, "authorization": "Basic c2VuZGVyOnB3"}, form="host")
    # Then the signature over those exact bytes is accepted, and the text is the recorded payload
    assert reply.status == 202, reply.body
    assert recorded(trigger.id)[0].payload == "plain text ✓ ping"


def test_a_bad_signature_is_401_and_records_nothing(scene: TriggerWorld) -> None:
    # Given a webhook trigger, and an event signed with another secret
    trigger, _secret = scene.webhook_trigger(input={"question": "q"})
    _other, wrong = scene.webhook_trigger(input={"question": "q"})
    body = body_of(EVENT)
    # When it is posted
    reply = post(scene, trigger.id, body, signed(wrong, body))
    # Then it is refused, and nothing was recorded or run
    assert reply.status == 401
    assert reply.body["error"]["code"] == "invalid_signature"
    assert recorded(trigger.id) == []
    assert scene.runtime.queued_run_ids() == []


def test_a_body_changed_after_signing_is_401(scene: TriggerWorld) -> None:
    # Given an event signed, then altered in transit
    trigger, secret = scene.webhook_trigger(input={"question": "q"})
    headers = signed(secret, body_of(EVENT))
    # When the altered body is posted with the original signature
    reply = post(scene, trigger.id, body_of({**EVENT, "data": {"amount": 1}}), headers)
    # Then it is refused
    assert (reply.status, reply.body["error"]["code"]) == (401, "invalid_signature")


def test_an_unsigned_event_is_401(scene: TriggerWorld) -> None:
    # Given a webhook trigger
    trigger, _secret = scene.webhook_trigger(input={"question": "q"})
    # When an event comes without the Standard Webhooks headers
    reply = post(scene, trigger.id, body_of(EVENT), {"content-type": "application/json"})
    # Then it is refused and says how to sign
    assert (reply.status, reply.body["error"]["code"]) == (401, "missing_signature")
    assert "webhook-signature" in reply.body["error"]["message"]


def test_a_stale_timestamp_is_401_even_when_correctly_signed(scene: TriggerWorld) -> None:
    # Given an event correctly signed six minutes ago
    trigger, secret = scene.webhook_trigger(input={"question": "q"})
    body = body_of(EVENT)
    # When it is posted now
    reply = post(scene, trigger.id, body, signed(secret, body, at=time.time() - 360))
    # Then it is refused as stale, and nothing was recorded
    assert (reply.status, reply.body["error"]["code"]) == (401, "stale_timestamp")
    assert recorded(trigger.id) == []


@pytest.mark.parametrize("timestamp", ["9" * 400, "-1", "1e9", "12.5", "now", "\u0661\u0662"])
def test_a_timestamp_that_is_not_unix_seconds_is_401_stale(scene: TriggerWorld, timestamp: str) -> None:
    # Given an event correctly signed for now, whose webhook-timestamp is then replaced by no unix seconds
    # (400 digits, a sign, an exponent, a fraction, a word, non-ASCII digits)
    trigger, secret = scene.webhook_trigger(input={"question": "q"})
    body = body_of(EVENT)
    headers = {**signed(secret, body), "webhook-timestamp": timestamp}
    # When it is posted
    reply = post(scene, trigger.id, body, headers)
    # Then it is refused as stale, not a server error, and nothing was recorded
    assert (reply.status, reply.body["error"]["code"]) == (401, "stale_timestamp"), reply.body
    assert recorded(trigger.id) == []
    # And the event with its real timestamp is accepted
    accepted = post(scene, trigger.id, body, signed(secret, body))
    assert accepted.status == 202, accepted.body


def test_a_replayed_webhook_id_is_409_and_starts_no_second_run(scene: TriggerWorld) -> None:
    # Given an event received once
    trigger, secret = scene.webhook_trigger(input={"question": "q"})
    body = body_of(EVENT)
    first = post(scene, trigger.id, body, signed(secret, body, message_id="msg_replay"))
    assert first.status == 202, first.body
    # When the same webhook-id comes again, freshly and correctly signed
    again = post(scene, trigger.id, body, signed(secret, body, message_id="msg_replay", at=time.time() + 1))
    # Then it is a conflict naming the first event, and only one run exists
    assert again.status == 409
    assert again.body["error"]["code"] == "duplicate_event"
    assert again.body["error"]["details"]["event_id"] == first.body["data"]["event_id"]
    assert scene.runtime.queued_run_ids() == [first.body["data"]["run_id"]]
    assert len(recorded(trigger.id)) == 1


def test_a_disabled_webhook_trigger_records_the_event_skipped(scene: TriggerWorld) -> None:
    # Given a disabled webhook trigger
    trigger, secret = scene.webhook_trigger(input={"question": "q"}, enabled=False)
    body = body_of(EVENT)
    # When a signed event is posted
    reply = post(scene, trigger.id, body, signed(secret, body))
    # Then it is received, recorded skipped, and nothing runs
    assert reply.status == 202
    assert (reply.body["data"]["status"], reply.body["data"]["run_id"]) == ("skipped", None)
    assert scene.runtime.queued_run_ids() == []


def test_an_unknown_trigger_or_one_of_another_app_is_404(scene: TriggerWorld) -> None:
    # Given a webhook trigger of another App of the project, and a schedule trigger of this App
    other_app = new_app(scene.world)
    foreign, secret = scene.webhook_trigger(app_id=other_app, input={"question": "q"})
    schedule = scene.trigger(TriggerType.schedule)
    body = body_of(EVENT)
    headers = signed(secret, body)
    # When signed events are posted to them, to a trigger that does not exist and to a malformed id
    unknown = (foreign.id, schedule.id, "trg-none", "TRG-Not-An-Id")
    replies = [post(scene, trigger_id, body, headers) for trigger_id in unknown]
    # Then each is not found, and nothing was recorded
    assert [(reply.status, reply.body["error"]["code"]) for reply in replies] == [(404, "not_found")] * 4
    assert recorded(foreign.id) == []


def test_an_event_over_the_size_limit_is_413(scene: TriggerWorld) -> None:
    # Given a body just over 100000 bytes
    trigger, secret = scene.webhook_trigger(input={"question": "q"})
    body = body_of({"blob": "x" * 100_000})
    # When it is posted signed
    reply = post(scene, trigger.id, body, signed(secret, body))
    # Then it is refused before anything reads it
    assert (reply.status, reply.body["error"]["code"]) == (413, "payload_too_large")


def test_a_secret_copied_from_another_triggers_record_verifies_nothing(scene: TriggerWorld) -> None:
    # Given two webhook triggers, and the second one's record made to carry the first one's encrypted secret
    # (someone who could write the control table, but not decrypt, swapping ciphertexts)
    first, first_secret = scene.webhook_trigger(input={"question": "q"})
    second, _second_secret = scene.webhook_trigger(input={"question": "q"})
    aws.dynamodb().update_item(
        TableName="ControlTable",
        Key={"pk": {"S": f"TRIGGER#{second.id}"}, "sk": {"S": "TRIGGER"}},
        UpdateExpression="SET encrypted_secret = :copied",
        ExpressionAttributeValues={":copied": {"S": first.encrypted_secret or ""}},
    )
    body = body_of(EVENT)
    # When an event signed with the first trigger's secret is posted to the second, and to the first
    swapped = post(scene, second.id, body, signed(first_secret, body, message_id="msg_swap"))
    own = post(scene, first.id, body, signed(first_secret, body, message_id="msg_own"))
    # Then the copy does not decrypt for the second trigger (its encryption context names the first), so the
    # event is refused and recorded nowhere, while the first trigger still accepts its own events
    assert (swapped.status, swapped.body["error"]["code"]) == (401, "invalid_signature")
    assert recorded(second.id) == []
    assert (own.status, own.body["data"]["status"]) == (202, "accepted")


def test_the_credentials_function_serves_no_trigger_secret(scene: TriggerWorld) -> None:
    # Given a webhook trigger, whose events the trigger function verifies without the credentials function
    webhook, secret = scene.webhook_trigger(input={"question": "q"})
    body = body_of(EVENT)
    verified = post(scene, webhook.id, body, signed(secret, body))
    # When the credentials function is asked for the trigger's secret, as the trigger function once did
    answer = load_function("credentials").lambda_handler(
        {"kind": "trigger_secret", "trigger_id": webhook.id}, LambdaContextStub()
    )
    # Then the event was verified and fired, the request is refused as no request it knows, and the trigger
    # function never invoked the credentials function
    assert (verified.status, verified.body["data"]["status"]) == (202, "accepted")
    assert answer["error"]["code"] == "invalid_request"
    assert secret not in json.dumps(answer)
    assert [name for name, _ in scene.runtime.invoker.calls] == ["TriggerFunction"]
