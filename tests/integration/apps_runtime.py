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
from dataclasses import dataclass, field
from typing import Any

import pytest

from switchboard import aws
from switchboard.invoker import get_invoker, set_invoker
from switchboard.runtime import credentials
from switchboard.runtime.versions import forget
from switchboard.settings import get_settings
from tests.integration.conftest import Reply, World
from tests.support.invokers import HandlerInvoker, wait_for_run
from tests.support.stack import LambdaContextStub, http_event, load_function

FILES_BUCKET = "switchboard-test-files"
RUNTIME_KEY = "<the runtime's access key>"
RUN_QUEUE = "RunQueue"


def runtime_definition() -> dict[str, Any]:
    """question (required) is shouted back; a question containing 'x' fails the ``check`` node; ``doc`` and
    ``files`` take files; ``count`` is an optional integer."""
    return {
        "nodes": [
            {
                "id": "start",
                "type": "input",
                "fields": [
                    {"name": "question", "type": "string", "required": True},
                    {"name": "count", "type": "integer"},
                    {"name": "doc", "type": "file"},
                    {"name": "files", "type": "array"},
                ],
            },
            {
                "id": "shout",
                "type": "transform",
                "depends": ["start"],
                "inputs": {"question": "$.input.question"},
                "config": {"template": "{{ question }}!"},
            },
            {
                "id": "check",
                "type": "validator",
                "depends": ["start"],
                "config": {"input": "$.input.question", "regex": "[^x]*"},
            },
            {
                "id": "finish",
                "type": "output",
                "depends": ["shout", "check"],
                "mappings": {
                    "answer": "$.shout.output",
                    "file": "$.input.doc.name",
                    "files": "$.input.files",
                },
            },
        ]
    }


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
    body = {"org_id": world.org_id, "name": "k", **({"project_id": project_id} if project_id else {})}
    reply = world.call("POST", "/v1/access-keys", token=org_token or world.admin.token, body=body)
    assert reply.status == 201, reply.body
    return str(reply.body["data"]["token"])


def deploy(world: World, definition: dict[str, Any], app_id: str | None = None) -> int:
    """Save ``definition`` as the workflow's next version and deploy it; the version number."""
    saved = world.call(
        "PUT", f"/v1/workflows/{world.workflow_id}", token=world.admin.token, body={"definition": definition}
    )
    assert saved.status == 201, saved.body
    version = int(saved.body["data"]["version"]["number"])
    deployed = world.call(
        "POST",
        f"/v1/apps/{app_id or world.app_id}/deployments",
        token=world.admin.token,
        body={"version": version},
    )
    assert deployed.status == 201, deployed.body
    return version


def new_app(world: World, deploy_version: int | None = None) -> str:
    created = world.call(
        "POST",
        "/v1/apps",
        token=world.admin.token,
        body={"project_id": world.project_id, "name": "Other", "workflow_id": world.workflow_id},
    )
    assert created.status == 201, created.body
    app_id = str(created.body["data"]["id"])
    if deploy_version is not None:
        deployed = world.call(
            "POST",
            f"/v1/apps/{app_id}/deployments",
            token=world.admin.token,
            body={"version": deploy_version},
        )
        assert deployed.status == 201, deployed.body
    return app_id


def point_connection(world: World, url: str) -> None:
    """The world's connection now calls ``url`` (a loopback upstream)."""
    reply = world.call(
        "PATCH",
        f"/v1/connections/{world.connection_id}",
        token=world.admin.token,
        body={"config": {"url": url, "api_key": "upstream-SECRET-key"}},
    )
    assert reply.status == 200, reply.body


def http_node(world: World, node_id: str, path: str, depends: list[str]) -> dict[str, Any]:
    """A node that GETs ``path`` through the world's connection."""
    return {
        "id": node_id,
        "type": "http",
        "depends": depends,
        "connection": {"connection_id": world.connection_id},
        "config": {"method": "GET", "path": path},
    }


def set_limits(rt: Runtime, **limits: int) -> None:
    """The App's run limits (``run_timeout_seconds``, ``sync_wait_seconds``)."""
    reply = rt.world.call("PATCH", f"/v1/apps/{rt.app_id}", token=rt.world.admin.token, body=limits)
    assert reply.status == 200, reply.body


@contextmanager
def app_runtime(
    world: World, monkeypatch: pytest.MonkeyPatch, invoker: HandlerInvoker | None = None
) -> Iterator[Runtime]:
    """The world's App with ``runtime_definition`` deployed, and everything a run needs (``invoker``: one
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
        deploy(world, runtime_definition())
        yield Runtime(world, access_key(world), invoker, queue_url)
    finally:
        invoker.close()
        set_invoker(previous)
        credentials.secret_cache.clear()
        forget()
