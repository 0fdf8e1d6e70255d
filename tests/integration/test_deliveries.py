"""Callback deliveries on moto: a run's callbacks are signed with the App's secret, retried through the
delivery queue with growing delays, recorded attempt by attempt, listed by the Apps API without the token,
and never change the run."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from moto.sqs.models import sqs_backends

from switchboard.domain.deliveries import DeliveryStatus
from switchboard.domain.ids import utcnow
from switchboard.domain.runs import Run, RunStatus
from switchboard.invoker import get_invoker, set_invoker
from switchboard.runtime.building.versions import forget
from switchboard.runtime.credentials import resolving as credentials
from switchboard.runtime.runs.canceling import cancel
from switchboard.runtime.webhooks import deliveries
from switchboard.runtime.webhooks.callbacks import validate_callbacks
from switchboard.runtime.webhooks.signing import WebhookVerificationError, verify_webhook
from switchboard.settings import get_settings
from switchboard.store import runs
from switchboard.store.deliveries import list_run_deliveries
from switchboard_cli.local.aws_backend import create_queues
from switchboard_cli.local.queues import QueueAwareTemplate
from tests.integration.conftest import Reply, World, definition
from tests.support.fakes import HttpTarget, Recorded
from tests.support.fakes import Reply as Answer
from tests.support.invokers import HandlerInvoker, wait_for_run
from tests.support.run_states import created_run
from tests.support.stack import TEMPLATE, LambdaContextStub, http_event, load_function

TOKEN = "receiver-SECRET-token-42"


@dataclass
class Queued:
    body: dict[str, Any]
    delay_seconds: float


class Clock:
    """The deliveries' notion of now, moved forward by hand instead of waiting for queue delays."""

    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Scene:
    world: World
    app_id: str
    signing_secret: str
    access_key: str
    target: HttpTarget
    clock: Clock
    invoker: HandlerInvoker

    def run_with_callbacks(self, *callbacks: dict[str, Any], status_after: str = "completed") -> Run:
        """A background run with these callbacks (validated like the runs API does), executed to its end."""
        stored = [callback.stored() for callback in validate_callbacks(list(callbacks))]
        run = created_run(self.app_id, {"question": "hello"}, callbacks=stored, mode="background")
        self.invoker.start_execution("ExecutorFunction:live", run.id, {"run_id": run.id})
        assert self.invoker.wait_for_execution(run.id) == "SUCCEEDED"
        finished: Run = wait_for_run(run.id)
        assert finished.status.value == status_after
        # Once it ended, the run record keeps its callbacks without their tokens
        assert all("token" not in (c.get("auth") or {}) for c in finished.callbacks or [])
        return finished

    def take_messages(self) -> list[Queued]:
        """Every message on the delivery queue (delayed ones included), removed from it."""
        queue = sqs_backends["123456789012"]["us-east-1"].get_queue("DeliveryQueue")
        now_ms = datetime.now().timestamp() * 1000
        taken = [
            Queued(json.loads(m.body), max(0.0, (m.delayed_until - now_ms) / 1000)) for m in queue._messages
        ]
        queue._messages.clear()
        return taken

    def feed(self, message: Queued) -> None:
        """Hand one message to the dispatcher as its SQS event source would."""
        event = {"Records": [_sqs_record(json.dumps(message.body))]}
        result = load_function("dispatcher").lambda_handler(event, LambdaContextStub())
        assert result == {"batchItemFailures": []}

    def deliver_all(self) -> list[Queued]:
        """Feed messages until the queue is empty, moving the clock by each message's delay."""
        fed: list[Queued] = []
        while messages := self.take_messages():
            assert len(messages) == 1
            self.clock.advance(messages[0].delay_seconds)
            self.feed(messages[0])
            fed.extend(messages)
        return fed

    def list_deliveries(self, run_id: str, app_id: str | None = None, with_key: bool = True) -> Reply:
        app_id = app_id or self.app_id
        event = http_event(
            "GET",
            f"/apps/{app_id}/v1/runs/{run_id}/deliveries",
            token=self.access_key if with_key else None,
            route_key="ANY /apps/{app_id}/{proxy+}",
            path_parameters={"app_id": app_id, "proxy": f"v1/runs/{run_id}/deliveries"},
        )
        result = load_function("apps").lambda_handler(event, LambdaContextStub())
        return Reply(
            result["statusCode"], result.get("headers") or {}, json.loads(result["body"]), result["body"]
        )


