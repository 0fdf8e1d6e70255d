"""Runs survive their executor: an invocation cut short (Lambda's timeout, simulated by the local durable
execution service, which abandons the invocation and invokes the execution again) resumes from the last
completed node; a run longer than one invocation goes on in the next; a run past its deadline fails
``deadline_exceeded``. Every run ends once, with one terminal event."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from switchboard.domain.runs import RunStatus
from tests.integration.apps_runtime import (
    Runtime,
    app_runtime,
    deploy,
    http_node,
    point_connection,
    set_limits,
)
from tests.integration.conftest import World
from tests.support.fakes import HttpTarget, Reply
from tests.support.invokers import HandlerInvoker, wait_for_run

INVOCATION_TIMEOUT_S = 3
"""The executor's Lambda timeout in these tests: an upstream slower than this cuts an invocation short."""


@pytest.fixture
def rt(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    invoker = HandlerInvoker(invocation_timeout_s=INVOCATION_TIMEOUT_S, retry_backoff_s=0.1)
    with app_runtime(world, monkeypatch, invoker) as runtime:
        yield runtime


@pytest.fixture
def upstream(rt: Runtime) -> Iterator[HttpTarget]:
    with HttpTarget() as target:
        point_connection(rt.world, target.url)
        yield target


def _chain(world: World, *paths: str) -> dict[str, Any]:
    """input → one http node per path, in a chain → output of the last."""
    nodes: list[dict[str, Any]] = [{"id": "start", "type": "input", "fields": []}]
    previous = "start"
    for index, path in enumerate(paths):
        node_id = f"n{index + 1}"
        nodes.append(http_node(world, node_id, path, [previous]))
        previous = node_id
    nodes.append(
        {
            "id": "finish",
            "type": "output",
            "depends": [previous],
            "mappings": {"last": f"$.{previous}.output.body"},
        }
    )
    return {"nodes": nodes}


def _background_run(rt: Runtime) -> str:
    reply = rt.call("POST", "/v1/runs", body={"input": {}, "background": True})
    assert reply.status == 202, reply.body
    rt.drain()
    return str(reply.body["data"]["id"])


def _event_types(rt: Runtime, run_id: str) -> list[str]:
    reply = rt.call("GET", f"/v1/runs/{run_id}/events", query={"limit": "100"})
    assert reply.status == 200, reply.body
    return [event["type"] for event in reply.body["data"]]


def _node_span(rt: Runtime, run_id: str, node_id: str) -> dict[str, Any]:
    reply = rt.world.call("GET", f"/v1/apps/{rt.app_id}/traces/{run_id}", token=rt.world.admin.token)
    assert reply.status == 200, reply.body
    found = [
        span
        for span in _flat(reply.body["data"]["spans"])
        if span["kind"] == "node" and span["name"] == node_id
    ]
    assert len(found) == 1, found
    return found[0]


def _flat(spans: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for span in spans:
        yield span
        yield from _flat(span["children"])


def test_an_interrupted_node_runs_again_as_a_new_attempt_and_finished_nodes_do_not(
    rt: Runtime, upstream: HttpTarget
) -> None:
    # Given a chain first → slow → last whose slow upstream, the first time, outlasts the executor's
    # invocation (Lambda stops it mid-node), and answers at once afterwards
    upstream.respond("/first", Reply(body={"n": 1}))
    upstream.respond(
        "/slow", Reply(body={"n": 2}, delay_ms=(INVOCATION_TIMEOUT_S + 1) * 1000), Reply(body={"n": 2})
    )
    upstream.respond("/last", Reply(body={"n": 3}))
    deploy(rt.world, _chain(rt.world, "/first", "/slow", "/last"))
    # When a run executes
    run_id = _background_run(rt)
    # Then it completes, having called the first and last upstreams once and the slow one twice
    run = wait_for_run(run_id)
    assert (run.status, run.output) == (RunStatus.completed, {"last": {"n": 3}})
    calls = {path: len(upstream.requests_to(path)) for path in ("/first", "/slow", "/last")}
    assert calls == {"/first": 1, "/slow": 2, "/last": 1}
    # And the trace shows the interrupted attempt, then the one that completed
    attempts = [child for child in _node_span(rt, run_id, "n2")["children"] if child["kind"] == "attempt"]
    assert [(a["attributes"]["attempt"], a["status"]) for a in attempts] == [
        (1, "interrupted"),
        (2, "completed"),
    ]
    assert attempts[0]["error"]["type"] == "interrupted"
    # And the events tell the same story, with exactly one terminal event
    types = _event_types(rt, run_id)
    assert types.count("run.completed") == 1
    assert types[-1] == "run.completed"
    assert [t for t in types if t.startswith("run.") and t != "run.started"] == ["run.completed"]
    assert types.count("node.retrying") == 1
    # And the execution's node step shows the second attempt
    arn = rt.invoker.durable.running_or_ended(run_id)
    assert arn is not None
    steps = {op["name"]: op for op in rt.invoker.durable.operations(arn) if op["type"] == "STEP"}
    assert (steps["node:n1"]["attempt"], steps["node:n2"]["attempt"]) == (1, 2)


def test_a_run_interrupted_past_its_deadline_fails_deadline_exceeded(
    rt: Runtime, upstream: HttpTarget
) -> None:
    # Given an App whose runs may take 4 s, and a node whose upstream outlasts the invocation (3 s): the
    # invocation is cut short before the deadline, and its replay comes after it
    set_limits(rt, run_timeout_seconds=INVOCATION_TIMEOUT_S + 1)
    upstream.respond("/slow", Reply(body={"n": 1}, delay_ms=(INVOCATION_TIMEOUT_S + 2) * 1000))
    upstream.respond("/never", Reply(body={"n": 2}))
    deploy(rt.world, _chain(rt.world, "/slow", "/never"))
    # When a run executes and its invocation is cut short
    run_id = _background_run(rt)
    # Then the resumed run does not start over: it fails deadline_exceeded, once, and its next node never ran
    run = wait_for_run(run_id)
    assert run.status is RunStatus.failed
    assert run.error is not None
    assert run.error["type"] == "deadline_exceeded", run.error
    assert len(upstream.requests_to("/slow")) == 1
    assert upstream.requests_to("/never") == []
    attempts = [child for child in _node_span(rt, run_id, "n1")["children"] if child["kind"] == "attempt"]
    assert [a["status"] for a in attempts] == ["interrupted"]
    types = _event_types(rt, run_id)
    assert [t for t in types if t in ("run.completed", "run.failed", "run.canceled")] == ["run.failed"]
    assert types[-1] == "run.failed"


def test_a_run_longer_than_one_invocation_goes_on_in_the_next(
    rt: Runtime, upstream: HttpTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given invocations that work 1 s on a run before going on in a fresh one, and four nodes of 0.6 s each
    monkeypatch.setenv("EXECUTOR_INVOCATION_SECONDS", "1")
    from switchboard.settings import get_settings

    get_settings.cache_clear()
    upstream.respond("/step", Reply(body={"ok": True}, delay_ms=600))
    deploy(rt.world, _chain(rt.world, "/step", "/step", "/step", "/step"))
    # When a run executes
    run_id = _background_run(rt)
    # Then it completes, each node called once, across more than one invocation (a durable "continue" wait)
    run = wait_for_run(run_id)
    assert run.status is RunStatus.completed, run.error
    assert len(upstream.requests_to("/step")) == 4
    arn = rt.invoker.durable.running_or_ended(run_id)
    assert arn is not None
    waits = [op for op in rt.invoker.durable.operations(arn) if op["type"] == "WAIT"]
    assert len(waits) >= 1
    assert {op["name"] for op in waits} == {"continue"}
    assert _event_types(rt, run_id).count("run.completed") == 1


def test_a_run_whose_nodes_outlast_its_deadline_fails_deadline_exceeded_before_the_next_node(
    rt: Runtime, upstream: HttpTarget
) -> None:
    # Given an App whose runs may take 1 s, and a chain whose first node takes 1.5 s
    set_limits(rt, run_timeout_seconds=1)
    upstream.respond("/slow", Reply(body={"n": 1}, delay_ms=1500))
    upstream.respond("/next", Reply(body={"n": 2}))
    deploy(rt.world, _chain(rt.world, "/slow", "/next"))
    # When a run executes
    run_id = _background_run(rt)
    # Then it fails deadline_exceeded (the first node's call is cut at the deadline), and nothing after runs
    run = wait_for_run(run_id)
    assert run.status is RunStatus.failed
    assert run.error is not None
    assert run.error["type"] == "deadline_exceeded", run.error
    assert upstream.requests_to("/next") == []
    assert _event_types(rt, run_id).count("run.failed") == 1
