"""Measure 1: AWS API calls and durable operations per run, by ``service.Operation``, through the executor
(a durable execution on the local durable execution service) on moto.

Every boto3 call Switchboard makes goes through the clients of ``switchboard.aws`` (one cached factory):
a ``before-call`` hook on each of them counts the call under the function making it (the scope is per
thread: the executor runs on the durable service's threads). Lambda-to-Lambda invokes and durable starts go
through a routing invoker that counts each as ``lambda.Invoke``, like the real one would. The durable
service's own API calls (``CheckpointDurableExecution``, ``GetDurableExecutionState``) are in-process here;
what Lambda bills for them is counted as durable operations (the execution's start, each step, wait and
callback, each step retry).

A sync run is what the Apps function does (create the run record, start its execution, wait for it) plus
what the executor and the credentials function do. Each workflow has N http nodes against a loopback target:
half use one shared connection, half the end user's requirement (one link). The first run of each App starts
with empty caches (workflow versions, secret values); the warm run is the next one.
"""

from __future__ import annotations

import contextvars
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto import mock_aws

from bench.capacity import dynamodb_units, item_bytes
from bench.support import TEMPLATE, LambdaContextStub, load_function
from bench.target import Target
from bench.workflows import REQUIREMENT_ID, Definition, http_chain, http_fan_out
from switchboard import aws
from switchboard.auth.principal import Principal
from switchboard.domain.ids import new_id, random_body, utcnow
from switchboard.domain.models import AppAccess, TokenKind
from switchboard.domain.runs import Link, LinkStatus
from switchboard.invoker import get_invoker, set_invoker
from switchboard.runtime.building import versions
from switchboard.runtime.building.apps import create_app, deploy
from switchboard.runtime.building.connections import create_connection
from switchboard.runtime.building.projects import create_project
from switchboard.runtime.building.workflows import create_workflow
from switchboard.runtime.credentials import resolving as credentials
from switchboard.runtime.identity.bootstrap import bootstrap_admin
from switchboard.runtime.runs.creation import RunRequest, create
from switchboard.runtime.runs.starting import launch, wait
from switchboard.settings import get_settings
from switchboard.store import apps
from switchboard.store.links import put_link
from switchboard_cli.local.aws_backend import create_tables
from switchboard_cli.local.durable import DurableService
from switchboard_cli.local.kms import create_keys
from switchboard_cli.local.moto_dynamodb import guard_writes
from switchboard_cli.local.template import Template

NODE_COUNTS = (3, 10, 30)
CHAIN_LENGTH = 50
CHAIN = f"chain_{CHAIN_LENGTH}"
WARM_RUNS = 2
USER_ID = "end-user-1"
SHARED_KEY = "bench-shared-key-0000"
USER_KEY = "bench-user-key-1111"
CREDENTIAL_OPERATIONS = ("dynamodb.BatchGetItem", "secretsmanager.BatchGetSecretValue")
SERVICES = ("dynamodb", "secretsmanager", "lambda", "sqs", "scheduler")
ROUTES = {"ExecutorFunction": "executor", "CredentialsFunction": "credentials"}
SYNC_RUN_TARGET = 10