def _sqs_record(body: str) -> dict[str, Any]:
    return {
        "messageId": "m-1",
        "receiptHandle": "handle-m-1",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795348800000"},
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:DeliveryQueue",
        "awsRegion": "us-east-1",
    }


def _signed_app(world: World, name: str = "Signed") -> tuple[str, str]:
    app = world.builder.app(world.project_id, name, world.workflow_id)
    world.builder.deploy(app.id, 2)
    return app.id, app.signing_secret


@pytest.fixture
def scene(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Scene]:
    queues = create_queues(QueueAwareTemplate.from_file(TEMPLATE))
    monkeypatch.setenv("DELIVERY_QUEUE_URL", queues["DeliveryQueue"])
    monkeypatch.setenv("CREDENTIALS_FUNCTION", "CredentialsFunction")
    monkeypatch.setenv("ALLOW_LOOPBACK_CALLBACKS", "true")
    get_settings.cache_clear()
    credentials.secret_cache.clear()
    forget()
    clock = Clock()
    monkeypatch.setattr(deliveries, "utcnow", clock)
    previous = get_invoker()
    invoker = HandlerInvoker()
    set_invoker(invoker)
    # A workflow version without outside calls, so every run completes
    world.builder.version(world.workflow_id, definition())
    app_id, secret = _signed_app(world)
    key = world.builder.access_key()
    with HttpTarget() as target:
        yield Scene(world, app_id, secret, key.token, target, clock, invoker)
    invoker.close()
    set_invoker(previous)
    credentials.secret_cache.clear()


def _verified(secret: str, request: Recorded) -> dict[str, Any]:
    verify_webhook(secret, request.headers, request.body)
    body: dict[str, Any] = request.json()
    return body


