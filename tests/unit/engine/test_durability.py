"""What the engine does for durable runs, with no durable service: the run's deadline bounds every attempt
(``deadline_exceeded``, never retried), a node whose earlier attempts were interrupted goes on from the next
attempt number with the interruptions in its trace, and a ``human_input`` node outside a durable run fails
``input_unavailable`` (only the executor's runs can wait for a person)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from switchboard.engine.contracts import RunContext
from switchboard.engine.drivers import NodeTask, ThreadDriver, no_human
from switchboard.engine.records import NodeRecord
from switchboard.engine.runner import execute
from tests.support.fakes import HttpTarget, Reply
from tests.unit.engine.harness import (
    INPUT,
    LOOPBACK_ALLOWED,
    Sink,
    Sleeps,
    Switch,
    children,
    output,
    run,
    spans_of,
    workflow,
)


def _http(node_id: str, url: str, **error_handling: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "http", "config": {"url": url}, "error_handling": error_handling}


def _context(sink: Sink, deadline: float | None = None) -> RunContext:
    return RunContext(
        run_id="run-test",
        input={},
        credentials={},
        events=sink,
        cancellation=Switch(),
        deadline=deadline,
        egress=LOOPBACK_ALLOWED,
    )


def test_an_attempt_cut_by_the_runs_deadline_fails_deadline_exceeded_and_is_not_retried(
    target: HttpTarget,
) -> None:
    # Given a node with a 30 s timeout and 3 retries, a target that answers after 3 s, and a run with 1 s left
    target.respond("/slow", Reply(body={}, delay_ms=3000))
    definition = workflow(INPUT, _http("slow", f"{target.url}/slow", retries=3), output(x="$.slow.output"))
    sink, sleeps = Sink(), Sleeps()
    # When it runs
    started = time.monotonic()
    result = execute(definition, _context(sink, deadline=time.monotonic() + 1.0), sleep=sleeps)
    # Then the attempt ended at the deadline with deadline_exceeded, no retry was made, and the run failed so
    assert time.monotonic() - started < 2.5
    assert result.nodes["slow"].error is not None
    assert result.nodes["slow"].error.type == "deadline_exceeded"
    assert result.error is not None
    assert result.error.type == "deadline_exceeded"
    assert sleeps.waits == []
    assert sink.types().count("node.retrying") == 0


def test_a_node_whose_own_timeout_comes_first_still_fails_timeout_and_retries(target: HttpTarget) -> None:
    # Given a node timing out after 1 s, retried once, in a run with a minute left
    target.respond("/slow", Reply(body={}, delay_ms=1500))
    definition = workflow(
        INPUT, _http("slow", f"{target.url}/slow", timeout_seconds=1, retries=1), output(x="$.slow.output")
    )
    result = execute(definition, _context(Sink(), deadline=time.monotonic() + 60), sleep=Sleeps())
    # Then its own timeout is the error, and it was retried
    assert result.nodes["slow"].error is not None
    assert result.nodes["slow"].error.type == "timeout"
    assert len(spans_of(result, "attempt")) == 2


class _ResumingDriver(ThreadDriver):
    """Runs every task as a durable replay would after one interrupted attempt of it."""

    def run(self, tasks: Sequence[NodeTask]) -> list[NodeRecord]:
        return [task.work(self.events, 1, no_human) for task in tasks]


def test_a_node_resumed_after_an_interruption_shows_it_and_goes_on_from_the_next_attempt(
    target: HttpTarget,
) -> None:
    # Given an http node resumed after one attempt of it was cut short
    target.respond("/ok", Reply(body={"ok": True}))
    definition = workflow(INPUT, _http("call", f"{target.url}/ok"), output(x="$.call.output.body"))
    sink = Sink()
    result = execute(definition, _context(sink), sleep=Sleeps(), driver=_ResumingDriver)
    # Then it completes; its trace shows attempt 1 interrupted and attempt 2 completed
    assert result.status == "completed"
    (node,) = spans_of(result, "node", "call")
    attempts = [(span.attributes["attempt"], span.status) for span in children(result, node)]
    assert attempts == [(1, "interrupted"), (2, "completed")]
    # And the events say it was retried after the interruption, without announcing its start twice
    retrying = sink.of("node.retrying")
    assert [(event["attempt"], event["error"]["type"]) for event in retrying] == [(2, "interrupted")]
    assert [event["node_id"] for event in sink.of("node.started")].count("call") == 0


def test_a_human_input_node_outside_a_durable_run_fails_input_unavailable() -> None:
    # Given an approval node in a run without a durable service (the plain engine)
    approval = {
        "id": "ok",
        "type": "human_input",
        "depends": ["in"],
        "config": {"kind": "approval", "prompt": "Go?", "timeout_seconds": 60},
    }
    result, sink = run(workflow(INPUT, approval, output(x="$.ok.output")))
    # Then the node fails, saying it cannot wait here, and the run fails with it
    assert result.nodes["ok"].error is not None
    assert result.nodes["ok"].error.type == "input_unavailable"
    assert result.status == "failed"
    assert sink.of("node.failed")[0]["error"]["type"] == "input_unavailable"
