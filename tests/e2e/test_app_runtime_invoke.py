"""Direct invoke (``POST /``) of a deployed App over real HTTP on the local stack: the per-node map and the
last node's output, ``error_on_node_failure``, a multipart file reaching a node, and an async run whose
signed callback is retried through the delivery queue after the receiver answered 500."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.e2e.app_world import (
    UPSTREAM_API_KEY,
    AppWorld,
    build_app_world,
    scripted_upstream,
    wait_until,
)
from tests.e2e.conftest import LocalStackProcess
from tests.support.fakes import HttpTarget, Recorded
from tests.support.fakes import Reply as Answer
from tests.support.multipart import multipart

pytestmark = pytest.mark.e2e

CALLBACK_TOKEN = "receiver-E2E-token-5150"
BOUNDARY = "sb-e2e-boundary"
FIRST_RETRY_DELAY_S = 5
"""The delivery queue's delay before a callback's second attempt (``RETRY_DELAYS_SECONDS[0]``)."""


@pytest.fixture(scope="module")
def upstream() -> Iterator[HttpTarget]:
    with scripted_upstream() as target:
        yield target


@pytest.fixture(scope="module")
def world(local_stack_with_callbacks: LocalStackProcess, upstream: HttpTarget) -> AppWorld:
    return build_app_world(local_stack_with_callbacks, upstream.url, name="Invoke")


def upstream_bodies(upstream: HttpTarget, question: str) -> list[dict[str, Any]]:
    """What the App's http node sent upstream for runs asking ``question``."""
    bodies = [r.json() for r in upstream.requests_to("/fast") if r.body]
    return [body for body in bodies if body["question"] == question]


def test_a_sync_invoke_answers_with_every_nodes_result_or_only_the_output_nodes(
    world: AppWorld, upstream: HttpTarget
) -> None:
    # Given a deployed private App whose http node calls a loopback upstream with the connection's key
    # When it is invoked synchronously by path, without last_node_output
    per_node = world.call("POST", "/", json_body={"input": {"question": "hey"}})
    # Then 200 with the finished run, whose output is the per-node map {node: {status, output, error}}
    assert per_node.status == 200, per_node.text
    run = per_node.body["data"]
    assert (run["status"], run["app_id"], run["version"], run["mode"]) == (
        "completed",
        world.app_id,
        1,
        "sync",
    )
    assert set(run["output"]) == {"start", "shout", "check", "call", "finish"}
    assert run["output"]["shout"] == {"status": "completed", "output": "hey!", "error": None}
    assert run["output"]["call"]["output"]["body"] == {"ok": "fast"}
    assert run["output"]["finish"] == {
        "status": "completed",
        "output": {"answer": "hey!", "upstream": {"ok": "fast"}, "file": None},
        "error": None,
    }
    # And the upstream got the connection's key, which no response shows
    [sent] = [r for r in upstream.requests_to("/fast") if r.json()["question"] == "hey"]
    assert sent.headers["authorization"] == f"Bearer {UPSTREAM_API_KEY}"
    assert UPSTREAM_API_KEY not in per_node.text
    # When it is invoked by host (<app>.apps.localhost) with last_node_output
    last = world.call(
        "POST", "/", form="host", json_body={"input": {"question": "hi"}, "last_node_output": True}
    )
    # Then the output is only the output node's value
    assert last.status == 200, last.text
    assert last.body["data"]["status"] == "completed"
    assert last.body["data"]["output"] == {"answer": "hi!", "upstream": {"ok": "fast"}, "file": None}
    # And the run reads back with the output node's value, as the runs API shows it
    assert world.run(last.body["data"]["id"])["output"] == last.body["data"]["output"]


def test_error_on_node_failure_turns_a_failed_node_into_an_error(world: AppWorld) -> None:
    # Given an input the check node rejects (a question containing 'x')
    failing = {"input": {"question": "xx"}}
    # When invoked without error_on_node_failure
    plain = world.call("POST", "/", json_body=failing)
    # Then 200 with the failed run and the failed node in the per-node map
    assert plain.status == 200, plain.text
    assert plain.body["data"]["status"] == "failed"
    check = plain.body["data"]["output"]["check"]
    assert (check["status"], check["output"], check["error"]["type"]) == ("failed", None, "validation_failed")
    # When invoked with it
    flagged = world.call("POST", "/", json_body={**failing, "error_on_node_failure": True})
    # Then 502 node_failed, the error envelope naming the failed node and the run
    assert flagged.status == 502, flagged.text
    assert set(flagged.body) == {"error"}
    error = flagged.body["error"]
    assert error["code"] == "node_failed"
    assert [(n["node"], n["error"]["type"]) for n in error["details"]["failed_nodes"]] == [
        ("check", "validation_failed")
    ]
    # And that run exists and failed
    assert world.run(error["details"]["run_id"])["status"] == "failed"
    # When a run with the flag has no failed node / Then it answers 200 as usual
    fine = world.call("POST", "/", json_body={"input": {"question": "ok"}, "error_on_node_failure": True})
    assert fine.status == 200, fine.text
    assert fine.body["data"]["status"] == "completed"


