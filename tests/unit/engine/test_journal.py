"""The run journal (``engine/journal.py``) on its own: the run's events in the order it is told of them, one
trace whose node spans hang under the run span in commit order, and each node's record, result and output
handed on; the first reason to stop wins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from switchboard.engine.contracts import REDACTED, AuthorizationFailure, NodeError, RunContext, Span
from switchboard.engine.journal import RunJournal
from switchboard.engine.mapping import RunState
from switchboard.engine.records import NodeRecord
from switchboard.engine.redaction import Redactor
from switchboard.engine.tracing import SpanRecorder
from tests.unit.engine.harness import Sink, Switch

SECRET = "sk-journal-SECRET-42"


class _Ticks:
    """A clock one second further on each call: span times show the order spans were started and ended."""

    def __init__(self) -> None:
        self._now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self._now += timedelta(seconds=1)
        return self._now


def _journal(sink: Sink) -> tuple[RunJournal, RunState]:
    state = RunState({"q": "hello"})
    tracer = SpanRecorder(Redactor([SECRET]), _Ticks())
    return RunJournal(sink, tracer, state), state


def _context(sink: Sink) -> RunContext:
    return RunContext(
        run_id="run-j",
        input={"q": "hello"},
        credentials={},
        events=sink,
        cancellation=Switch(),
        trace_id="r" * 16,
    )


def _record(journal: RunJournal, node_id: str, status: Any, **fields: Any) -> NodeRecord:
    """A node's record as its work makes it: its spans from a child recorder, under the run span."""
    tracer = journal.tracer.child()
    node = tracer.start("node", node_id, journal.run_span)
    attempt = tracer.start("attempt", f"{node_id} attempt 1", node)
    usage = fields.pop("usage", None)
    if usage is not None:
        request = tracer.start("llm_request", "chat", attempt)
        tracer.end(request, "completed", usage=usage)
    tracer.end(attempt, status)
    tracer.end(node, status)
    return NodeRecord(node_id=node_id, status=status, spans=tracer.spans(), **fields)


def _finish() -> tuple[list[tuple[str, dict[str, Any]]], Any]:
    told: list[tuple[str, dict[str, Any]]] = []
    return told, lambda event_type, data: told.append((event_type, data))


def test_the_runs_events_come_out_in_the_order_the_journal_is_told() -> None:
    # Given a journal over a sink
    sink = Sink()
    journal, _ = _journal(sink)
    told, finish = _finish()
    # When the run opens, one node is skipped, another canceled, and the run closes
    journal.open(_context(sink))
    journal.skip("b", "branch_not_taken")
    journal.cancel("c")
    journal.halt("canceled", NodeError("canceled", "the run was canceled"))
    result = journal.close(["a", "b", "c"], finish)
    # Then the sink saw them in that order, and the terminal event went to the driver's finish, once
    assert sink.events == [
        ("run.started", {"run_id": "run-j"}),
        ("node.skipped", {"node_id": "b", "reason": "branch_not_taken"}),
        ("node.canceled", {"node_id": "c"}),
    ]
    assert told == [("run.canceled", {})]
    assert result.status == "canceled"
    assert result.terminal_event == ("run.canceled", {})
    assert {node_id: node.status for node_id, node in result.nodes.items()} == {
        "a": "skipped",
        "b": "skipped",
        "c": "canceled",
    }


def test_node_spans_hang_under_the_run_span_in_commit_order_and_the_run_span_sums_their_usage() -> None:
    # Given an open journal, and two nodes whose work recorded spans (one with an LLM request)
    sink = Sink()
    journal, _ = _journal(sink)
    run_span = journal.open(_context(sink))
    second = _record(journal, "second", "completed", output=1, usage={"total_tokens": 7})
    first = _record(journal, "first", "completed", output=2, usage={"total_tokens": 5})
    # When their records are committed, "first" before "second", and the run closes
    journal.commit(first)
    journal.commit(second)
    result = journal.close(["first", "second"], _finish()[1])
    # Then the trace is the run span, then each node's spans in commit order, nested run → node → attempt
    spans: list[Span] = result.spans
    assert [(span.kind, span.name) for span in spans] == [
        ("run", "run-j"),
        ("node", "first"),
        ("attempt", "first attempt 1"),
        ("llm_request", "chat"),
        ("node", "second"),
        ("attempt", "second attempt 1"),
        ("llm_request", "chat"),
    ]
    parents = {span.id: span.parent_id for span in spans}
    by_name = {(span.kind, span.name): span for span in spans}
    assert spans[0].id == "r" * 16
    assert spans[0].parent_id is None
    assert parents[by_name[("node", "first")].id] == run_span.id
    assert parents[by_name[("attempt", "first attempt 1")].id] == by_name[("node", "first")].id
    # And the run span ended last, completed, with the usage of every LLM request of the run
    assert run_span.status == "completed"
    assert run_span.ended_at is not None
    assert all(span.ended_at is not None and span.ended_at < run_span.ended_at for span in spans[1:])
    assert run_span.usage == {"total_tokens": 12}
    assert result.usage == {"total_tokens": 12}