class CallCounter:
    """Counts calls per function (the scope the calling thread is in) and per ``service.Operation``."""

    def __init__(self) -> None:
        self.counts: dict[str, Counter[str]] = {}
        self.units: Counter[str] = Counter()
        self._scope: contextvars.ContextVar[str] = contextvars.ContextVar("bench_scope", default="apps")
        self._lock = threading.Lock()

    @property
    def scope(self) -> str:
        return self._scope.get()

    def hook(self, model: Any, params: dict[str, Any] | None = None, **_: Any) -> None:
        self.record(f"{model.service_model.service_name}.{model.name}")
        if model.service_model.service_name == "dynamodb" and params and params.get("body"):
            units = dynamodb_units(model.name, json.loads(params["body"]))
            with self._lock:
                self.units.update(units)

    def record(self, operation: str) -> None:
        with self._lock:
            self.counts.setdefault(self.scope, Counter())[operation] += 1

    @contextmanager
    def within(self, scope: str) -> Iterator[None]:
        token = self._scope.set(scope)
        try:
            yield
        finally:
            self._scope.reset(token)

    def take(self) -> dict[str, dict[str, int]]:
        """The counts so far, by function then operation; starts counting afresh."""
        with self._lock:
            taken = {scope: dict(sorted(ops.items())) for scope, ops in sorted(self.counts.items())}
            self.counts = {}
        return taken

    def take_units(self) -> dict[str, int]:
        """DynamoDB items written and read so far (see ``dynamodb_units``); starts counting afresh."""
        with self._lock:
            taken = dict(sorted(self.units.items()))
            self.units = Counter()
        return taken


class CountingInvoker:
    """Routes an invoke to ``functions/<directory>/app.py`` (JSON in, JSON out, like Lambda) and a durable
    start to the local durable execution service, counting each as ``lambda.Invoke``."""

    def __init__(self, counter: CallCounter) -> None:
        self._counter = counter
        self.handler_seconds: dict[str, float] = {}
        self._lock = threading.Lock()
        self.durable = DurableService(
            self._durable_invocation, execution_timeouts={"ExecutorFunction": 90_000}
        )

    def invoke(self, function_name: str, payload: dict[str, Any]) -> Any:
        self._counter.record("lambda.Invoke")
        directory = ROUTES[function_name]
        handler = load_function(directory).lambda_handler
        with self._counter.within(directory), self.timed(directory):
            result = handler(json.loads(json.dumps(payload)), LambdaContextStub())
        return json.loads(json.dumps(result))

    @contextmanager
    def timed(self, directory: str) -> Iterator[None]:
        """Adds the handler's wall time to ``handler_seconds[directory]`` (what Lambda would bill)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            with self._lock:
                self.handler_seconds[directory] = self.handler_seconds.get(directory, 0.0) + elapsed

    def take_handler_ms(self) -> dict[str, float]:
        with self._lock:
            taken = {name: round(seconds * 1000, 1) for name, seconds in sorted(self.handler_seconds.items())}
            self.handler_seconds = {}
        return taken

    def start_execution(self, function_name: str, execution_name: str, payload: dict[str, Any]) -> str:
        self._counter.record("lambda.Invoke")
        return self.durable.start(function_name.split(":", 1)[0], execution_name, payload)

    def complete_callback(self, callback_id: str, result: dict[str, Any]) -> None:
        self.durable.complete_callback(callback_id, json.dumps(result).encode())

    def fail_callback(self, callback_id: str, error_type: str, message: str) -> None:
        self.durable.fail_callback(callback_id, error_type, message)

    def stop_execution(self, execution_arn: str, error_type: str, message: str) -> None:
        self.durable.stop(execution_arn, error_type, message)

    def execution_status(self, execution_arn: str) -> str | None:
        return self.durable.status(execution_arn)

    def _durable_invocation(self, function_id: str, invocation: Any) -> Any:
        with self._counter.within(ROUTES[function_id]), self.timed(ROUTES[function_id]):
            return load_function(ROUTES[function_id]).lambda_handler(invocation, LambdaContextStub())


def _instrument(counter: CallCounter) -> None:

    emitters = [aws.client(service).meta.events for service in SERVICES]
    emitters.append(aws.dynamodb_resource().meta.client.meta.events)
    for events in emitters:
        events.register("before-call", counter.hook, unique_id="bench-call-counter")


def create_stack() -> None:
    """The template's tables and KMS keys in moto; end users' links are sealed under its link secrets key,
    as deployed."""
    template = Template.from_file(TEMPLATE)
    create_tables(template)
    os.environ["LINK_SECRETS_KEY"] = create_keys(template)["LinkSecretsKey"]
    get_settings.cache_clear()


def measure() -> dict[str, Any]:

    get_settings.cache_clear()
    counter = CallCounter()
    previous = get_invoker()
    with mock_aws(), Target() as target:
        aws.reset()
        guard_writes()  # the executor's threads and the caller's read and write the tables together
        create_stack()
        _instrument(counter)
        invoker = CountingInvoker(counter)
        set_invoker(invoker)
        try:
            world = _World(target.url)
            runs = {
                str(count): _runs_of(world, _fan_out(world, count), count, counter, target, invoker)
                for count in NODE_COUNTS
            }
            chain = http_chain(CHAIN_LENGTH, path="/ping", connection_id=world.connection.id)
            runs[CHAIN] = _runs_of(world, chain, CHAIN_LENGTH, counter, target, invoker)
            link_bytes = _link_item_bytes()
        finally:
            invoker.durable.close()
            set_invoker(previous)
            aws.reset()
    return {**_summary(runs), "link_item_bytes": link_bytes}


def _link_item_bytes() -> int:
    """The largest stored item of the links table (the bench's links: one per App)."""
    items = aws.client("dynamodb").scan(TableName=get_settings().links_table)["Items"]
    return max(item_bytes(item) for item in items)


class _World:
    """An org, a project and one shared connection to the target, made through the runtime use cases."""

    def __init__(self, target_url: str) -> None:

        admin = bootstrap_admin("bench@example.com", "Bench")
        self.principal = Principal(kind=TokenKind.pat, token_id=admin.token_id, user_id=admin.user_id)
        self.project = create_project(self.principal, admin.org_id, "Bench", "")
        self.target_url = target_url
        config = {"url": target_url, "api_key": SHARED_KEY}
        self.connection = create_connection(self.principal, self.project.id, "target", "http_api_key", config)

    def deployed_app(self, definition: Definition) -> str:
        """``definition`` deployed to a new App, with the end user's link."""

        name = f"bench-{len(definition['nodes'])}-{random_body()[:8]}"
        workflow, version = create_workflow(self.principal, self.project.id, name, "", definition)
        app = create_app(self.principal, self.project.id, name, workflow.id, AppAccess.private).app
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
            linked_at=now,
        )
        put_link(link, {"api_key": USER_KEY})
        return app.id


