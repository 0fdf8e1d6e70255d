"""Runs through the executor on moto, each a durable execution on the local durable execution service:
per-user credentials, shared credentials, rotation, exactly-once starting and finishing, the run queue path,
persisted events and trace, and no secret anywhere."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from switchboard import aws
from switchboard.domain.errors import RequirementNotSatisfied
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.runs import RUNNING, Link, LinkStatus, RunStatus
from switchboard.invoker import get_invoker, set_invoker
from switchboard.runtime.building.versions import forget
from switchboard.runtime.credentials import resolving as credentials
from switchboard.runtime.runs.canceling import cancel
from switchboard.runtime.runs.ending import end_run
from switchboard.settings import get_settings
from switchboard.store import links, runs
from tests.integration.conftest import World
from tests.support.fakes import HttpTarget, Reply
from tests.support.invokers import HandlerInvoker, wait_for_run
from tests.support.run_states import EXECUTION, created_run, started_run
from tests.support.stack import LambdaContextStub, load_function

SHARED_KEY = "shared-SECRET-key-1111"
ROTATED_KEY = "shared-SECRET-key-2222"
USER_KEYS = {"user-1": "user-1-SECRET-key-aaaa", "user-2": "user-2-SECRET-key-bbbb"}


@pytest.fixture
def target() -> Iterator[HttpTarget]:
    with HttpTarget() as server:
        server.respond("/shared", Reply(echo=True))
        server.respond("/personal", Reply(echo=True))
        yield server


@pytest.fixture
def invoker(monkeypatch: pytest.MonkeyPatch, stack: None) -> Iterator[HandlerInvoker]:
    monkeypatch.setenv("CREDENTIALS_FUNCTION", "CredentialsFunction")
    monkeypatch.setenv("EXECUTOR_FUNCTION", "ExecutorFunction:live")
    monkeypatch.setenv("BACKGROUND_EXECUTOR_FUNCTION", "BackgroundExecutorFunction:live")
    # The connections and links point at a loopback target: allowed by the local switch, as a public host.
    monkeypatch.setenv("ALLOW_LOOPBACK_EGRESS", "true")
    get_settings.cache_clear()
    credentials.secret_cache.clear()
    forget()
    previous = get_invoker()
    routed = HandlerInvoker()
    set_invoker(routed)
    yield routed
    routed.close()
    set_invoker(previous)
    credentials.secret_cache.clear()


def _workflow(connection_id: str) -> dict[str, Any]:
    return {
        "requirements": [
            {
                "id": "crm",
                "name": "CRM",
                "type": "connection",
                "connection_type": "http_api_key",
                "title": "Connect your CRM",
                "description": "Your own CRM key",
            }
        ],
        "nodes": [
            {"id": "start", "type": "input", "fields": [{"name": "q", "type": "string", "required": True}]},
            {
                "id": "shared",
                "type": "http",
                "depends": ["start"],
                "connection": {"connection_id": connection_id},
                "config": {"method": "GET", "path": "/shared", "params": {"q": "$.input.q"}},
            },
            {
                "id": "personal",
                "type": "http",
                "depends": ["start"],
                "connection": {"requirement": "crm"},
                "config": {"method": "GET", "path": "/personal"},
            },
            {
                "id": "finish",
                "type": "output",
                "depends": ["shared", "personal"],
                "mappings": {"shared": "$.shared.output.status", "personal": "$.personal.output.status"},
            },
        ],
    }


@pytest.fixture
def app(world: World, target: HttpTarget, invoker: HandlerInvoker) -> World:
    world.builder.point_connection(world.connection_id, target.url, SHARED_KEY)
    world.builder.deploy(
        world.app_id, world.builder.version(world.workflow_id, _workflow(world.connection_id))
    )
    for user_id, key in USER_KEYS.items():
        _link(world, user_id, key, target.url)
    return world


def _link(world: World, user_id: str, key: str, url: str) -> Link:
    now = utcnow()
    link = Link(
        id=new_id("link"),
        app_id=world.app_id,
        org_id=world.org_id,
        project_id=world.project_id,
        user_id=user_id,
        requirement_id="crm",
        connection_type="http_api_key",
        status=LinkStatus.active,
        status_changed_at=now,
        config={"url": url},
        secret_fields=["api_key"],
        secret_name="pending",
        linked_at=now,
    )
    return links.put_link(link, {"api_key": key})


@pytest.fixture
def writes(stack: None) -> Iterator[list[tuple[str, str]]]:
    """``(operation, table)`` of every DynamoDB write made through ``switchboard.aws``, one per table a
    transaction or batch writes to, in order."""
    seen: list[tuple[str, str]] = []

    def record(model: Any, params: dict[str, Any], **_: Any) -> None:
        if model.name in ("PutItem", "UpdateItem", "DeleteItem"):
            seen.append((model.name, params["TableName"]))
        elif model.name == "TransactWriteItems":
            tables = {next(iter(op.values()))["TableName"] for op in params["TransactItems"]}
            seen.extend((model.name, table) for table in sorted(tables))
        elif model.name == "BatchWriteItem":
            seen.extend((model.name, table) for table in sorted(params["RequestItems"]))

    clients = [aws.dynamodb(), aws.dynamodb_resource().meta.client]
    for client in clients:
        client.meta.events.register("before-parameter-build.dynamodb.*", record)
    yield seen
    for client in clients:
        client.meta.events.unregister("before-parameter-build.dynamodb.*", record)


def _execute(run_id: str) -> dict[str, Any]:
    """Start the run's durable execution (as the Apps function or the dispatcher does); wait for its end."""
    get_invoker().start_execution("ExecutorFunction:live", run_id, {"run_id": run_id})
    run = wait_for_run(run_id)
    return {"run_id": run.id, "status": run.status.value}


