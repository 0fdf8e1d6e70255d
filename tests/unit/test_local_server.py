"""The local server end to end in-process, on a tiny template with fake functions and a fake bootstrap."""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from switchboard import aws
from switchboard import invoker as seam
from switchboard.domain.errors import Conflict
from switchboard.settings import get_settings
from switchboard_cli.local.server import LocalHttpServer, LocalRequestHandler, logged_target
from switchboard_cli.local.stack import CONTROL_TOKEN_HEADER, LocalStack
from switchboard_cli.local.state import SAVE_INTERVAL_S

TEMPLATE = """
Parameters:
  AppsDomain: {Type: String, Default: ""}
Conditions:
  HasAppsDomain: !Not [!Equals [!Ref AppsDomain, ""]]
Globals:
  Function:
    Timeout: 10
    Environment:
      Variables:
        ITEMS_TABLE: !Ref ItemsTable
        APPS_DOMAIN: !Ref AppsDomain
Resources:
  ItemsTable:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      TimeToLiveSpecification: {AttributeName: expires_at, Enabled: true}
  ManagementApi: {Type: AWS::Serverless::HttpApi}
  AppsApi: {Type: AWS::Serverless::HttpApi}
  AppsDomainName:
    Type: AWS::ApiGatewayV2::DomainName
    Condition: HasAppsDomain
    Properties: {DomainName: !Sub "*.${AppsDomain}"}
  AppsDomainMapping:
    Type: AWS::ApiGatewayV2::ApiMapping
    Condition: HasAppsDomain
    Properties: {ApiId: !Ref AppsApi, DomainName: !Ref AppsDomainName, Stage: $default}
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: echo/
      Handler: app.lambda_handler
      Events:
        Api: {Type: HttpApi, Properties: {ApiId: !Ref ManagementApi, Path: "/v1/{proxy+}", Method: ANY}}
        Boom: {Type: HttpApi, Properties: {ApiId: !Ref ManagementApi, Path: /v1/boom, Method: GET}}
  AppsFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: apps/
      Handler: app.lambda_handler
      Events:
        ByPath:
          Type: HttpApi
          Properties: {ApiId: !Ref AppsApi, Path: "/apps/{app_id}/{proxy+}", Method: ANY}
        ByHost: {Type: HttpApi, Properties: {ApiId: !Ref AppsApi, Path: "/{proxy+}", Method: ANY}}
"""

ECHO = """
    import json, os, time
    import boto3
    from echo_helpers import shout

    CURRENT = {}

    def lambda_handler(event, context):
        if event["rawPath"] == "/v1/boom":
            raise RuntimeError("boom")
        if event["rawPath"].startswith("/v1/slow/"):
            # Module-level request state, like a Powertools resolver's current event
            CURRENT["path"] = event["rawPath"]
            time.sleep(0.05)
            return {"statusCode": 200, "body": json.dumps({"path": CURRENT["path"]})}
        if event["requestContext"]["http"]["method"] == "POST":
            item = {"id": {"S": shout(event["pathParameters"]["proxy"])}}
            boto3.client("dynamodb").put_item(TableName=os.environ["ITEMS_TABLE"], Item=item)
        return {
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "cookies": ["seen=1"],
            "body": json.dumps({"function": context.function_name, "event": event}),
        }
"""

APPS = """
    def lambda_handler(event, context):
        params = event.get("pathParameters")
        return {"function": context.function_name, "path": event["rawPath"], "params": params}
"""


@dataclass
class Reply:
    status: int
    headers: Any
    body: Any


class FakeBootstrap:
    def __init__(self) -> None:
        self.emails: list[str] = []

    def __call__(self, email: str, org_name: str) -> Any:
        if email in self.emails:
            raise Conflict("a user with this email already exists")
        self.emails.append(email)
        number = len(self.emails)
        return SimpleNamespace(user_id=f"usr_{number}", org_id=f"org_{number}", token=f"sb_pat_fake{number}")


