"""No output size fails a run: values over 64 KB live in the files bucket under the run's prefix, the run
record, events, trace spans and checkpoints hold references (with previews), and a reader gets the whole
value inline when it fits a response, else a presigned download URL."""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from switchboard import aws
from switchboard.runtime.runs.queries import RESPONSE_BYTES
from tests.integration.apps_runtime import (
    FILES_BUCKET,
    Runtime,
    app_runtime,
    deploy,
    http_node,
    point_connection,
)
from tests.integration.conftest import World
from tests.support.fakes import HttpTarget, Reply

EVENT_BYTES_SHOWN = 40_000
"""An event as shown stays near its 32 KB storage bound (previews and references, not the value)."""


@pytest.fixture
def rt(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with app_runtime(world, monkeypatch) as runtime:
        yield runtime


def _text(size: int) -> str:
    """``size`` characters no compression would shorten much (the value the upstream answers with)."""
    rng = random.Random(size)  # noqa: S311 - test data, not a secret
    return "".join(rng.choices(string.ascii_letters + string.digits, k=size))


def _run_with_upstream_body(rt: Runtime, body: str) -> dict[str, Any]:
    """A synchronous run whose http node receives ``body`` and whose output is that body."""
    with HttpTarget() as target:
        target.respond("/big", Reply(text=body))
        point_connection(rt.world, target.url)
        deploy(
            rt.world,
            {
                "nodes": [
                    {"id": "start", "type": "input", "fields": []},
                    http_node(rt.world, "big", "/big", ["start"]),
                    {
                        "id": "finish",
                        "type": "output",
                        "depends": ["big"],
                        "mappings": {"body": "$.big.output.body"},
                    },
                ]
            },
        )
        reply = rt.call("POST", "/v1/runs", body={"input": {}})
    assert reply.status == 200, reply.raw[:2000]
    assert reply.body["data"]["status"] == "completed", reply.body["data"].get("error")
    return reply.body["data"]  # type: ignore[no-any-return]


def _artifact_keys(rt: Runtime, run_id: str) -> list[str]:
    listed = aws.client("s3").list_objects_v2(Bucket=FILES_BUCKET, Prefix=f"apps/{rt.app_id}/runs/{run_id}/")
    return [item["Key"] for item in listed.get("Contents", [])]


def _download(url: str) -> Any:
    """What a presigned URL points at (the bucket and key it was signed for), read back from S3."""
    path = unquote(urlsplit(url).path).lstrip("/")
    bucket, _, key = path.partition("/")
    assert bucket == FILES_BUCKET
    return json.loads(aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def _events(rt: Runtime, run_id: str) -> Any:
    reply = rt.call("GET", f"/v1/runs/{run_id}/events", query={"limit": "100"})
    assert reply.status == 200
    assert len(reply.raw) < RESPONSE_BYTES
    return reply.body["data"]


def test_a_600_kb_output_completes_and_reads_back_whole(rt: Runtime) -> None:
    # Given an upstream answering 600 KB / When a run takes it as its output
    body = _text(600_000)
    run = _run_with_upstream_body(rt, body)
    # Then the run answers it whole, byte for byte, and reads back the same
    assert run["output"] == {"body": body}
    again = rt.call("GET", f"/v1/runs/{run['id']}")
    assert again.body["data"]["output"]["body"] == body
    # And the value lives in the files bucket, under the run's own prefix
    keys = _artifact_keys(rt, run["id"])
    assert f"apps/{rt.app_id}/runs/{run['id']}/output.json" in keys
    # And its events carry a preview and a reference, never the value
    completed = [event for event in _events(rt, run["id"]) if event["type"] == "node.completed"]
    big = next(event for event in completed if event["data"]["node_id"] == "big")
    shown = json.dumps(big)
    assert len(shown) < EVENT_BYTES_SHOWN
    assert body[:500] in shown
    assert body not in shown
    # And the trace keeps the span, its output referenced
    trace = rt.world.call("GET", f"/v1/apps/{rt.app_id}/traces/{run['id']}", token=rt.world.admin.token)
    assert trace.status == 200, trace.body
    assert "$artifact" in trace.raw
    assert len(trace.raw) < RESPONSE_BYTES


def test_a_9_mb_output_completes_and_is_downloaded_byte_for_byte(rt: Runtime) -> None:
    # Given an upstream answering 9 MB (under the http node's 10 MiB cap) / When a run takes it as its output
    body = _text(9_000_000)
    run = _run_with_upstream_body(rt, body)
    # Then the answer fits a response: the output is a reference with a preview and a short-lived URL
    reference = run["output"]
    artifact = reference["$artifact"]
    assert reference["preview"] == json.dumps({"body": body}, separators=(",", ":"))[:1000]
    assert artifact["bytes"] > 9_000_000
    assert artifact["url_expires_in"] == 300
    assert "X-Amz-Signature=" in artifact["url"]
    assert "key" not in artifact
    # And what the URL points at is the value, byte for byte
    assert _download(artifact["url"]) == {"body": body}
    # And reading the run again answers the same way, within a response's size
    again = rt.call("GET", f"/v1/runs/{run['id']}")
    assert again.status == 200
    assert len(again.raw) < RESPONSE_BYTES
    # And every events page stays far under a response, with the run's one terminal event
    events = _events(rt, run["id"])
    assert [event["type"] for event in events].count("run.completed") == 1