def _run_for(world: World, user_id: str | None) -> str:
    return created_run(world.app_id, {"q": "hello"}, user_id=user_id).id


def _authorization(target: HttpTarget, path: str) -> list[str]:
    return [r.headers.get("authorization", "") for r in target.requests_to(path)]


def test_each_user_runs_with_their_own_link_and_everyone_with_the_shared_key(
    app: World, target: HttpTarget
) -> None:
    # Given two users who each linked their own CRM key
    # When a run of the same version executes for each
    first = _execute(_run_for(app, "user-1"))
    second = _execute(_run_for(app, "user-2"))
    # Then both complete, the requirement-bound node sent each user's key, the shared node the shared key
    assert first["status"] == second["status"] == "completed"
    assert _authorization(target, "/personal") == [
        f"Bearer {USER_KEYS['user-1']}",
        f"Bearer {USER_KEYS['user-2']}",
    ]
    assert _authorization(target, "/shared") == [f"Bearer {SHARED_KEY}"] * 2
    run = runs.get_run(first["run_id"])
    assert run is not None
    assert run.output == {"shared": 200, "personal": 200}
    assert run.nodes is not None
    assert {n: v["status"] for n, v in run.nodes.items()} == {
        "start": "completed",
        "shared": "completed",
        "personal": "completed",
        "finish": "completed",
    }


def test_a_link_that_is_not_active_fails_the_run_before_any_node(app: World, target: HttpTarget) -> None:
    # Given a run of user-2, whose link was revoked after the run was created (the pre-flight passed)
    run_id = _run_for(app, "user-2")
    link = links.get_link(app.app_id, "user-2", "crm")
    assert link is not None
    links.set_link_status(link, LinkStatus.revoked, "revoked by the user", utcnow())
    # When the run executes
    result = _execute(run_id)
    # Then the run fails with requirement_not_satisfied naming the requirement, and nothing reached the target
    assert result["status"] == "failed"
    run = runs.get_run(result["run_id"])
    assert run is not None
    assert run.error is not None
    assert run.error["type"] == "requirement_not_satisfied"
    assert run.error["details"] == [{"requirement_id": "crm", "status": "revoked"}]
    assert target.requests == []
    events = [e.type for e in runs.list_events(run.id)]
    assert events == ["run.failed"]


def test_a_run_without_user_id_cannot_be_created_for_a_workflow_with_requirements(app: World) -> None:
    # Given the App, whose workflow needs each end user's crm link
    # When a run is created for no user / Then it is refused: the requirement cannot be satisfied
    with pytest.raises(RequirementNotSatisfied):
        _run_for(app, None)


