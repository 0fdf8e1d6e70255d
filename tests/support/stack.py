"""Test support: moto with the template's own tables and keys, the settings environment, handler loading."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from moto import mock_aws

from switchboard import aws
from switchboard.settings import get_settings
from switchboard_cli.local.aws_backend import create_tables
from switchboard_cli.local.kms import create_keys, local_key_arn
from switchboard_cli.local.moto_dynamodb import guard_writes
from switchboard_cli.local.scheduler import create_schedule_groups
from switchboard_cli.local.template import StackContext, Template
from tests.conftest import SECRET_MARKER
from tests.support.aws_calls import CHECK, directory_functions

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"

SETTINGS_ENV = {
    "STAGE": "test",
    "CONTROL_TABLE": "ControlTable",
    "RUNS_TABLE": "RunsTable",
    "LINKS_TABLE": "LinksTable",
    "IDEMPOTENCY_TABLE": "IdempotencyTable",
    "SECRET_PREFIX": "switchboard/switchboard-local/",
    "APPS_DOMAIN": "apps.example.test",
    "APPS_BASE_URL": "https://apps-api.example.test",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_NAMESPACE": "Switchboard",
    "POWERTOOLS_SERVICE_NAME": "test",
    # What the template gives the management function for schedule triggers, as the local stack resolves it.
    "SCHEDULE_GROUP": "TriggerScheduleGroup",
    "TRIGGER_FUNCTION": "TriggerFunction",
    "TRIGGER_FUNCTION_ARN": "arn:aws:lambda:us-east-1:123456789012:function:TriggerFunction",
    "SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/SchedulerRole",
    "TRIGGER_DLQ_ARN": "arn:aws:sqs:us-east-1:123456789012:TriggerDeadLetterQueue",
    "TRIGGER_SECRETS_KEY": local_key_arn(StackContext(), "TriggerSecretsKey"),
    "LINK_SECRETS_KEY": local_key_arn(StackContext(), "LinkSecretsKey"),
}


@contextmanager
def moto_stack(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in SETTINGS_ENV.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    with mock_aws():
        aws.reset()
        guard_writes()  # the durable service's threads and the test's read and write the tables together
        template = Template.from_file(TEMPLATE)
        tables = create_tables(template)
        create_schedule_groups(template)
        create_keys(template)
        yield
        leaked = [name for name in tables if SECRET_MARKER in json.dumps(_items(name), default=str)]
    aws.reset()
    get_settings.cache_clear()
    assert not leaked, f"a secret value (marked {SECRET_MARKER!r}) was stored in DynamoDB tables {leaked}"


def _items(table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in aws.dynamodb().get_paginator("scan").paginate(TableName=table):
        items.extend(page["Items"])
    return items


def load_function(name: str) -> ModuleType:
    """Import functions/<name>/app.py as the handler module (its directory on sys.path, like Lambda)."""
    directory = ROOT / "functions" / name
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    module_name = f"switchboard_function_{name}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, directory / "app.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    # Its AWS calls are judged against its role in the template (tests/support/aws_calls.py).
    function_id = directory_functions().get(name)
    if function_id is not None:
        handlers = vars(module)
        handlers["lambda_handler"] = CHECK.wrap(function_id, handlers["lambda_handler"])
    return module


class LambdaContextStub:
    function_name = "test-function"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    function_version = "$LATEST"
    log_group_name = "/aws/lambda/test-function"
    log_stream_name = "test"

    def __init__(self, timeout_s: float = 29.0) -> None:
        self._ends_at = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        """Counts down from the invocation's start, as Lambda's does."""
        return max(int((self._ends_at - time.monotonic()) * 1000), 0)


def http_event(
    method: str,
    path: str,
    *,
    token: str | None = None,
    body: Any = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    raw_body: str | None = None,
    route_key: str = "ANY /v1/{proxy+}",
    path_parameters: dict[str, str] | None = None,
    host: str = "api.example.test",
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) event, shaped like events/*.json."""
    event: dict[str, Any] = json.loads((EVENTS / "management-get-me.json").read_text())
    all_headers = {"host": host, "content-type": "application/json", **(headers or {})}
    if token:
        all_headers["authorization"] = f"Bearer {token}"
    event["routeKey"] = route_key
    event["rawPath"] = path
    event["rawQueryString"] = "&".join(f"{k}={v}" for k, v in (query or {}).items())
    event["headers"] = all_headers
    event["queryStringParameters"] = query or None
    event["pathParameters"] = path_parameters or {"proxy": path.removeprefix("/v1/")}
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["routeKey"] = route_key
    event["requestContext"]["domainName"] = host
    event["body"] = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    event["isBase64Encoded"] = False
    return event