def test_a_500_is_retried_after_a_delay_and_the_second_attempt_delivers_a_signed_callback(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a receiver that answers 500 once, then 200
    scene.target.respond("/hook", Answer(status=500), Answer(status=200))
    # When a run with a callback (bearer token, metadata) ends
    run = scene.run_with_callbacks(
        {
            "url": f"{scene.target.url}/hook",
            "auth": {"type": "bearer", "token": TOKEN},
            "metadata": {"order": 7},
        }
    )
    # Then one delivery message is queued for the first attempt, without delay
    (first,) = scene.take_messages()
    (delivery,) = list_run_deliveries(run.id)
    assert first.body == {"delivery_id": delivery.id, "run_id": run.id, "attempt": 1}
    assert first.delay_seconds == 0
    # When the executor gets it, the receiver answers 500: the attempt is recorded, a retry is queued in 5 s
    scene.feed(first)
    (pending,) = list_run_deliveries(run.id)
    assert pending.status is DeliveryStatus.pending
    assert [(a.number, a.status_code, a.error) for a in pending.attempts] == [(1, 500, None)]
    assert pending.next_attempt_at == scene.clock.now + timedelta(seconds=5)
    (second,) = scene.take_messages()
    assert second.body == {"delivery_id": delivery.id, "run_id": run.id, "attempt": 2}
    assert 3 < second.delay_seconds <= 5
    # When that one is fed (without waiting for its delay), the receiver answers 200: delivered
    scene.clock.advance(5)
    scene.feed(second)
    (delivered,) = list_run_deliveries(run.id)
    assert delivered.status is DeliveryStatus.delivered
    assert [(a.number, a.status_code) for a in delivered.attempts] == [(1, 500), (2, 200)]
    assert delivered.next_attempt_at is None
    assert delivered.auth_token is None
    assert scene.take_messages() == []
    # And the receiver got the same signed message twice: verifiable with the secret shown at App creation
    requests = scene.target.requests_to("/hook")
    assert len(requests) == 2
    for request in requests:
        assert _verified(scene.signing_secret, request) == {
            "id": run.id,
            "status": "completed",
            "output": {"answer": "hello!"},
            "error": None,
            "metadata": {"order": 7},
        }
        assert request.method == "POST"
        assert request.headers["webhook-id"] == delivery.id
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["user-agent"] == "Switchboard-Webhooks/1"
    # And the run is untouched by its deliveries, and keeps no token
    after = runs.get_run(run.id)
    assert after is not None
    assert after.status is RunStatus.completed
    assert after.callbacks == [
        {"url": f"{scene.target.url}/hook", "auth": {"type": "bearer"}, "metadata": {"order": 7}}
    ]
    # And no log line holds the token or the signing secret
    logs = capsys.readouterr()
    assert TOKEN not in logs.out + logs.err
    assert scene.signing_secret not in logs.out + logs.err


def test_the_deliveries_route_lists_every_attempt_without_the_token(scene: Scene) -> None:
    # Given a delivered callback that needed two attempts
    scene.target.respond("/hook", Answer(status=502), Answer(status=204))
    run = scene.run_with_callbacks(
        {"url": f"{scene.target.url}/hook", "auth": {"type": "bearer", "token": TOKEN}}
    )
    scene.deliver_all()
    # When the App's caller lists the run's deliveries
    reply = scene.list_deliveries(run.id)
    # Then it sees the delivery and both attempts, and nothing of the token
    assert reply.status == 200, reply.body
    assert TOKEN not in reply.raw
    assert reply.body["next_token"] is None
    (listed,) = reply.body["data"]
    assert listed["url"] == f"{scene.target.url}/hook"
    assert listed["status"] == "delivered"
    assert listed["run_id"] == run.id
    assert listed["next_attempt_at"] is None
    assert [(a["number"], a["status_code"], a["error"]) for a in listed["attempts"]] == [
        (1, 502, None),
        (2, 204, None),
    ]
    assert all(a["duration_ms"] >= 0 and a["at"] for a in listed["attempts"])
    assert set(listed) == {
        "id",
        "run_id",
        "url",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
        "updated_at",
    }


def test_the_deliveries_route_hides_other_apps_runs_and_needs_a_key(scene: Scene) -> None:
    # Given a finished run of the App with a callback, and a second App of the project
    scene.target.respond("/hook", Answer(status=200))
    run = scene.run_with_callbacks({"url": f"{scene.target.url}/hook"})
    other_app, _ = _signed_app(scene.world, "Other")
    # When the run's deliveries are listed through the other App, for an unknown run, a path-like id, and
    # without a key / Then the first three are 404 and the last 401 missing_token
    assert scene.list_deliveries(run.id, app_id=other_app).status == 404
    assert scene.list_deliveries("run-doesnotexist").status == 404
    assert scene.list_deliveries("../../etc").status == 404
    unauthenticated = scene.list_deliveries(run.id, with_key=False)
    assert unauthenticated.status == 401
    assert unauthenticated.body["error"]["code"] == "missing_token"
    # And the queued delivery is made, leaving nothing behind
    scene.deliver_all()


def test_six_failures_make_the_delivery_failed_with_growing_delays(scene: Scene) -> None:
    # Given a receiver that always answers 503
    scene.target.respond("/hook", Answer(status=503))
    run = scene.run_with_callbacks(
        {"url": f"{scene.target.url}/hook", "auth": {"type": "bearer", "token": TOKEN}}
    )
    # When every queued message is handled (the clock moving by each delay)
    fed = scene.deliver_all()
    # Then six attempts were made, with 5 s, 30 s, 2 min, 10 min and 1 h between them (the hour chained
    # through SQS's 15-minute maximum), and the delivery is failed
    assert [round(m.delay_seconds / 5) * 5 for m in fed] == [0, 5, 30, 120, 600, 900, 900, 900, 900]
    assert [m.body["attempt"] for m in fed] == [1, 2, 3, 4, 5, 6, 6, 6, 6]
    assert len(scene.target.requests_to("/hook")) == 6
    (failed,) = list_run_deliveries(run.id)
    assert failed.status is DeliveryStatus.failed
    assert [(a.number, a.status_code) for a in failed.attempts] == [(n, 503) for n in range(1, 7)]
    assert failed.auth_token is None
    assert failed.next_attempt_at is None
    # And the run never changed
    after = runs.get_run(run.id)
    assert after is not None
    assert after.status is RunStatus.completed
    assert after.ended_at == run.ended_at


def test_each_callback_is_its_own_delivery_and_a_duplicate_message_does_nothing(scene: Scene) -> None:
    # Given a finished run with two callbacks, whose receivers accept
    scene.target.respond("/a", Answer(status=200))
    scene.target.respond("/b", Answer(status=200))
    run = scene.run_with_callbacks({"url": f"{scene.target.url}/a"}, {"url": f"{scene.target.url}/b"})
    # When the delivery queue is read / Then it holds one message per callback
    messages = scene.take_messages()
    assert len(messages) == 2
    # When each message is handed to the dispatcher, and the first one once more
    for message in messages:
        scene.feed(message)
    scene.feed(messages[0])
    # Then each receiver was called once, and each delivery is delivered under its own webhook-id, without
    # an Authorization header
    assert len(scene.target.requests_to("/a")) == len(scene.target.requests_to("/b")) == 1
    assert {d.status for d in list_run_deliveries(run.id)} == {DeliveryStatus.delivered}
    ids = {r.headers["webhook-id"] for r in scene.target.requests}
    assert ids == {d.id for d in list_run_deliveries(run.id)}
    assert "authorization" not in scene.target.requests[0].headers


def test_rotating_the_signing_secret_changes_the_key_of_the_next_delivery(scene: Scene) -> None:
    # Given a first callback delivered with the App's original secret
    scene.target.respond("/hook", Answer(status=200))
    scene.run_with_callbacks({"url": f"{scene.target.url}/hook"})
    scene.deliver_all()
    # When the secret is rotated through the management API
    rotated = scene.world.call(
        "POST", f"/v1/apps/{scene.app_id}/signing-secret", token=scene.world.admin.token
    )
    assert rotated.status == 201, rotated.body
    new_secret = rotated.body["data"]["signing_secret"]
    assert new_secret != scene.signing_secret
    # And another run's callback is delivered
    scene.run_with_callbacks({"url": f"{scene.target.url}/hook"})
    scene.deliver_all()
    # Then the first verifies only with the old secret, the second only with the new one
    first, second = scene.target.requests_to("/hook")
    _verified(scene.signing_secret, first)
    _verified(new_secret, second)
    with pytest.raises(WebhookVerificationError):
        _verified(scene.signing_secret, second)
    with pytest.raises(WebhookVerificationError):
        _verified(new_secret, first)


def test_a_url_that_now_resolves_inside_is_blocked_and_never_retried(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a callback whose host resolved to a public address when the run was created
    answers = {"hooks.example.com": "93.184.215.14"}

    def resolve(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    run = scene.run_with_callbacks(
        {"url": "https://hooks.example.com/in", "auth": {"type": "bearer", "token": TOKEN}}
    )
    # When it resolves to the instance metadata address by the time of delivery
    answers["hooks.example.com"] = "169.254.169.254"
    fed = scene.deliver_all()
    # Then the single attempt is recorded blocked, nothing is sent, nothing is retried
    assert len(fed) == 1
    (blocked,) = list_run_deliveries(run.id)
    assert blocked.status is DeliveryStatus.blocked
    assert [(a.number, a.status_code, a.error) for a in blocked.attempts] == [
        (1, None, "address_not_allowed")
    ]
    assert blocked.auth_token is None
    assert scene.target.requests == []


def test_a_run_that_fails_or_is_canceled_still_calls_back(scene: Scene) -> None:
    # Given a run canceled before it started
    scene.target.respond("/hook", Answer(status=200))
    stored = [c.stored() for c in validate_callbacks([{"url": f"{scene.target.url}/hook"}])]
    run = created_run(scene.app_id, {"question": "x"}, callbacks=stored, mode="background")
    assert cancel(scene.app_id, run.id).status is RunStatus.canceled
    # When its delivery is made / Then the receiver hears it was canceled
    scene.deliver_all()
    (request,) = scene.target.requests_to("/hook")
    assert _verified(scene.signing_secret, request)["status"] == "canceled"


def test_a_run_without_callbacks_queues_nothing(scene: Scene) -> None:
    # Given a run without callbacks, executed to its end
    run = scene.run_with_callbacks()
    # When the delivery queue is read / Then nothing is queued and no delivery is recorded
    assert scene.take_messages() == []
    assert list_run_deliveries(run.id) == []
