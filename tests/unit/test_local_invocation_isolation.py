"""Two overlapping invocations of one function on the local stack run in two execution environments and
share nothing a handler keeps for a request: neither sees the other's metric dimension, log key or module
global, in what it returns or in what it prints (read at the file descriptor, so it holds wherever the
environment runs)."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from switchboard import aws
from switchboard import invoker as seam
from switchboard.settings import get_settings
from tests.unit.test_local_streaming import FakeBootstrap, Server

TEMPLATE = """
Parameters:
  AppsDomain: {Type: String, Default: ""}
Resources:
  ManagementApi: {Type: AWS::Serverless::HttpApi}
  TenantFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: tenant/
      Handler: app.lambda_handler
      Timeout: 10
      Events:
        Api: {Type: HttpApi, Properties: {ApiId: !Ref ManagementApi, Path: "/tenants/{name}", Method: GET}}
"""

TENANT = """
    import sys, time
    from aws_lambda_powertools import Logger, Metrics

    logger = Logger(service="isolation-test", stream=sys.__stdout__)  # file descriptor 1, not pytest's
    metrics = Metrics(namespace="IsolationTest")
    TENANT = None

    @metrics.log_metrics
    def lambda_handler(event, context):
        global TENANT
        name = event["pathParameters"]["name"]
        TENANT = name
        metrics.add_dimension(name="tenant", value=name)
        metrics.add_metric(name="Served", unit="Count", value=1)
        logger.append_keys(tenant=name)
        time.sleep(float((event.get("queryStringParameters") or {}).get("hold", "0")))
        logger.info("served", extra={"marker": f"served-{name}"})

        return {"statusCode": 200, "body": f"{name}:{TENANT}"}
"""


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Server]:
    environ, path, invoker = dict(os.environ), list(sys.path), seam.get_invoker()
    aws.reset()
    get_settings.cache_clear()
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "tenant").mkdir()
    (tmp_path / "tenant" / "app.py").write_text(textwrap.dedent(TENANT))
    server = Server(tmp_path / "template.yaml", tmp_path / "state.json", FakeBootstrap())
    yield server
    server.stop()
    os.environ.clear()
    os.environ.update(environ)
    sys.path[:] = path
    seam.set_invoker(invoker)
    aws.reset()
    get_settings.cache_clear()


def printed(out: str, key: str) -> list[dict[str, Any]]:
    """The JSON documents printed on stdout that carry ``key``."""
    documents = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [document for document in documents if key in document]


def stdout_once(capfd: pytest.CaptureFixture[str], key: str, count: int) -> str:
    """The stack's stdout once ``count`` documents carrying ``key`` reached it: a worker's output reaches the
    stack's through a relay thread, a moment after the invocation answered (at most 10 s)."""
    out, deadline = "", time.monotonic() + 10
    while len(printed(out, key)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        out += capfd.readouterr().out
    return out


def test_overlapping_invocations_share_no_dimension_log_key_or_module_global(
    running: Server, capfd: pytest.CaptureFixture[str]
):
    # Given a function whose handler sets a metric dimension, a log key and a module global from its request
    # When a slow invocation ("alpha", 0.6 s) and a quick one ("beta") overlap
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(running.request, "GET", "/tenants/alpha?hold=0.6")
        quick = pool.submit(running.request, "GET", "/tenants/beta?hold=0.1")
        replies = [slow.result(), quick.result()]

    # Then two environments answered, and each invocation still saw its own module global at its end
    assert replies == [(200, b"alpha:alpha"), (200, b"beta:beta")]
    assert running.stack.functions["TenantFunction"].environment_count == 2
    out = stdout_once(capfd, "_aws", 2)
    # And each published metric carries only its own tenant dimension
    published = printed(out, "_aws")
    assert sorted(document["tenant"] for document in published) == ["alpha", "beta"]
    assert all(
        document["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["tenant", "service"]]
        for document in published
    )
    # And each log line carries only its own tenant key
    logged = sorted((line["marker"], line["tenant"]) for line in printed(out, "marker"))
    assert logged == [("served-alpha", "alpha"), ("served-beta", "beta")]


def test_a_request_in_the_same_environment_after_another_sees_its_own_tenant(
    running: Server, capfd: pytest.CaptureFixture[str]
):
    # Given one environment that served "alpha"
    assert running.request("GET", "/tenants/alpha") == (200, b"alpha:alpha")

    # When the same environment serves "beta" next (no overlap: the warm environment is reused)
    assert running.request("GET", "/tenants/beta") == (200, b"beta:beta")

    # Then one environment served both, and the second metric carries beta's dimension only
    assert running.stack.functions["TenantFunction"].environment_count == 1
    published = printed(stdout_once(capfd, "_aws", 2), "_aws")
    assert [document["tenant"] for document in published] == ["alpha", "beta"]
