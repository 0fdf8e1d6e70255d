"""events/functions/*.json: the non-HTTP invocations (executor direct and queue, credentials, trigger) in the
exact shapes their functions accept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.parser.models import SqsModel

from switchboard.runtime.credentials_contract import REQUEST_ADAPTER, CredentialsRequest, TriggerSecretRequest
from switchboard.runtime.runs.execution import ExecuteRequest
from switchboard.runtime.trigger_contract import ScheduledFiring, WebhookFiring

EVENTS = Path(__file__).resolve().parents[2] / "events" / "functions"


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


def test_executor_direct_event_is_an_execute_request() -> None:
    assert ExecuteRequest.model_validate(_load("executor-direct.json")).run_id.startswith("run-")


def test_executor_queue_event_is_an_sqs_batch_of_execute_requests() -> None:
    batch = SqsModel.model_validate(_load("executor-queue.json"))
    assert len(batch.Records) == 1
    body = batch.Records[0].body
    assert isinstance(body, str)
    assert ExecuteRequest.model_validate(json.loads(body)).run_id.startswith("run-")


def test_credentials_event_is_a_strict_credentials_request() -> None:
    request = CredentialsRequest.model_validate(_load("credentials-request.json"))
    assert request.requirement_ids == ["crm"]


def test_credentials_trigger_secret_event_is_a_trigger_secret_request() -> None:
    request = REQUEST_ADAPTER.validate_python(_load("credentials-trigger-secret.json"))
    assert isinstance(request, TriggerSecretRequest)
    assert request.trigger_id.startswith("trg-")


def test_trigger_schedule_event_is_what_a_schedule_sends() -> None:
    firing = ScheduledFiring.model_validate(_load("trigger-schedule.json"))
    assert firing.trigger_id.startswith("trg-")


def test_trigger_webhook_event_is_what_the_apps_function_sends() -> None:
    firing = WebhookFiring.model_validate(_load("trigger-webhook.json"))
    assert firing.webhook.signature.startswith("v1,")


def test_every_function_event_is_covered_here() -> None:
    assert sorted(p.name for p in EVENTS.glob("*.json")) == [
        "credentials-request.json",
        "credentials-trigger-secret.json",
        "executor-direct.json",
        "executor-queue.json",
        "trigger-schedule.json",
        "trigger-webhook.json",
    ]