def test_a_multipart_file_reaches_the_http_node_as_a_stored_reference(
    world: AppWorld, upstream: HttpTarget
) -> None:
    # Given a file with binary content and a boundary-like line
    content = b"%PDF-1.7\r\n\x00\x01binary\r\n--not-the-boundary\xff"
    body = multipart(
        [
            ("input", None, "application/json", json.dumps({"question": "read it"}).encode()),
            ("last_node_output", None, None, b"true"),
            ("doc", "report 2024.pdf", "application/pdf", content),
        ],
        BOUNDARY,
    )
    # When the App is invoked with it as multipart/form-data
    reply = world.call(
        "POST", "/", data=body, headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    )
    # Then the run completed, and its input's file field holds a reference to the stored file
    assert reply.status == 200, reply.text
    run = reply.body["data"]
    assert run["status"] == "completed"
    reference = run["input"]["doc"]
    assert set(reference) == {"name", "content_type", "size", "bucket", "key"}
    assert (reference["name"], reference["content_type"], reference["size"]) == (
        "report 2024.pdf",
        "application/pdf",
        len(content),
    )
    assert reference["key"] == f"apps/{world.app_id}/runs/{run['id']}/files/1-report_2024.pdf"
    assert reference["bucket"]
    # And the http node posted exactly that reference upstream, never the content
    [sent] = upstream_bodies(upstream, "read it")
    assert sent["doc"] == reference
    # And the output node mapped the file's name
    assert run["output"] == {"answer": "read it!", "upstream": {"ok": "fast"}, "file": "report 2024.pdf"}


def test_an_async_invoke_delivers_a_signed_callback_retried_after_a_500(
    world: AppWorld, upstream: HttpTarget
) -> None:
    # Given a loopback receiver that answers 500 once, then 204 (the stack allows loopback callbacks)
    upstream.respond("/hook", Answer(status=500), Answer(status=204))
    callback = {
        "url": f"{upstream.url}/hook",
        "auth": {"type": "bearer", "token": CALLBACK_TOKEN},
        "metadata": {"order": 7},
    }
    # When the App is invoked asynchronously with that callback
    accepted = world.call(
        "POST",
        "/",
        json_body={"input": {"question": "later"}, "execution_mode": "async", "callbacks": [callback]},
    )
    # Then 202 {id, status: accepted} with where to poll the run (path form)
    assert accepted.status == 202, accepted.text
    run_id = accepted.body["data"]["id"]
    assert accepted.body == {"data": {"id": run_id, "status": "accepted"}}
    assert accepted.headers["location"] == f"/apps/{world.app_id}/v1/runs/{run_id}"
    # And the receiver is called twice: the 500, then the retry the delivery queue holds back ~5 s
    attempts = wait_until(
        lambda: found if len(found := upstream.requests_to("/hook")) >= 2 else None,
        timeout_s=30,
        what="the callback's second attempt",
        interval_s=0.25,
    )
    assert len(attempts) == 2
    # And both attempts are the same message (same webhook-id and body), signed with the App's secret
    # and carrying the callback's bearer token
    first, second = attempts
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    for attempt in attempts:
        assert_standard_webhook_signature(world.signing_secret, attempt)
        assert attempt.headers["authorization"] == f"Bearer {CALLBACK_TOKEN}"
        assert attempt.headers["content-type"] == "application/json"
    # And the body is {id, status, output, error, metadata} of the finished run
    assert second.json() == {
        "id": run_id,
        "status": "completed",
        "output": {"answer": "later!", "upstream": {"ok": "fast"}, "file": None},
        "error": None,
        "metadata": {"order": 7},
    }
    # And the run's deliveries record both attempts, delivered, without the token
    listed = wait_until(
        lambda: (
            found
            if (found := world.call("GET", f"/v1/runs/{run_id}/deliveries")).body["data"][0]["status"]
            == "delivered"
            else None
        ),
        timeout_s=10,
        what="the delivery to be recorded delivered",
    )
    [delivery] = listed.body["data"]
    assert (delivery["id"], delivery["run_id"], delivery["url"]) == (
        first.headers["webhook-id"],
        run_id,
        callback["url"],
    )
    assert [(a["number"], a["status_code"]) for a in delivery["attempts"]] == [(1, 500), (2, 204)]
    waited = _at(delivery["attempts"][1]) - _at(delivery["attempts"][0])
    assert waited >= FIRST_RETRY_DELAY_S - 1, f"the retry came {waited:.1f}s after the first attempt"
    assert delivery["next_attempt_at"] is None
    assert CALLBACK_TOKEN not in listed.text
    # And the delivery's failure never changed the run
    assert world.run(run_id)["status"] == "completed"


def assert_standard_webhook_signature(secret: str, attempt: Recorded) -> None:
    """Standard Webhooks, checked independently: v1,base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}"))
    with the key the base64 after ``whsec_``, and a fresh timestamp."""
    message_id = attempt.headers["webhook-id"]
    timestamp = attempt.headers["webhook-timestamp"]
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{message_id}.{timestamp}.".encode() + attempt.body, hashlib.sha256).digest()
    assert f"v1,{base64.b64encode(digest).decode()}" in attempt.headers["webhook-signature"].split()
    assert abs(time.time() - int(timestamp)) < 300


def _at(attempt: dict[str, Any]) -> float:
    return datetime.fromisoformat(attempt["at"]).timestamp()