def _fan_out(world: _World, node_count: int) -> Definition:
    return http_fan_out(node_count, path="/ping", connection_id=world.connection.id)


def _runs_of(
    world: _World,
    definition: Definition,
    node_count: int,
    counter: CallCounter,
    target: Target,
    invoker: CountingInvoker,
) -> dict[str, Any]:

    app_id = world.deployed_app(definition)
    versions.forget()
    credentials.secret_cache.clear()
    counter.take()
    first = _sync_run(world, app_id, counter, target, node_count, invoker)
    warm = [_sync_run(world, app_id, counter, target, node_count, invoker) for _ in range(WARM_RUNS)]
    return {"first_run": first, "warm_run": warm[-1]}


def _sync_run(
    world: _World,
    app_id: str,
    counter: CallCounter,
    target: Target,
    node_count: int,
    invoker: CountingInvoker,
) -> dict[str, Any]:
    """What a sync request costs: the Apps function creates the run, starts its execution and waits."""

    served = target.served
    counter.take_units()
    invoker.take_handler_ms()
    checkpoints_before = Counter(invoker.durable.client.calls)
    started = time.perf_counter()
    app = apps.get_app(app_id)
    assert app is not None
    run = create(app, RunRequest(input={}, user_id=USER_ID), world.principal)
    launch(run)
    finished = wait(run.id, 25)
    elapsed = time.perf_counter() - started
    if finished.status.value != "completed" or target.served - served != node_count:
        raise RuntimeError(f"the {node_count}-node run did not complete: {finished.status}, {finished.error}")
    arn = invoker.durable.running_or_ended(run.id)
    assert arn is not None
    _until_ended(invoker, arn)
    durable_operations = invoker.durable.billed_operations(arn)
    by_function = counter.take()
    checkpoints = Counter(invoker.durable.client.calls)
    checkpoints.subtract(checkpoints_before)
    executor = Counter(by_function.get("executor", {}))
    executor.update(+checkpoints)
    by_function["executor"] = dict(sorted(executor.items()))
    by_operation: Counter[str] = Counter()
    for operations in by_function.values():
        by_operation.update(operations)
    units = counter.take_units()
    handler_ms = invoker.take_handler_ms()
    handler_ms["apps"] = round(elapsed * 1000, 1)  # the Apps function waits for the run
    run_item = aws.client("dynamodb").get_item(
        TableName=get_settings().runs_table, Key={"pk": {"S": f"RUN#{run.id}"}, "sk": {"S": "RUN"}}
    )["Item"]
    counter.take()  # the read above is the bench's, not the run's
    return {
        "total": sum(by_operation.values()),
        "durable_operations": durable_operations,
        "by_function": {name: sum(ops.values()) for name, ops in by_function.items()},
        "by_operation": dict(sorted(by_operation.items())),
        "detail": by_function,
        "wall_ms": round(elapsed * 1000, 1),
        "dynamodb_units": units,
        "handler_ms": handler_ms,
        "run_item_bytes": item_bytes(run_item),
    }


