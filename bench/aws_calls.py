"""Measure 1: AWS API calls per run, by ``service.Operation``, through the executor on moto.

Every boto3 call Switchboard makes goes through the clients of ``switchboard.aws`` (one cached factory):
a ``before-call`` hook on each of them counts the call under the function making it. Lambda-to-Lambda
invokes go through a routing invoker that counts each as ``lambda.Invoke``, like the real one would.

A sync run is what the Apps function does (create the run record, invoke the executor) plus what the
executor and the credentials function do. Each workflow has N http nodes against a loopback target: half
use one shared connection, half the end user's requirement (one link). The first run of each App starts
with empty caches (workflow versions, secret values); the warm run is the next one.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto import mock_aws

from bench.support import TEMPLATE, LambdaContextStub, load_function
from bench.target import Target
from bench.workflows import REQUIREMENT_ID, http_fan_out
from switchboard import aws
from switchboard.auth.principal import Principal
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.models import AppAccess, TokenKind
from switchboard.domain.runs import Link, LinkStatus
from switchboard.invoker import get_invoker, set_invoker
from switchboard.runtime import credentials, versions
from switchboard.runtime.apps import create_app, deploy
from switchboard.runtime.bootstrap import bootstrap_admin
from switchboard.runtime.connections import create_connection
from switchboard.runtime.projects import create_project
from switchboard.runtime.runs.creation import create_run
from switchboard.runtime.workflows import create_workflow
from switchboard.settings import get_settings
from switchboard.store.links import put_link
from switchboard_cli.local.aws_backend import create_tables
from switchboard_cli.local.template import Template

NODE_COUNTS = (3, 10, 30)
WARM_RUNS = 2
USER_ID = "end-user-1"
SHARED_KEY = "bench-shared-key-0000"
USER_KEY = "bench-user-key-1111"
CREDENTIAL_OPERATIONS = ("dynamodb.BatchGetItem", "secretsmanager.BatchGetSecretValue")
SERVICES = ("dynamodb", "secretsmanager", "lambda", "sqs", "scheduler")
ROUTES = {"ExecutorFunction": "executor", "CredentialsFunction": "credentials"}
SYNC_RUN_TARGET = 10


class CallCounter:
    """Counts calls per function (the scope the call was made in) and per ``service.Operation``."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {}
        self.scope = "apps"
        self._lock = threading.Lock()

    def hook(self, model: Any, **_: Any) -> None:
        self.record(f"{model.service_model.service_name}.{model.name}")

    def record(self, operation: str) -> None:
        with self._lock:
            self.counts.setdefault(self.scope, Counter())[operation] += 1

    @contextmanager
    def within(self, scope: str) -> Iterator[None]:
        previous, self.scope = self.scope, scope
        try:
            yield
        finally:
            self.scope = previous

    def take(self) -> dict[str, dict[str, int]]:
        """The counts so far, by function then operation; starts counting afresh."""
        with self._lock:
            taken = {scope: dict(sorted(ops.items())) for scope, ops in sorted(self.counts.items())}
            self.counts = {}
        return taken


class CountingInvoker:
    """Routes an invoke to ``functions/<directory>/app.py`` (JSON in, JSON out, like Lambda) and counts it."""

    def __init__(self, counter: CallCounter) -> None:
        self._counter = counter

    def invoke(self, function_name: str, payload: dict[str, Any]) -> Any:

        self._counter.record("lambda.Invoke")
        directory = ROUTES[function_name]
        handler = load_function(directory).lambda_handler
        with self._counter.within(directory):
            result = handler(json.loads(json.dumps(payload)), LambdaContextStub())
        return json.loads(json.dumps(result))


def _instrument(counter: CallCounter) -> None:

    emitters = [aws.client(service).meta.events for service in SERVICES]
    emitters.append(aws.dynamodb_resource().meta.client.meta.events)
    for events in emitters:
        events.register("before-call", counter.hook, unique_id="bench-call-counter")


def measure() -> dict[str, Any]:

    get_settings.cache_clear()
    counter = CallCounter()
    previous = get_invoker()
    with mock_aws(), Target() as target:
        aws.reset()
        create_tables(Template.from_file(TEMPLATE))
        _instrument(counter)
        set_invoker(CountingInvoker(counter))
        try:
            world = _World(target.url)
            runs = {str(count): _runs_of(world, count, counter, target) for count in NODE_COUNTS}
        finally:
            set_invoker(previous)
            aws.reset()
    return _summary(runs)


