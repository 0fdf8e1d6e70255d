"""Triggers of a deployed App on moto, for the trigger tests: the App runtime (executor, credentials and
trigger functions behind the invoker, the run queue), trigger records written through their store, and a
webhook trigger's signing secret encrypted under the template's trigger secrets key, as the management
function stores it.

A Standard Webhooks secret is base64, so it cannot carry the suite's ``SECRET-`` marker: ``assert_unleaked``
looks for each secret these tests make in every DynamoDB item and in the captured output instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from switchboard import aws
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.triggers import Trigger, TriggerType, WebhookConfig
from switchboard.runtime.triggers import secrets as trigger_secrets
from switchboard.runtime.webhooks.signing import new_signing_secret
from switchboard.schedules import ScheduleConfig
from switchboard.settings import get_settings
from switchboard.store import triggers
from tests.integration.apps_runtime import Runtime, app_runtime
from tests.integration.conftest import World
from tests.support.stack import LambdaContextStub, load_function

TRIGGER_FUNCTION = "TriggerFunction"
TABLES = ("ControlTable", "RunsTable", "LinksTable", "IdempotencyTable")


@dataclass
class TriggerWorld:
    runtime: Runtime
    secrets: list[str] = field(default_factory=list)

    @property
    def world(self) -> World:
        return self.runtime.world

    @property
    def app_id(self) -> str:
        return self.runtime.app_id

    def trigger(
        self,
        type: TriggerType = TriggerType.schedule,
        *,
        app_id: str | None = None,
        name: str | None = None,
        trigger_id: str | None = None,
        **fields: Any,
    ) -> Trigger:
        """A trigger record of the App (a schedule every minute unless ``type`` says webhook)."""
        trigger_id = trigger_id or new_id("trigger")
        target_app = app_id or self.app_id
        now = utcnow()
        webhook = type is TriggerType.webhook
        trigger = Trigger(
            id=trigger_id,
            app_id=target_app,
            org_id=self.world.org_id,
            project_id=self.world.project_id,
            name=name or f"t-{trigger_id[4:12]}",
            type=type,
            config=WebhookConfig() if webhook else ScheduleConfig(cron="* * * * *"),
            schedule_name=None if webhook else trigger_id,
            created_at=now,
            created_by=self.world.admin.user_id,
            updated_at=now,
            updated_by=self.world.admin.user_id,
            **fields,
        )
        triggers.create_trigger(trigger)
        return trigger

    def webhook_trigger(self, *, app_id: str | None = None, **fields: Any) -> tuple[Trigger, str]:
        """A webhook trigger and its signing secret (encrypted into its record as the management API does)."""
        trigger_id = new_id("trigger")
        secret = new_signing_secret()
        self.secrets.append(secret)
        encrypted = trigger_secrets.encrypt(app_id or self.app_id, trigger_id, secret)
        trigger = self.trigger(
            TriggerType.webhook, app_id=app_id, trigger_id=trigger_id, encrypted_secret=encrypted, **fields
        )
        return trigger, secret

    def fire(self, payload: Any) -> dict[str, Any]:
        """The trigger function's handler, invoked as Scheduler invokes it (JSON in, JSON out)."""
        handler = load_function("trigger").lambda_handler
        result: dict[str, Any] = json.loads(
            json.dumps(handler(json.loads(json.dumps(payload)), LambdaContextStub()))
        )
        return result

    def assert_unleaked(self, captured: str) -> None:
        items = json.dumps([_scan(table) for table in TABLES], default=str)
        for secret in self.secrets:
            assert secret not in items, "a webhook signing secret was stored in DynamoDB"
            assert secret not in captured, "a webhook signing secret reached the output"


def _scan(table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in aws.dynamodb().get_paginator("scan").paginate(TableName=table):
        items.extend(page["Items"])
    return items


@contextmanager
def trigger_world(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[TriggerWorld]:
    with app_runtime(world, monkeypatch) as runtime:
        yield with_trigger_function(runtime, monkeypatch)


def with_trigger_function(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> TriggerWorld:
    """Add the trigger function to the runtime's invoker (``app_runtime`` puts the previous invoker back)."""
    monkeypatch.setenv("TRIGGER_FUNCTION", TRIGGER_FUNCTION)
    get_settings.cache_clear()
    runtime.invoker.route(TRIGGER_FUNCTION, "trigger")
    return TriggerWorld(runtime)