def _until_ended(invoker: CountingInvoker, arn: str, seconds: float = 10.0) -> None:
    """The run ended when its item says so, inside the finish step: its execution ends once that step's
    checkpoint is in. Count after that, or the finish step is missed."""
    deadline = time.monotonic() + seconds
    while invoker.execution_status(arn) not in ("SUCCEEDED", "FAILED", "STOPPED", "TIMED_OUT"):
        if time.monotonic() > deadline:
            raise RuntimeError("the run's execution did not end")
        time.sleep(0.01)


def _credential_calls(run: dict[str, Any]) -> dict[str, int]:
    """Calls of credential resolution: the executor's invokes (of the credentials function) and every call
    the credentials function made."""
    invokes = run["detail"].get("executor", {}).get("lambda.Invoke", 0)
    return {"lambda.Invoke": invokes, **run["detail"].get("credentials", {})}


def _summary(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    credential_calls = {
        count: {kind: _credential_calls(run[kind]) for kind in ("first_run", "warm_run")}
        for count, run in runs.items()
        if count != CHAIN
    }
    constant = all(
        len({json.dumps(calls[kind], sort_keys=True) for calls in credential_calls.values()}) == 1
        for kind in ("first_run", "warm_run")
    )
    smallest = runs[str(NODE_COUNTS[0])]["warm_run"]
    chain = runs[CHAIN]["warm_run"]
    return {
        "per_run": {
            f"fan_out_{NODE_COUNTS[0]}": _per_run(smallest),
            CHAIN: _per_run(chain),
        },
        "node_counts": list(NODE_COUNTS),
        "runs": runs,
        "credential_calls": credential_calls,
        "credential_resolution_constant": constant,
        "credential_operations": list(CREDENTIAL_OPERATIONS),
        "warm_sync_run_calls": smallest["total"],
        "warm_sync_run_target": SYNC_RUN_TARGET,
        "warm_sync_run_pass": smallest["total"] <= SYNC_RUN_TARGET,
    }


def _per_run(run: dict[str, Any]) -> dict[str, Any]:
    """What one warm sync run costs: AWS calls (checkpoints included) and durable operations."""
    executor = run["detail"].get("executor", {})
    return {
        "aws_calls": run["total"],
        "checkpoint_calls": executor.get("lambda.CheckpointDurableExecution", 0),
        "durable_operations": run["durable_operations"],
    }