class Running:
    def __init__(
        self, directory: Path, bootstrap: FakeBootstrap, save_interval_s: float = SAVE_INTERVAL_S
    ) -> None:
        self.stack = LocalStack(
            directory / "template.yaml",
            directory / "state" / "state.json",
            bootstrap,
            save_interval_s=save_interval_s,
        )
        self.server = LocalHttpServer(("127.0.0.1", 0), self.stack)
        self.stack.start(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Reply:
        connection = http.client.HTTPConnection("127.0.0.1", self.stack.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            raw = response.read()
            return Reply(response.status, response.headers, json.loads(raw) if raw else None)
        finally:
            connection.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.stack.stop()


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    for name, source in (("echo", ECHO), ("apps", APPS)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text(textwrap.dedent(source))
    (tmp_path / "echo" / "echo_helpers").mkdir()
    (tmp_path / "echo" / "echo_helpers" / "__init__.py").write_text(
        "def shout(text):\n    return text.upper()\n"
    )
    environ, path, invoker = dict(os.environ), list(sys.path), seam.get_invoker()
    yield tmp_path
    os.environ.clear()
    os.environ.update(environ)
    sys.path[:] = path
    seam.set_invoker(invoker)
    sys.modules.pop("echo_helpers", None)
    aws.reset()
    get_settings.cache_clear()


@pytest.fixture
def bootstrap() -> FakeBootstrap:
    return FakeBootstrap()


@pytest.fixture
def running(project: Path, bootstrap: FakeBootstrap) -> Iterator[Running]:
    server = Running(project, bootstrap)
    yield server
    server.stop()


def test_a_management_route_gets_a_payload_2_event(running: Running):
    # When a request reaches the management API's greedy route
    reply = running.request("GET", "/v1/things?x=1&x=2", headers={"X-Custom": "A"})

    # Then the echo function got the event API Gateway would build, and its cookie came back
    assert reply.status == 200
    assert reply.body["function"] == "EchoFunction"
    event = reply.body["event"]
    assert (event["routeKey"], event["pathParameters"]) == ("ANY /v1/{proxy+}", {"proxy": "things"})
    assert event["queryStringParameters"] == {"x": "1,2"}
    assert event["headers"]["x-custom"] == "A"
    assert reply.headers["Set-Cookie"] == "seen=1"


def test_responses_go_out_without_waiting_for_nagles_algorithm(running: Running):
    # Headers and body are separate sends: with Nagle on, a keep-alive body would wait ~40 ms for an ACK
    nodelay: list[int] = []

    class Recording(LocalRequestHandler):
        def setup(self) -> None:
            super().setup()
            nodelay.append(self.connection.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    running.server.RequestHandlerClass = Recording
    assert running.request("GET", "/v1/one").status == 200
    assert len(nodelay) == 1
    assert nodelay[0] != 0


def test_the_environment_and_the_domain_are_local(running: Running):
    assert os.environ["ITEMS_TABLE"] == "ItemsTable"
    assert os.environ["APPS_DOMAIN"] == f"apps.localhost:{running.stack.port}"
    assert "AWS_PROFILE" not in os.environ


def test_apps_are_reached_by_host_and_by_path(running: Running):
    port = running.stack.port
    by_host = running.request("GET", "/v1/anything", headers={"Host": f"app-x.apps.localhost:{port}"})
    by_path = running.request("GET", "/apps/app-x/v1/runs")
    assert (by_host.status, by_host.body["function"], by_host.body["params"]) == (
        200,
        "AppsFunction",
        {"proxy": "v1/anything"},
    )
    assert by_path.body["params"] == {"app_id": "app-x", "proxy": "v1/runs"}


def test_no_route_is_api_gateways_404(running: Running):
    # The only candidate for "/" is the Apps API's greedy route, which needs at least one segment
    reply = running.request("GET", "/")
    assert (reply.status, reply.body) == (404, {"message": "Not Found"})


def test_a_handler_exception_is_api_gateways_500(running: Running):
    reply = running.request("GET", "/v1/boom")
    assert (reply.status, reply.body) == (500, {"message": "Internal Server Error"})


def test_one_function_handles_one_invocation_at_a_time(running: Running):
    # When eight requests hit the same function at once
    paths = [f"/v1/slow/{number}" for number in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        replies = list(pool.map(lambda path: running.request("GET", path), paths))

    # Then none saw another's module-level request state
    assert [reply.body["path"] for reply in replies] == paths


def test_binary_bodies_arrive_base64_encoded(running: Running):
    reply = running.request(
        "PUT", "/v1/blob", body=b"\x00\xff", headers={"Content-Type": "application/octet-stream"}
    )
    assert reply.body["event"]["isBase64Encoded"] is True
    assert reply.body["event"]["body"] == "AP8="


def test_head_sends_headers_only(running: Running):
    reply = running.request("HEAD", "/v1/things")
    assert reply.status == 200
    assert int(reply.headers["Content-Length"]) > 0
    assert reply.body is None


def test_a_body_over_10_mb_is_refused_before_any_function_runs(running: Running):
    with socket.create_connection(("127.0.0.1", running.stack.port), timeout=10) as connection:
        connection.sendall(b"POST /v1/big HTTP/1.1\r\nHost: x\r\nContent-Length: 10485761\r\n\r\n")
        received = b""
        while chunk := connection.recv(4096):
            received += chunk
    answer = received.decode()
    assert answer.startswith("HTTP/1.1 413")
    assert answer.endswith('{"message": "Request Entity Too Large"}')


def saved_items(path: Path) -> list[Any]:
    items: list[Any] = json.loads(path.read_text())["services"]["dynamodb"]["tables"]["ItemsTable"]
    return items


def test_writes_are_saved_to_the_state_file_in_the_background(running: Running):
    # When a POST writes an item
    running.request("POST", "/v1/hello", body=b"{}", headers={"Content-Type": "application/json"})

    # Then the state file holds it about a second later, while the stack keeps running
    deadline = time.monotonic() + 10
    while {"id": {"S": "HELLO"}} not in saved_items(running.stack.state.path):
        assert time.monotonic() < deadline, "the write never reached the state file"
        time.sleep(0.05)


class CountingSaves:
    def __init__(self, stack: LocalStack) -> None:
        self.count = 0
        self._save = stack.state.save
        stack.state.save = self  # type: ignore[method-assign]

    def __call__(self) -> None:
        self.count += 1
        self._save()


def test_a_burst_of_writes_is_one_save_on_a_clean_stop(project: Path, bootstrap: FakeBootstrap):
    # Given a stack whose background saves are far apart
    running = Running(project, bootstrap, save_interval_s=3600)
    saves = CountingSaves(running.stack)
    try:
        # When a burst of writes is acknowledged
        names = [f"burst{number}" for number in range(25)]
        for name in names:
            assert running.request("POST", f"/v1/{name}", body=b"{}").status == 200

        # Then none of them saved the state on its own
        assert saves.count == 0
        assert running.stack.saver.dirty
    finally:
        # When the stack stops cleanly
        running.stop()

    # Then one save wrote every acknowledged write
    assert saves.count == 1
    items = saved_items(running.stack.state.path)
    assert all({"id": {"S": name.upper()}} in items for name in names)


def test_the_control_route_needs_the_token_and_maps_conflicts(running: Running):
    # Given the control token from the state file
    token = json.loads(running.stack.state.path.read_text())["control_token"]
    body = json.dumps({"email": "x@y.z", "org": "Other"}).encode()

    # Then without it the route is forbidden, with it a new admin is made once
    assert running.request("POST", "/_local/admin/bootstrap", body).status == 403
    assert (
        running.request("POST", "/_local/admin/bootstrap", body, {CONTROL_TOKEN_HEADER: "wrong"}).status
        == 403
    )
    created = running.request("POST", "/_local/admin/bootstrap", body, {CONTROL_TOKEN_HEADER: token})
    again = running.request("POST", "/_local/admin/bootstrap", body, {CONTROL_TOKEN_HEADER: token})
    assert (created.status, created.body) == (
        201,
        {"user_id": "usr_2", "org_id": "org_2", "token": "sb_pat_fake2"},
    )
    assert again.status == 409
    assert again.body["error"]["code"] == "conflict"
    assert (
        running.request("GET", "/_local/admin/bootstrap", headers={CONTROL_TOKEN_HEADER: token}).status == 405
    )
    assert (
        running.request("POST", "/_local/admin/bootstrap", b"[]", {CONTROL_TOKEN_HEADER: token}).status == 400
    )


def test_the_fire_control_route_needs_the_token_and_a_schedule(running: Running):
    # Given the control token from the state file, and a stack without any schedule
    token = json.loads(running.stack.state.path.read_text())["control_token"]

    # Then without the token firing is forbidden, and with it an unknown schedule is 404
    assert running.request("POST", "/_local/triggers/trg-abc/fire", b"{}").status == 403
    missing = running.request("POST", "/_local/triggers/trg-abc/fire", b"{}", {CONTROL_TOKEN_HEADER: token})
    assert (missing.status, missing.body["error"]["code"]) == (404, "schedule_not_found")
    assert (
        running.request("GET", "/_local/triggers/trg-abc/fire", headers={CONTROL_TOKEN_HEADER: token}).status
        == 405
    )
    assert (
        running.request("POST", "/_local/triggers/a/b/fire", b"{}", {CONTROL_TOKEN_HEADER: token}).status
        == 404
    )


def test_state_survives_a_restart_and_bootstrap_happens_once(project: Path, bootstrap: FakeBootstrap):
    # Given a stack that bootstrapped and stored an item
    first = Running(project, bootstrap)
    try:
        first.request("POST", "/v1/kept", body=b"{}")
        admin = first.stack.admin
    finally:
        first.stop()

    # When it starts again on the same state file
    second = Running(project, bootstrap)
    try:
        # Then the admin is the same, bootstrap did not run again, and the data is back
        assert second.stack.admin == admin
        assert bootstrap.emails == ["admin@switchboard.local"]
        assert aws.dynamodb().get_item(TableName="ItemsTable", Key={"id": {"S": "KEPT"}})["Item"]
    finally:
        second.stop()


def test_the_access_line_redacts_token_query_parameters(running: Running, capsys: pytest.CaptureFixture[str]):
    # Given a request whose query carries a connect token, an OAuth code and an ordinary parameter
    path = "/v1/connect?token=sb_ct_SECRET123&code=oauth-SECRET-code&state=abc&page=2"

    # When it is served
    reply = running.request("GET", path)

    # Then the function still received every value
    assert reply.status == 200
    assert reply.body["event"]["queryStringParameters"] == {
        "token": "sb_ct_SECRET123",
        "code": "oauth-SECRET-code",
        "state": "abc",
        "page": "2",
    }
    # And the access line shows the path and the ordinary parameters, never a credential
    [line] = [line for line in capsys.readouterr().err.splitlines() if "/v1/connect" in line]
    assert '"GET /v1/connect?token=[REDACTED]&code=[REDACTED]&state=abc&page=2" 200' in line
    assert "SECRET" not in line


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("/connect/abc", "/connect/abc"),
        ("/x?access_token=a1&keep=1", "/x?access_token=[REDACTED]&keep=1"),
        ("/x?X-Amz-Signature=ab12&X-Amz-Date=2026", "/x?X-Amz-Signature=[REDACTED]&X-Amz-Date=2026"),
        ("/x?other=sb_pat_abc&flag", "/x?other=[REDACTED]&flag"),
        ("/x?tok%65n=sb_ct_a", "/x?tok%65n=[REDACTED]"),
    ],
)
def test_logged_targets(target: str, shown: str):
    assert logged_target(target) == shown