def test_rotating_the_shared_connection_changes_the_very_next_run(app: World, target: HttpTarget) -> None:
    # Given a first run with the shared key (the credentials function now caches it)
    _execute(_run_for(app, "user-1"))
    # When the connection is rotated through the management API
    rotated = app.call(
        "PATCH",
        f"/v1/connections/{app.connection_id}",
        token=app.admin.token,
        body={"config": {"url": target.url, "api_key": ROTATED_KEY}},
    )
    assert rotated.status == 200
    _execute(_run_for(app, "user-1"))
    # Then the next run sends the rotated key
    assert _authorization(target, "/shared") == [f"Bearer {SHARED_KEY}", f"Bearer {ROTATED_KEY}"]


def test_a_run_starts_and_finishes_exactly_once_even_when_started_twice(
    app: World, target: HttpTarget, invoker: HandlerInvoker
) -> None:
    # Given a run whose execution is started twice (a retried start, a redelivered queue message)
    run_id = _run_for(app, "user-1")
    first = _execute(run_id)
    events_after_first = runs.list_events(run_id)
    # When its execution is started a second time
    second = _execute(run_id)
    # Then it is one execution (named after the run), which ran each node once and ended once
    assert first == second == {"run_id": run_id, "status": "completed"}
    assert invoker.durable.dump()["names"] == {run_id: invoker.durable.running_or_ended(run_id)}
    assert len(target.requests_to("/shared")) == 1
    assert runs.list_events(run_id) == events_after_first
    assert [event.type for event in events_after_first].count("run.completed") == 1


def test_events_are_ordered_and_the_trace_records_credential_resolution(
    app: World, target: HttpTarget
) -> None:
    # Given a run of user-1, who has linked crm, through the shared connection
    run_id = _run_for(app, "user-1")
    # When it executes
    _execute(run_id)
    # Then its events are numbered from 1, from run.started to run.completed, with node events between
    events = runs.list_events(run_id)
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    assert events[0].type == "run.started"
    assert events[-1].type == "run.completed"
    assert {"node.started", "node.completed"} <= {e.type for e in events}
    # And reading after sequence 3 gives the rest
    replay = runs.list_events(run_id, after_sequence=3)
    assert [e.sequence for e in replay] == list(range(4, len(events) + 1))
    # And its trace has run, node and attempt spans and an active, versioned resolution of each credential
    trace = runs.get_trace(run_id)
    assert trace is not None
    kinds = {span["kind"] for span in trace["spans"]}
    assert {"run", "node", "attempt"} <= kinds
    references = sorted(r["reference"] for r in trace["credential_resolutions"])
    assert references == [f"connection:{app.connection_id}", "requirement:crm"]
    assert all(r["status"] == "active" and r["secret_version"] for r in trace["credential_resolutions"])


def test_the_queue_path_starts_runs_and_reports_partial_failures(app: World, target: HttpTarget) -> None:
    # Given a batch of the run queue: a run, a message that is not JSON, one that is not a run
    good = _run_for(app, "user-1")
    event = {
        "Records": [
            _sqs_record("m-1", json.dumps({"run_id": good})),
            _sqs_record("m-2", "not json"),
            _sqs_record("m-3", json.dumps({"run_id": "not a run id"})),
        ]
    }
    # When the dispatcher takes it / Then the bad messages stay (for the queue's redrive), the run starts
    result = load_function("dispatcher").lambda_handler(event, LambdaContextStub())
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-2"}, {"itemIdentifier": "m-3"}]}
    assert wait_for_run(good).status is RunStatus.completed


def test_a_created_run_that_was_canceled_never_starts(app: World, target: HttpTarget) -> None:
    # Given a created run of user-1
    run_id = _run_for(app, "user-1")
    # When it is canceled before its execution starts, then executed
    assert cancel(app.app_id, run_id).status is RunStatus.canceled
    # Then the execution ends it canceled without starting it, and no upstream was called
    result = _execute(run_id)
    stored = runs.get_run(run_id)
    assert stored is not None
    assert (result["status"], stored.started_at) == ("canceled", None)
    assert target.requests == []


