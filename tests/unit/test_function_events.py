"""events/functions/*.json: the non-HTTP invocations (the executor's durable invocation, the dispatcher's
queue batch and sweep, credentials, trigger) in the exact shapes their functions accept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_durable_execution_sdk_python.execution import DurableExecutionInvocationInput
from aws_lambda_powertools.utilities.parser.models import SqsModel
from pydantic import ValidationError

from switchboard.runtime.credentials.contract import (
    REQUEST_ADAPTER,
    CredentialsRequest,
    OAuth2ExchangeRequest,
    OAuth2RefreshRequest,
    OAuth2RevokeRequest,
    OAuth2UnauthorizedRequest,
)
from switchboard.runtime.runs.dispatch import QueueMessage, SweepRequest
from switchboard.runtime.runs.program_contract import ExecuteRequest
from switchboard.runtime.triggers.contract import ScheduledFiring, WebhookFiring

EVENTS = Path(__file__).resolve().parents[2] / "events" / "functions"


def _load(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return loaded


def test_executor_event_is_a_durable_invocation_of_an_execution_named_after_its_run() -> None:
    invocation = DurableExecutionInvocationInput.from_json_dict(_load("executor-execution.json"))
    (execution,) = invocation.initial_execution_state.operations
    assert execution.execution_details is not None
    request = ExecuteRequest.model_validate(json.loads(execution.execution_details.input_payload or ""))
    assert execution.name == request.run_id


def test_dispatcher_run_queue_event_is_an_sqs_batch_of_runs_to_start() -> None:
    batch = SqsModel.model_validate(_load("dispatcher-run-queue.json"))
    assert len(batch.Records) == 1
    body = batch.Records[0].body
    assert isinstance(body, str)
    message = QueueMessage.parse(body)
    assert message.run is not None
    assert message.run.run_id.startswith("run-")


def test_dispatcher_oauth2_exchange_event_is_an_sqs_batch_of_a_state_to_exchange() -> None:
    # Given the event / When its message is parsed / Then it names a state, and nothing secret travels
    batch = SqsModel.model_validate(_load("dispatcher-oauth2-exchange.json"))
    body = batch.Records[0].body
    assert isinstance(body, str)
    message = QueueMessage.parse(body)
    assert message.exchange is not None
    assert message.run is None
    assert message.exchange.oauth2_exchange.startswith("ost-")
    assert set(json.loads(body)) == {"oauth2_exchange"}


def test_credentials_oauth2_exchange_event_is_a_strict_exchange_request() -> None:
    request = REQUEST_ADAPTER.validate_python(_load("credentials-oauth2-exchange.json"))
    assert isinstance(request, OAuth2ExchangeRequest)
    assert request.state_id.startswith("ost-")


def test_dispatcher_oauth2_revoke_event_is_an_sqs_batch_of_a_link_to_revoke_at_the_provider() -> None:
    # Given the event / When its message is parsed / Then it names a link, and nothing secret travels
    batch = SqsModel.model_validate(_load("dispatcher-oauth2-revoke.json"))
    body = batch.Records[0].body
    assert isinstance(body, str)
    message = QueueMessage.parse(body)
    assert message.revoke is not None
    assert (message.run, message.exchange) == (None, None)
    assert message.revoke.oauth2_revoke.startswith("lnk-")
    assert set(json.loads(body)) == {"oauth2_revoke"}


def test_credentials_oauth2_revoke_event_is_a_strict_revoke_request() -> None:
    request = REQUEST_ADAPTER.validate_python(_load("credentials-oauth2-revoke.json"))
    assert isinstance(request, OAuth2RevokeRequest)
    assert request.link_id.startswith("lnk-")


def test_credentials_oauth2_refresh_event_is_a_strict_refresh_request() -> None:
    request = REQUEST_ADAPTER.validate_python(_load("credentials-oauth2-refresh.json"))
    assert isinstance(request, OAuth2RefreshRequest)
    assert (request.requirement_id, request.token_version) == ("crm", 3)


def test_credentials_oauth2_refresh_of_a_connection_names_the_connection_and_no_user() -> None:
    # Given the executor's refresh request for a project connection (a 401 to its token of version 2)
    event = _load("credentials-oauth2-refresh-connection.json")
    # When it is validated, and when it also names a requirement, or names neither
    request = REQUEST_ADAPTER.validate_python(event)
    both = {**event, "requirement_id": "crm", "user_id": "user-42"}
    neither = {k: v for k, v in event.items() if k != "connection_id"}
    # Then it is a refresh of that connection; naming both or neither is refused
    assert isinstance(request, OAuth2RefreshRequest)
    assert (request.connection_id, request.requirement_id, request.user_id) == (
        "con-q3x7kd2mzpw5rt4vn6bs",
        None,
        None,
    )
    for invalid in (both, neither):
        with pytest.raises(ValidationError, match="exactly one of requirement_id and connection_id"):
            REQUEST_ADAPTER.validate_python(invalid)


def test_credentials_oauth2_unauthorized_event_is_a_strict_unauthorized_request() -> None:
    request = REQUEST_ADAPTER.validate_python(_load("credentials-oauth2-unauthorized.json"))
    assert isinstance(request, OAuth2UnauthorizedRequest)
    assert (request.connection_id, request.token_version, request.status_code) == (
        "con-q3x7kd2mzpw5rt4vn6bs",
        3,
        401,
    )


def test_dispatcher_sweep_event_is_what_the_sweep_schedule_sends() -> None:
    assert SweepRequest.model_validate(_load("dispatcher-sweep.json")).sweep is True


def test_credentials_event_is_a_strict_credentials_request() -> None:
    request = CredentialsRequest.model_validate(_load("credentials-request.json"))
    assert request.requirement_ids == ["crm"]


def test_trigger_schedule_event_is_what_a_schedule_sends() -> None:
    firing = ScheduledFiring.model_validate(_load("trigger-schedule.json"))
    assert firing.trigger_id.startswith("trg-")


def test_trigger_webhook_event_is_what_the_apps_function_sends() -> None:
    firing = WebhookFiring.model_validate(_load("trigger-webhook.json"))
    assert firing.webhook.signature.startswith("v1,")


def test_every_function_event_is_covered_here() -> None:
    assert sorted(p.name for p in EVENTS.glob("*.json")) == [
        "credentials-oauth2-exchange.json",
        "credentials-oauth2-refresh-connection.json",
        "credentials-oauth2-refresh.json",
        "credentials-oauth2-revoke.json",
        "credentials-oauth2-unauthorized.json",
        "credentials-request.json",
        "dispatcher-oauth2-exchange.json",
        "dispatcher-oauth2-revoke.json",
        "dispatcher-run-queue.json",
        "dispatcher-sweep.json",
        "executor-execution.json",
        "trigger-schedule.json",
        "trigger-webhook.json",
    ]