class _World:
    """An org, a project and one shared connection to the target, made through the runtime use cases."""

    def __init__(self, target_url: str) -> None:

        admin = bootstrap_admin("bench@example.com", "Bench")
        self.principal = Principal(kind=TokenKind.pat, token_id=admin.token_id, user_id=admin.user_id)
        self.project = create_project(self.principal, admin.org_id, "Bench", "")
        self.target_url = target_url
        config = {"url": target_url, "api_key": SHARED_KEY}
        self.connection = create_connection(self.principal, self.project.id, "target", "http_api_key", config)

    def deployed_app(self, node_count: int) -> str:
        """A workflow of ``node_count`` http nodes, deployed to a new App, with the end user's link."""

        definition = http_fan_out(node_count, path="/ping", connection_id=self.connection.id)
        workflow, version = create_workflow(
            self.principal, self.project.id, f"fan-out-{node_count}", "", definition
        )
        app = create_app(
            self.principal, self.project.id, f"Fan-out {node_count}", workflow.id, AppAccess.private
        ).app
        deploy(self.principal, app.id, version.number)
        now = utcnow()
        link = Link(
            id=new_id("link"),
            app_id=app.id,
            org_id=self.project.org_id,
            project_id=self.project.id,
            user_id=USER_ID,
            requirement_id=REQUIREMENT_ID,
            connection_type="http_api_key",
            status=LinkStatus.active,
            status_changed_at=now,
            config={"url": self.target_url},
            secret_fields=["api_key"],
            secret_name="pending",
            linked_at=now,
        )
        put_link(link, {"api_key": USER_KEY})
        return app.id


def _runs_of(world: _World, node_count: int, counter: CallCounter, target: Target) -> dict[str, Any]:

    app_id = world.deployed_app(node_count)
    versions.forget()
    credentials.secret_cache.clear()
    counter.take()
    first = _sync_run(app_id, counter, target, node_count)
    warm = [_sync_run(app_id, counter, target, node_count) for _ in range(WARM_RUNS)]
    return {"first_run": first, "warm_run": warm[-1]}


def _sync_run(app_id: str, counter: CallCounter, target: Target, node_count: int) -> dict[str, Any]:
    """What a sync request costs: the Apps function creates the run and invokes the executor."""

    served = target.served
    started = time.perf_counter()
    run = create_run(app_id, {}, created_by="bench", user_id=USER_ID)
    reply = CountingInvoker(counter).invoke("ExecutorFunction", {"run_id": run.id})
    elapsed = time.perf_counter() - started
    if reply.get("status") != "completed" or target.served - served != node_count:
        raise RuntimeError(f"the {node_count}-node run did not complete: {reply}")
    by_function = counter.take()
    by_operation: Counter[str] = Counter()
    for operations in by_function.values():
        by_operation.update(operations)
    return {
        "total": sum(by_operation.values()),
        "by_function": {name: sum(ops.values()) for name, ops in by_function.items()},
        "by_operation": dict(sorted(by_operation.items())),
        "detail": by_function,
        "wall_ms": round(elapsed * 1000, 1),
    }


def _credential_calls(run: dict[str, Any]) -> dict[str, int]:
    """Calls of credential resolution: the executor's invokes (of the credentials function) and every call
    the credentials function made."""
    invokes = run["detail"].get("executor", {}).get("lambda.Invoke", 0)
    return {"lambda.Invoke": invokes, **run["detail"].get("credentials", {})}


def _summary(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    credential_calls = {
        count: {kind: _credential_calls(run[kind]) for kind in ("first_run", "warm_run")}
        for count, run in runs.items()
    }
    constant = all(
        len({json.dumps(calls[kind], sort_keys=True) for calls in credential_calls.values()}) == 1
        for kind in ("first_run", "warm_run")
    )
    smallest = runs[str(NODE_COUNTS[0])]["warm_run"]
    return {
        "node_counts": list(NODE_COUNTS),
        "runs": runs,
        "credential_calls": credential_calls,
        "credential_resolution_constant": constant,
        "credential_operations": list(CREDENTIAL_OPERATIONS),
        "warm_sync_run_calls": smallest["total"],
        "warm_sync_run_target": SYNC_RUN_TARGET,
        "warm_sync_run_pass": smallest["total"] <= SYNC_RUN_TARGET,
    }