def test_a_completed_node_hands_its_output_on_and_the_output_node_gives_the_runs() -> None:
    # Given an open journal
    sink = Sink()
    journal, state = _journal(sink)
    journal.open(_context(sink))
    failure = AuthorizationFailure(node_id="a", credential_key="connection:con-a", status_code=401)
    # When a node completes (an upstream rejected a credential through it) and the output node completes
    goes_on = journal.commit(
        _record(journal, "a", "completed", output={"v": 1}, authorization_failures=[failure])
    )
    journal.commit(_record(journal, "out", "completed", output={"result": 1}), run_output=True)
    result = journal.close(["a", "out"], _finish()[1])
    # Then the node's dependents may go on and read its output; the run completed with the output node's
    assert goes_on is True
    assert state.resolve("$.a.output.v") == 1
    assert (result.status, result.output, result.error) == ("completed", {"result": 1}, None)
    assert result.terminal_event == ("run.completed", {"output": {"result": 1}})
    assert [record.node_id for record in result.records] == ["a", "out"]
    assert result.authorization_failures == [failure]


def test_a_failure_that_returns_goes_on_and_one_that_raises_stops_the_run_naming_the_node() -> None:
    # Given an open journal
    sink = Sink()
    journal, state = _journal(sink)
    journal.open(_context(sink))
    envelope = {"error": {"type": "http_error"}}
    returned = _record(
        journal, "soft", "failed", output=envelope, error=NodeError("http_error", "503"), behavior="return"
    )
    raised = _record(journal, "hard", "failed", error=NodeError("timeout", "too slow", {"after": 3}))
    # When a node fails with behavior return, then another fails with behavior raise
    soft_goes_on = journal.commit(returned)
    hard_goes_on = journal.commit(raised)
    result = journal.close(["soft", "hard", "later"], _finish()[1])
    # Then the returned failure is handed on as the node's output, its status stays failed
    assert soft_goes_on is True
    assert state.resolve("$.soft.output") == envelope
    assert result.nodes["soft"].status == "failed"
    # And the raised failure stopped the run, naming the node, with the node's details
    assert hard_goes_on is False
    assert journal.failed_node == "hard"
    assert result.status == "failed"
    assert result.error == NodeError(
        "timeout", "node 'hard' failed: too slow", {"node_id": "hard", "after": 3}
    )
    assert result.terminal_event[1]["error"]["type"] == "timeout"
    assert result.output is None
    assert result.nodes["later"].status == "skipped"


def test_the_first_reason_to_stop_wins() -> None:
    # Given a run that was canceled
    sink = Sink()
    journal, _ = _journal(sink)
    journal.open(_context(sink))
    first = journal.halt("canceled", NodeError("canceled", "the run was canceled"))
    # When a node then fails with behavior raise
    goes_on = journal.commit(_record(journal, "late", "failed", error=NodeError("timeout", "too slow")))
    result = journal.close(["late"], _finish()[1])
    # Then the run stays canceled: the failure is the node's only, and names no failed node for the run
    assert first is True
    assert goes_on is False
    assert journal.failed_node is None
    assert result.status == "canceled"
    assert result.error == NodeError("canceled", "the run was canceled")
    assert result.nodes["late"].status == "failed"


def test_the_run_span_is_redacted_of_the_runs_secrets() -> None:
    # Given a run whose input carries a credential secret
    sink = Sink()
    journal, _ = _journal(sink)
    context = RunContext(
        run_id="run-j", input={"q": f"key {SECRET}"}, credentials={}, events=sink, cancellation=Switch()
    )
    # When the journal opens the run
    run_span = journal.open(context)
    # Then the run span keeps the input with the secret masked, and keeps the rest
    assert SECRET not in str(run_span.inputs)
    assert run_span.inputs == {"q": f"key {REDACTED}"}
