"""The AWS call check itself (``tests/support/aws_calls.py``): real boto3 calls against moto, made while a
function's handler runs, judged on the SAM-transformed template. A call outside the function's role is
recorded as denied (the suite then fails the test that made it); the same call by the function whose role
allows it is not; a call made outside any handler is not judged."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from switchboard import aws
from switchboard.settings import get_settings
from tests.support.aws_calls import CHECK, CallCheck, running, transformed_template
from tests.support.stack import moto_stack


@pytest.fixture
def check(monkeypatch: pytest.MonkeyPatch) -> Iterator[CallCheck]:
    """A check of its own (so its denials fail no test), observing a boto3 session on the moto stack."""
    with moto_stack(monkeypatch):
        yield CallCheck(transformed_template)


def _client(check: CallCheck, service: str) -> Any:
    return check.observe(boto3.session.Session()).client(service)


def _denied(check: CallCheck) -> list[tuple[str, str, str | None]]:
    return [(call.function_id, call.request.action, call.request.arn) for call in check.denied]


def test_reading_a_secret_is_denied_to_the_apps_function_and_allowed_to_the_credentials_function(
    check: CallCheck,
) -> None:
    # Given a connection secret under the stack's prefix (created by the test: no handler runs)
    name = f"{get_settings().secret_prefix}projects/prj-1/connections/con-1"
    secrets = _client(check, "secretsmanager")
    arn = secrets.create_secret(Name=name, SecretString=json.dumps({"token": "SECRET-value"}))["ARN"]
    assert check.denied == []

    # When the credentials function reads it, and then the Apps function does
    with running("CredentialsFunction"):
        assert secrets.batch_get_secret_value(SecretIdList=[name])["SecretValues"][0]["ARN"] == arn
    with running("AppsFunction"):
        secrets.get_secret_value(SecretId=arn)

    # Then only the Apps function's read is denied, named by its action and the secret's ARN
    assert _denied(check) == [("AppsFunction", "secretsmanager:GetSecretValue", arn)]
    assert "AppsFunctionRole" in str(check.denied[0])
    assert "test_aws_call_check.py" in check.denied[0].where


def test_the_apps_function_may_record_a_tokens_last_use_and_nothing_else_of_the_control_table(
    check: CallCheck,
) -> None:
    # Given a token item in the control table
    dynamodb = _client(check, "dynamodb")
    table = get_settings().control_table
    key = {"pk": {"S": "TOKEN#tok-1"}, "sk": {"S": "TOKEN"}}
    dynamodb.put_item(TableName=table, Item={**key, "scopes": {"S": "read"}})

    # When the Apps function records its last use (as authentication does), then revokes it
    with running("AppsFunction"):
        dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET last_used_at = :at",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":at": {"S": "2026-01-01T00:00:00Z"}},
        )
        dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET #revoked = :at",
            ExpressionAttributeNames={"#revoked": "revoked_at"},
            ExpressionAttributeValues={":at": {"S": "2026-01-01T00:00:00Z"}},
        )

    # Then the last use passes and the revocation is denied (moto itself allowed both)
    control_arn = check.template.get_att("ControlTable", "Arn")
    assert _denied(check) == [("AppsFunction", "dynamodb:UpdateItem", control_arn)]
    assert dict(check.denied[0].request.context)["dynamodb:Attributes"] == ("pk", "revoked_at", "sk")


def test_only_the_trigger_function_may_decrypt_a_webhook_trigger_secret(check: CallCheck) -> None:
    # Given a webhook trigger's secret encrypted under the trigger secrets key (by the management function)
    kms = _client(check, "kms")
    key = get_settings().trigger_secrets_key
    context = {"switchboard:app": "app-1", "switchboard:trigger": "trg-1"}
    with running("ManagementFunction"):
        blob = kms.encrypt(KeyId=key, Plaintext=b"SECRET-whsec", EncryptionContext=context)["CiphertextBlob"]

    # When the trigger function decrypts it, and then the management and executor functions try to
    with running("TriggerFunction"):
        kms.decrypt(CiphertextBlob=blob, KeyId=key, EncryptionContext=context)
    for function_id in ("ManagementFunction", "ExecutorFunction"):
        with running(function_id):
            kms.decrypt(CiphertextBlob=blob, KeyId=key, EncryptionContext=context)

    # Then the encryption and the trigger function's decryption pass; the other two are denied
    assert _denied(check) == [
        ("ManagementFunction", "kms:Decrypt", key),
        ("ExecutorFunction", "kms:Decrypt", key),
    ]


def test_only_the_executor_may_invoke_the_credentials_function(check: CallCheck) -> None:
    # When the executor and the dispatcher (same role) invoke it by the name their environment gives them
    for function_id in ("ExecutorFunction", "DispatcherFunction"):
        with running(function_id):
            check.on_call("lambda", "Invoke", {"FunctionName": "CredentialsFunction"})
    # And the Apps and trigger functions invoke it, unqualified and on a version or alias
    for function_id in ("AppsFunction", "TriggerFunction"):
        with running(function_id):
            check.on_call("lambda", "Invoke", {"FunctionName": "CredentialsFunction"})
            check.on_call("lambda", "Invoke", {"FunctionName": "CredentialsFunction:live"})

    # Then the executor's and the dispatcher's invocations pass; the others are all denied
    credentials = check.template.get_att("CredentialsFunction", "Arn")
    assert _denied(check) == [
        ("AppsFunction", "lambda:InvokeFunction", credentials),
        ("AppsFunction", "lambda:InvokeFunction", f"{credentials}:live"),
        ("TriggerFunction", "lambda:InvokeFunction", credentials),
        ("TriggerFunction", "lambda:InvokeFunction", f"{credentials}:live"),
    ]


def test_the_suites_check_sees_the_clients_of_switchboard_aws(check: CallCheck) -> None:
    # Given the suite's own check, which observes every session switchboard.aws makes
    before = len(CHECK.denied)

    # When the Apps function's handler reads a secret through switchboard.aws
    with running("AppsFunction"), pytest.raises(aws.secrets().exceptions.ResourceNotFoundException):
        aws.secrets().get_secret_value(SecretId=f"{get_settings().secret_prefix}projects/prj-1/x")

    # Then the suite's check recorded it as denied (taken back here, else this test would fail at teardown)
    denied = CHECK.denied[before:]
    del CHECK.denied[before:]
    assert [(call.function_id, call.request.action) for call in denied] == [
        ("AppsFunction", "secretsmanager:GetSecretValue")
    ]


def test_the_management_function_passes_only_the_scheduler_role_to_its_schedules(check: CallCheck) -> None:
    # Given a schedule in the trigger schedule group, as the management function creates one
    settings = get_settings()
    schedule = {"Name": "trg-1", "GroupName": settings.schedule_group}

    # When it passes the scheduler role, and then the executor's role, to the schedule
    with running("ManagementFunction"):
        check.on_call(
            "scheduler", "CreateSchedule", {**schedule, "Target": {"RoleArn": settings.scheduler_role_arn}}
        )
        executor_role = check.template.get_att("ExecutorRole", "Arn")
        check.on_call("scheduler", "CreateSchedule", {**schedule, "Target": {"RoleArn": executor_role}})

    # Then creating the schedule passes both times, and passing any role but the scheduler's is denied
    assert _denied(check) == [("ManagementFunction", "iam:PassRole", executor_role)]
