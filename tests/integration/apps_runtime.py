"""The App runtime on moto, for the Apps API tests: a deployed App, an access key, the executor and the
credentials function behind the invoker, the run queue and the files bucket.

Apps API events are built like API Gateway's for both addressing forms; runs execute as durable executions of
the executor handler (the local durable execution service behind the test invoker); background runs are
started by feeding the run queue's messages to the dispatcher handler as an SQS event.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from switchboard import aws
from switchboard.invoker import get_invoker, set_invoker
from switchboard.runtime.building.versions import forget
from switchboard.runtime.credentials import resolving as credentials
from switchboard.settings import get_settings
from tests.integration.conftest import Reply, World
from tests.support import workflows
from tests.support.invokers import HandlerInvoker, wait_for_run
from tests.support.stack import LambdaContextStub, http_event, load_function

FILES_BUCKET = "switchboard-test-files"
RUNTIME_KEY = "<the runtime's access key>"
RUN_QUEUE = "RunQueue"


@dataclass
class Runtime:
    world: World
    key: str
    invoker: HandlerInvoker
    queue_url: str
    executed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def app_id(self) -> str:
        return self.world.app_id

    def call(
        self,
        method: str,
        path: str = "/",
        *,
        app_id: str | None = None,
        token: str | None = RUNTIME_KEY,
        body: Any = None,
        raw_body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
        form: str = "path",
    ) -> Reply:
        """Call the Apps handler with this runtime's access key, another token, or none (None)."""
        target = app_id or self.app_id
        bearer = self.key if token is RUNTIME_KEY else token
        encoded = isinstance(raw_body, bytes)
        text = base64.b64encode(raw_body).decode() if isinstance(raw_body, bytes) else raw_body
        options: dict[str, Any] = {"token": bearer, "body": body, "raw_body": text, "headers": headers}
        if form == "path":
            proxy = path.strip("/")
            event = http_event(
                method,
                f"/apps/{target}{path if path != '/' else ''}",
                route_key="ANY /apps/{app_id}/{proxy+}" if proxy else "ANY /apps/{app_id}",
                path_parameters={"app_id": target, **({"proxy": proxy} if proxy else {})},
                query=query,
                **options,
            )
        else:
            event = http_event(
                method,
                path,
                route_key="ANY /{proxy+}" if path != "/" else "ANY /",
                path_parameters={"proxy": path.strip("/")},
                host=f"{target}.apps.example.test",
                query=query,
                **options,
            )
        event["isBase64Encoded"] = encoded
        result: dict[str, Any] = load_function("apps").lambda_handler(event, LambdaContextStub())
        raw = result.get("body") or ""
        headers_out = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw
        return Reply(result["statusCode"], headers_out, parsed, raw)

    def queued_run_ids(self) -> list[str]:
        """Receive (and keep) what the run queue holds: the run IDs, in order."""
        return [json.loads(message["Body"])["run_id"] for message in self._receive(visibility=0)]

    def queued_messages(self) -> list[dict[str, Any]]:
        """Receive (and keep) what the run queue holds: its messages, in order."""
        return self._receive(visibility=0)

    def dispatch_once(self) -> dict[str, Any]:
        """Hand what the run queue holds to the dispatcher handler once, as its event source would, and keep
        the messages: its answer lists those that failed (they stay); when every one failed it raises, and
        the event source leaves them all."""
        records = [_record(message) for message in self.queued_messages()]
        result: dict[str, Any] = load_function("dispatcher").lambda_handler(
            {"Records": records}, LambdaContextStub()
        )
        return result

    def drain(self) -> list[dict[str, Any]]:
        """Start every queued run through the dispatcher handler, as its SQS event source would, and wait for
        each to end (or to wait for input)."""
        sqs = aws.client("sqs")
        started: list[str] = []
        while messages := self._receive(visibility=30):
            event = {"Records": [_record(message) for message in messages]}
            result = load_function("dispatcher").lambda_handler(event, LambdaContextStub())
            self.executed.append(result)
            started += [json.loads(message["Body"])["run_id"] for message in messages]
            for message in messages:
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        for run_id in started:
            wait_for_run(run_id, "completed", "failed", "canceled", "awaiting_input")
        return self.executed

    def _receive(self, visibility: int) -> list[dict[str, Any]]:
        response = aws.client("sqs").receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=visibility
        )
        return list(response.get("Messages", []))


def _record(message: dict[str, Any]) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795348800000"},
        "messageAttributes": {},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{RUN_QUEUE}",
        "awsRegion": "us-east-1",
    }


def access_key(world: World, org_token: str | None = None, project_id: str | None = None) -> str:
    """An access key of the world's org, made by the admin (or the holder of ``org_token``)."""
    builder = replace(world.builder, token=org_token) if org_token else world.builder
    return builder.access_key(project_id=project_id).token


def deploy(world: World, definition: dict[str, Any], app_id: str | None = None) -> int:
    """Save ``definition`` as the workflow's next version and deploy it; the version number."""
    version = world.builder.version(world.workflow_id, definition)
    world.builder.deploy(app_id or world.app_id, version)
    return version


def new_app(world: World, deploy_version: int | None = None) -> str:
    app = world.builder.app(world.project_id, "Other", world.workflow_id)
    if deploy_version is not None:
        world.builder.deploy(app.id, deploy_version)
    return app.id


def point_connection(world: World, url: str) -> None:
    """The world's connection now calls ``url`` (a loopback upstream)."""
    world.builder.point_connection(world.connection_id, url, "upstream-SECRET-key")


def http_node(world: World, node_id: str, path: str, depends: list[str]) -> dict[str, Any]:
    """A node that GETs ``path`` through the world's connection."""
    return workflows.http(
        node_id, depends, workflows.connection_ref(world.connection_id), method="GET", path=path
    )


def set_limits(rt: Runtime, **limits: int) -> None:
    """The App's run limits (``run_timeout_seconds``, ``sync_wait_seconds``)."""
    rt.world.builder.data("PATCH", f"/v1/apps/{rt.app_id}", limits, expect=200)


@contextmanager
def app_runtime(
    world: World, monkeypatch: pytest.MonkeyPatch, invoker: HandlerInvoker | None = None
) -> Iterator[Runtime]:
    """The world's App with ``files_workflow`` deployed, and everything a run needs (``invoker``: one
    made for the test, e.g. with a short invocation timeout)."""
    queue_url = aws.client("sqs").create_queue(QueueName=RUN_QUEUE)["QueueUrl"]
    aws.client("s3").create_bucket(Bucket=FILES_BUCKET)
    for name, value in {
        "RUN_QUEUE_URL": queue_url,
        "FILES_BUCKET": FILES_BUCKET,
        "EXECUTOR_FUNCTION": "ExecutorFunction:live",
        "BACKGROUND_EXECUTOR_FUNCTION": "BackgroundExecutorFunction:live",
        "CREDENTIALS_FUNCTION": "CredentialsFunction",
        # The upstreams of these runs are loopback targets: allowed by the local switch, as a public host.
        "ALLOW_LOOPBACK_EGRESS": "true",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    credentials.secret_cache.clear()
    forget()
    previous = get_invoker()
    invoker = invoker or HandlerInvoker()
    set_invoker(invoker)
    try:
        deploy(world, workflows.files_workflow())
        yield Runtime(world, access_key(world), invoker, queue_url)
    finally:
        invoker.close()
        set_invoker(previous)
        credentials.secret_cache.clear()
        forget()
