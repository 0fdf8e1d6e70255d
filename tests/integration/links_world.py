"""An App whose deployed version declares a requirement, on moto, for the link tests: the App runtime
(executor and credentials function behind the invoker), an access key and a builder, the delivery queue,
and a loopback target that plays both the end users' upstream (``/echo``) and the App's event receiver
(``/events``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from moto.sqs.models import sqs_backends

from switchboard import aws
from switchboard.auth.authenticate import authenticate
from switchboard.auth.principal import Principal
from switchboard.domain.models import App, TokenKind
from switchboard.domain.runs import Link
from switchboard.runtime.links import connect_tokens
from switchboard.runtime.links import linking as links
from switchboard.runtime.links.connect_tokens import ConnectGrant, IssuedConnectToken
from switchboard.settings import get_settings
from switchboard.store import apps
from tests.integration.apps_runtime import Runtime, app_runtime, deploy
from tests.integration.conftest import World
from tests.support.fakes import HttpTarget, Recorded
from tests.support.stack import LambdaContextStub, load_function
from tests.support.workflows import echo_workflow

DELIVERY_QUEUE = "DeliveryQueue"
USER_KEYS = {"user-42": "user-42-SECRET-key-aaaa", "user-43": "user-43-SECRET-key-bbbb"}


def requirement_definition(max_age_seconds: int | None = None) -> dict[str, Any]:
    """input (question) → shout → ``call`` (POST /echo through the user's ``crm`` link) → output."""
    document = echo_workflow(requirement=True)
    if max_age_seconds is not None:
        document["requirements"][0]["max_age_seconds"] = max_age_seconds
    return document


@dataclass
class LinksWorld:
    runtime: Runtime
    target: HttpTarget
    key_principal: Principal
    builder: Principal
    queue_url: str

    @property
    def world(self) -> World:
        return self.runtime.world

    @property
    def app_id(self) -> str:
        return self.runtime.app_id

    def app(self) -> App:
        app = apps.get_app(self.app_id)
        assert app is not None
        return app

    def connect_token(self, user_id: str, **options: Any) -> IssuedConnectToken:
        return connect_tokens.issue_connect_token(self.app(), self.key_principal, user_id, **options)

    def grant(self, user_id: str) -> ConnectGrant:
        return connect_tokens.grant_for(self.connect_token(user_id).token)

    def link(self, user_id: str, *, key: str | None = None, expires_at: datetime | None = None) -> Link:
        """Link the user's CRM key (pointing at the loopback target) through the connect flow."""
        config = {"url": self.target.url, "api_key": key or USER_KEYS[user_id]}
        return links.link_credentials(
            self.app(), self.grant(user_id), "crm", "http_api_key", config, expires_at
        )

    def use_event_receiver(self) -> str:
        """Point the App's event URL at the target's ``/events``; the App's new signing secret."""
        builder = self.world.builder
        builder.data(
            "PATCH", f"/v1/apps/{self.app_id}", {"event_url": f"{self.target.url}/events"}, expect=200
        )
        return str(builder.data("POST", f"/v1/apps/{self.app_id}/signing-secret")["signing_secret"])

    def take_deliveries(self) -> list[tuple[dict[str, Any], float]]:
        """Every message on the delivery queue (delayed ones too) as ``(body, delay seconds)``, removed."""
        queue = sqs_backends["123456789012"]["us-east-1"].get_queue(DELIVERY_QUEUE)
        now_ms = datetime.now().timestamp() * 1000
        taken = [(json.loads(m.body), max(0.0, (m.delayed_until - now_ms) / 1000)) for m in queue._messages]
        queue._messages.clear()
        return taken

    def deliver(self, body: dict[str, Any]) -> None:
        """Hand one delivery message to the dispatcher, as its SQS event source would."""
        record = {
            "messageId": "m-1",
            "receiptHandle": "handle-m-1",
            "body": json.dumps(body),
            "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795348800000"},
            "messageAttributes": {},
            "md5OfBody": "0" * 32,
            "eventSource": "aws:sqs",
            "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{DELIVERY_QUEUE}",
            "awsRegion": "us-east-1",
        }
        result = load_function("dispatcher").lambda_handler({"Records": [record]}, LambdaContextStub())
        assert result == {"batchItemFailures": []}

    def events_received(self) -> list[Recorded]:
        return self.target.requests_to("/events")


@contextmanager
def links_world(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[LinksWorld]:
    monkeypatch.setenv("ALLOW_LOOPBACK_CALLBACKS", "true")
    queue_url = aws.client("sqs").create_queue(QueueName=DELIVERY_QUEUE)["QueueUrl"]
    monkeypatch.setenv("DELIVERY_QUEUE_URL", queue_url)
    get_settings.cache_clear()
    with app_runtime(world, monkeypatch) as runtime, HttpTarget() as target:
        deploy(world, requirement_definition())
        key_principal = authenticate(f"Bearer {runtime.key}", TokenKind.access_key)
        builder = authenticate(f"Bearer {world.admin.token}", TokenKind.pat)
        yield LinksWorld(runtime, target, key_principal, builder, queue_url)