def test_a_run_another_execution_claimed_is_left_to_it(app: World, target: HttpTarget) -> None:
    # Given a run that another execution has claimed
    run_id = _run_for(app, "user-1")
    claimed, run = runs.claim(run_id, utcnow(), EXECUTION)
    assert claimed
    # When its own execution starts / Then it leaves the run as it is and runs nothing
    get_invoker().start_execution("ExecutorFunction:live", run_id, {"run_id": run_id})
    _wait_for_executions(app)
    assert runs.get_run(run_id) == run
    assert target.requests == []
    assert runs.list_events(run_id) == []


def test_the_trace_is_written_with_the_runs_end_in_one_transaction(
    app: World, target: HttpTarget, writes: list[tuple[str, str]]
) -> None:
    # Given a created run of user-1
    run_id = _run_for(app, "user-1")
    writes.clear()
    # When it executes
    result = _execute(run_id)
    # Then besides its events, the executor wrote the claim, the link's first use, and the run's end with
    # its terminal event and its trace in one TransactWriteItems (no write of one alone)
    runs_table, links_table = get_settings().runs_table, get_settings().links_table
    assert [write for write in writes if write[0] != "BatchWriteItem"] == [
        ("UpdateItem", runs_table),
        ("UpdateItem", links_table),
        ("TransactWriteItems", runs_table),
    ]
    # And both are stored
    trace = runs.get_trace(run_id)
    assert trace is not None
    assert trace["run_id"] == run_id
    assert all("last_used_at" not in r for r in trace["credential_resolutions"])
    stored = runs.get_run(run_id)
    assert stored is not None
    assert (result["status"], stored.status) == ("completed", RunStatus.completed)


def test_a_run_canceled_while_running_ends_canceled_at_its_next_checkpoint(
    app: World, target: HttpTarget
) -> None:
    # Given a run whose shared upstream is slow, and a cancellation requested while it waits
    target.respond("/shared", Reply(echo=True, delay_ms=1300))
    run_id = _run_for(app, "user-1")
    canceler = threading.Timer(0.3, runs.request_cancel, args=(run_id, utcnow()))
    canceler.start()
    # When the executor runs it
    result = _execute(run_id)
    canceler.join()
    # Then it ends canceled (the output node never ran), with one terminal event, and its trace
    stored = runs.get_run(run_id)
    assert stored is not None
    assert (result["status"], stored.status) == ("canceled", RunStatus.canceled)
    assert stored.cancel_requested_at is not None
    assert stored.nodes is not None
    assert stored.nodes["finish"]["status"] == "canceled"
    assert [event.type for event in runs.list_events(run_id)].count("run.canceled") == 1
    assert runs.get_trace(run_id) is not None


def test_a_cancellation_after_the_executors_last_look_still_ends_the_run_canceled(app: World) -> None:
    # Given a started run whose cancellation is requested after the executor last read it
    run = started_run(app.app_id, {"q": "late"}, user_id="user-1")
    assert runs.request_cancel(run.id, utcnow()) is not None
    # When the executor ends it completed (its nodes had all finished)
    nodes = {"start": {"status": "completed", "output": {"q": "late"}, "error": None}}
    ended = end_run(
        run, RunStatus.completed, result={"output": {"x": 1}, "nodes": nodes}, from_statuses=RUNNING
    )
    # Then the cancellation wins, as its caller was told: canceled, the nodes kept, no output, one event
    assert ended.status is RunStatus.canceled
    stored = runs.get_run(run.id)
    assert stored is not None
    assert (stored.status, stored.output, stored.nodes) == (RunStatus.canceled, None, nodes)
    assert [event.type for event in runs.list_events(run.id)] == ["run.canceled"]


def _link_used(world: World, user_id: str, at: datetime) -> None:
    link = links.get_link(world.app_id, user_id, "crm")
    assert link is not None
    assert links.touch_link(world.app_id, user_id, "crm", link.id, at)


def test_a_link_used_within_the_hour_is_not_written_again(
    app: World, target: HttpTarget, writes: list[tuple[str, str]]
) -> None:
    # Given the user's link recorded as used ten minutes ago
    used_at = utcnow() - timedelta(minutes=10)
    _link_used(app, "user-1", used_at)
    writes.clear()
    # When a run uses it
    assert _execute(_run_for(app, "user-1"))["status"] == "completed"
    # Then the links table was not written at all, and the recorded use stands
    assert [write for write in writes if write[1] == get_settings().links_table] == []
    link = links.get_link(app.app_id, "user-1", "crm")
    assert link is not None
    assert link.last_used_at == used_at


