"""Per-node error handling: timeouts, retries with exponential backoff, and raise versus return."""

from __future__ import annotations

import time
from typing import Any

from tests.support.fakes import HttpTarget, Reply
from tests.unit.engine.harness import INPUT, Sleeps, children, output, run, spans_of, workflow


def _http(node_id: str, url: str, **error_handling: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "http", "config": {"url": url}, "error_handling": error_handling}


def test_a_node_that_exceeds_its_timeout_fails_with_timeout(target: HttpTarget) -> None:
    # Given an http node with a 1 s timeout and a target that answers after 3 s
    target.respond("/slow", Reply(body={}, delay_ms=3000))
    definition = workflow(
        INPUT, _http("slow", f"{target.url}/slow", timeout_seconds=1), output(x="$.slow.output")
    )

    # When it runs
    started = time.monotonic()
    result, sink = run(definition)

    # Then the node failed with "timeout" after about the timeout, and the run failed naming the node
    assert time.monotonic() - started < 2.5
    assert result.status == "failed"
    assert result.nodes["slow"].status == "failed"
    assert result.nodes["slow"].error is not None
    assert result.nodes["slow"].error.type == "timeout"
    assert result.error is not None
    assert result.error.type == "timeout"
    assert "'slow'" in result.error.message
    assert result.error.details == {"node_id": "slow", "timeout_seconds": 1}
    assert sink.of("run.failed")[0]["error"]["type"] == "timeout"


def test_retries_back_off_exponentially_and_each_attempt_is_a_span(target: HttpTarget) -> None:
    # Given a target that fails twice, then answers, and a node allowed 3 retries
    target.respond("/flaky", Reply(status=503, body={}), Reply(status=502, body={}), Reply(body={"ok": 1}))
    node = _http("flaky", f"{target.url}/flaky", retries=3, backoff_seconds=0.5, backoff_multiplier=3)
    definition = workflow(INPUT, node, output(body="$.flaky.output.body"))
    sleeps = Sleeps()

    # When it runs
    result, sink = run(definition, sleep=sleeps)

    # Then three requests were made, the waits grew 0.5 → 1.5, and every attempt is visible
    assert result.status == "completed"
    assert result.output == {"body": {"ok": 1}}
    assert len(target.requests_to("/flaky")) == 3
    assert sleeps.waits == [0.5, 1.5]
    retrying = sink.of("node.retrying")
    assert [(event["attempt"], event["delay_seconds"]) for event in retrying] == [(2, 0.5), (3, 1.5)]
    assert retrying[0]["error"]["type"] == "http_error"
    assert retrying[0]["error"]["details"]["status_code"] == 503
    [node_span] = spans_of(result, "node", "flaky")
    attempts = list(children(result, node_span))
    assert [(span.kind, span.status, span.attributes["attempt"]) for span in attempts] == [
        ("attempt", "failed", 1),
        ("attempt", "failed", 2),
        ("attempt", "completed", 3),
    ]
    assert attempts[0].attributes["http.status_code"] == 503


def test_retries_stop_after_the_last_attempt(target: HttpTarget) -> None:
    # Given a target that always fails and a node with two retries
    target.respond("/down", Reply(status=500, body={}))
    definition = workflow(INPUT, _http("down", f"{target.url}/down", retries=2), output(x="$.down.output"))

    # When it runs
    result, _ = run(definition)

    # Then it tried three times and failed with the HTTP status
    assert len(target.requests_to("/down")) == 3
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.type == "http_error"
    assert result.error.details is not None
    assert result.error.details["status_code"] == 500


def test_errors_a_retry_cannot_fix_are_not_retried() -> None:
    # Given a transform whose template names an undefined variable, with retries allowed
    node = {
        "id": "t",
        "type": "transform",
        "config": {"template": "{{ nope }}"},
        "error_handling": {"retries": 3},
    }
    definition = workflow(INPUT, node, output(x="$.t.output"))
    sleeps = Sleeps()

    # When it runs
    result, _ = run(definition, sleep=sleeps)

    # Then one attempt was made, with no backoff
    assert result.nodes["t"].error is not None
    assert result.nodes["t"].error.type == "template_error"
    assert sleeps.waits == []
    assert len(spans_of(result, "attempt")) == 1


def test_raise_fails_the_run_and_skips_what_depends_on_the_node(target: HttpTarget) -> None:
    # Given a failing node (behavior raise) with a dependent
    target.respond("/bad", Reply(status=404, body={}))
    definition = workflow(
        INPUT,
        _http("fetch", f"{target.url}/bad", behavior="raise"),
        {"id": "after", "type": "transform", "depends": ["fetch"], "config": {"template": "x"}},
        output(x="$.after.output"),
    )

    # When it runs
    result, sink = run(definition)

    # Then the run failed naming the node, and nothing after it ran
    assert result.status == "failed"
    assert result.output is None
    assert result.error is not None
    assert result.error.details is not None
    assert result.error.details["node_id"] == "fetch"
    assert result.nodes["fetch"].status == "failed"
    assert result.nodes["after"].status == "skipped"
    assert result.nodes["out"].status == "skipped"
    assert {data["node_id"]: data["reason"] for data in sink.of("node.skipped")} == {
        "after": "dependency_failed",
        "out": "run_failed",
    }
    assert sink.types()[-1] == "run.failed"
    assert "run.completed" not in sink.types()


def test_return_hands_the_failure_envelope_to_dependents_and_the_run_completes(target: HttpTarget) -> None:
    # Given a failing node with behavior return, and a dependent reading its output
    target.respond("/bad", Reply(status=500, body={}))
    definition = workflow(
        INPUT,
        _http("fetch", f"{target.url}/bad", behavior="return"),
        {
            "id": "report",
            "type": "transform",
            "depends": ["fetch"],
            "inputs": {"result": "$.fetch.output"},
            "config": {"jmespath": "result.error.type"},
        },
        output(code="$.report.output", raw="$.fetch.output"),
    )

    # When it runs
    result, sink = run(definition)

    # Then the node is failed, its output is the envelope, and the run still completed
    envelope = result.nodes["fetch"].output
    assert result.status == "completed"
    assert result.nodes["fetch"].status == "failed"
    assert envelope["status"] == "failed"
    assert envelope["output"] is None
    assert envelope["error"]["type"] == "http_error"
    assert "HTTP 500" in envelope["error"]["message"]
    assert result.output == {"code": "http_error", "raw": envelope}
    assert sink.of("node.failed")[0]["behavior"] == "return"
    assert sink.types()[-1] == "run.completed"