def test_a_link_last_used_over_an_hour_ago_records_the_use(
    app: World, target: HttpTarget, writes: list[tuple[str, str]]
) -> None:
    # Given the user's link recorded as used two hours ago
    used_at = utcnow() - timedelta(hours=2)
    _link_used(app, "user-1", used_at)
    writes.clear()
    # When a run uses it
    before = utcnow()
    assert _execute(_run_for(app, "user-1"))["status"] == "completed"
    # Then its use was recorded by one conditional update of the link
    assert [write for write in writes if write[1] == get_settings().links_table] == [
        ("UpdateItem", get_settings().links_table)
    ]
    link = links.get_link(app.app_id, "user-1", "crm")
    assert link is not None
    assert link.last_used_at is not None
    assert link.last_used_at >= before


def test_a_run_that_does_not_exist_is_not_created_by_the_claim(app: World) -> None:
    # Given a run id that no record holds
    missing = "run-00000000000000000000"
    # When an execution is started for it
    get_invoker().start_execution("ExecutorFunction:live", missing, {"run_id": missing})
    # Then once executions have ended, no run record was created by the claim
    _wait_for_executions(app)
    assert runs.get_run(missing) is None


def _wait_for_executions(world: World) -> None:
    invoker = get_invoker()
    assert isinstance(invoker, HandlerInvoker)
    deadline = utcnow() + timedelta(seconds=20)
    while invoker.durable.running_executions():
        assert utcnow() < deadline, "durable executions still running"
        threading.Event().wait(0.02)


def test_an_upstream_401_marks_the_users_link_unauthorized(app: World, target: HttpTarget) -> None:
    # Given the upstream refusing user-2's key with a 401
    target.respond("/personal", Reply(status=401, body={"error": "bad key"}))
    # When user-2's run executes
    result = _execute(_run_for(app, "user-2"))
    # Then it fails and user-2's crm link is marked unauthorized, with a reason naming the 401
    assert result["status"] == "failed"
    link = links.get_link(app.app_id, "user-2", "crm")
    assert link is not None
    assert link.status is LinkStatus.unauthorized
    assert link.status_reason is not None
    assert "401" in link.status_reason
    # And user-1's link stays active
    other = links.get_link(app.app_id, "user-1", "crm")
    assert other is not None
    assert other.status is LinkStatus.active


def test_no_secret_reaches_a_record_event_trace_or_log(
    app: World, target: HttpTarget, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an upstream that echoes each request, user-1's key included
    target.respond("/personal", Reply(echo=True))
    # When user-1's run executes
    run_id = _run_for(app, "user-1")
    _execute(run_id)
    # Then no secret is in the run record, its events, its trace or any log
    run = runs.get_run(run_id)
    assert run is not None
    produced = json.dumps(
        {
            "run": run.model_dump(mode="json"),
            "events": [e.model_dump(mode="json") for e in runs.list_events(run_id)],
            "trace": runs.get_trace(run_id),
        },
        default=str,
    )
    logs = capsys.readouterr()
    for secret in [SHARED_KEY, *USER_KEYS.values()]:
        assert secret not in produced
        assert secret not in logs.out + logs.err
    # The echoing target did receive the key: the redaction is what kept it out
    assert any(USER_KEYS["user-1"] in r.headers.get("authorization", "") for r in target.requests)


def _sqs_record(message_id: str, body: str) -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": f"handle-{message_id}",
        "body": body,
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795348800000"},
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:RunQueue",
        "awsRegion": "us-east-1",
    }


def test_a_connection_deleted_after_deploy_fails_the_run_instead_of_leaving_it_started(
    app: World, target: HttpTarget
) -> None:
    # Given the shared connection's record vanished after the version was deployed
    from switchboard.store import keys
    from switchboard.store.control import control
    from switchboard.store.table import delete_op

    control().write(delete_op(control().name, keys.connection(app.connection_id)))
    # When a run executes
    result = _execute(_run_for(app, "user-1"))
    # Then it ends failed with the credentials function's typed refusal, and nothing was called
    assert result["status"] == "failed"
    run = runs.get_run(result["run_id"])
    assert run is not None
    assert run.error is not None
    assert run.error["type"] == "not_found"
    assert target.requests == []
