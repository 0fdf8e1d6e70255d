"""Streaming on the local stack: responses sent while the handler runs, and concurrent invocations of one
function in their own execution environments (worker processes), each with its own Powertools request state.

The first tests use a tiny template with fake functions; the last ones run the real template (the stack in the
test's process, its functions in worker processes) and stream a real run's events through the Apps function.
"""

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
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from switchboard import aws
from switchboard import invoker as seam
from switchboard.settings import get_settings
from switchboard_cli.local.functions import FunctionThrottledError
from switchboard_cli.local.server import LocalHttpServer
from switchboard_cli.local.stack import Bootstrapper, LocalStack, bootstrap_with_runtime
from switchboard_cli.local.workers import FunctionTimeoutError

ROOT = Path(__file__).resolve().parents[2]

TEMPLATE = """
Parameters:
  AppsDomain: {Type: String, Default: ""}
Globals:
  Function:
    Timeout: 10
Resources:
  ManagementApi: {Type: AWS::Serverless::HttpApi}
  AppsApi: {Type: AWS::Serverless::HttpApi}
  ResolverFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: resolver/
      Handler: app.lambda_handler
      Events:
        Api: {Type: HttpApi, Properties: {ApiId: !Ref ManagementApi, Path: "/v1/{proxy+}", Method: ANY}}
  OtherResolverFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: other/
      Handler: app.lambda_handler
      Events:
        Api: {Type: HttpApi, Properties: {ApiId: !Ref ManagementApi, Path: "/v2/{proxy+}", Method: ANY}}
  StreamFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: streamer/
      Handler: app.lambda_handler
      Timeout: 2
      Events:
        ByPath:
          Type: HttpApi
          Properties: {ApiId: !Ref AppsApi, Path: "/apps/{app_id}/{proxy+}", Method: ANY}
"""

STREAMER = """
    import json, os, pathlib, time, uuid
    from switchboard import streaming
    import streamer_helpers

    ENVIRONMENT = uuid.uuid4().hex

    def lambda_handler(event, context):
        command = event["pathParameters"]["proxy"]
        query = event.get("queryStringParameters") or {}
        if command == "stream":
            stream = streaming.open_stream(200, {"Content-Type": "text/event-stream", "X-Kind": "live"})
            if stream is None:
                return {"statusCode": 200, "body": "no transport"}
            for number in range(int(query.get("count", "3"))):
                stream.write(f"data: {number}\\n\\n".encode())
                time.sleep(float(query.get("pause", "0.3")))
            if query.get("fail"):
                raise RuntimeError("broke after the stream opened")
            return {"statusCode": 200, "body": "never sent"}
        if command == "until-closed":
            stream = streaming.open_stream(200, {"Content-Type": "text/plain"})
            stream.write(b"open\\n")
            while not stream.closed:
                time.sleep(0.02)
            pathlib.Path(query["mark"]).write_text("noticed")
            return {"statusCode": 200, "body": ""}
        time.sleep(float(query.get("hold", "0")))
        identity = {"environment": ENVIRONMENT, "process": os.getpid(), "helpers": streamer_helpers.__name__}
        headers = {"content-type": "application/json"}
        return {"statusCode": 200, "headers": headers, "body": json.dumps(identity)}
"""

RESOLVER = """
    import time
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    app = APIGatewayHttpResolver()
    metrics = Metrics(namespace="LocalStreamingTest")

    @app.get("/<version>/whoami/<name>")
    def whoami(version: str, name: str):
        metrics.add_metric(name=f"Seen{name}", unit="Count", value=1)
        time.sleep(float(app.current_event.get_query_string_value("pause", "0")))
        return {"name": name, "path": app.current_event.path, "request": app.lambda_context.aws_request_id}

    @metrics.log_metrics
    def lambda_handler(event, context):
        return app.resolve(event, context)
"""


class FakeBootstrap:
    def __call__(self, email: str, org_name: str) -> Any:
        return SimpleNamespace(user_id="usr_1", org_id="org_1", token="sb_pat_fake")


@dataclass
class Received:
    status: int
    headers: dict[str, str]
    chunks: list[tuple[float, bytes]] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return b"".join(chunk for _, chunk in self.chunks)


class Server:
    def __init__(self, template: Path, state: Path, bootstrap: Bootstrapper = bootstrap_with_runtime) -> None:
        self.stack = LocalStack(template, state, bootstrap)
        self.server = LocalHttpServer(("127.0.0.1", 0), self.stack)
        self.stack.start(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.stack.port

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            all_headers = {"Content-Type": "application/json", **(headers or {})}
            connection.request(method, path, body=payload, headers=all_headers)
            response = connection.getresponse()
            raw = response.read()
            is_json = (response.headers.get("Content-Type") or "").startswith("application/json")
            return response.status, json.loads(raw) if raw and is_json else raw
        finally:
            connection.close()

    def stream(self, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Received:
        """Read a streamed response line by line, noting when each line arrived."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            received = Received(response.status, {k.lower(): v for k, v in response.headers.items()})
            while line := response.readline():
                received.chunks.append((time.monotonic(), line))
            return received
        finally:
            connection.close()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.stack.stop()


@pytest.fixture
def clean_process() -> Iterator[None]:
    environ, path, invoker = dict(os.environ), list(sys.path), seam.get_invoker()
    aws.reset()
    get_settings.cache_clear()
    yield
    os.environ.clear()
    os.environ.update(environ)
    sys.path[:] = path
    seam.set_invoker(invoker)
    sys.modules.pop("streamer_helpers", None)
    aws.reset()
    get_settings.cache_clear()


@pytest.fixture
def running(tmp_path: Path, clean_process: None) -> Iterator[Server]:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    for name, source in (("streamer", STREAMER), ("resolver", RESOLVER), ("other", RESOLVER)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text(textwrap.dedent(source))
    (tmp_path / "streamer" / "streamer_helpers").mkdir()
    (tmp_path / "streamer" / "streamer_helpers" / "__init__.py").write_text("")
    server = Server(tmp_path / "template.yaml", tmp_path / "state.json", FakeBootstrap())
    yield server
    server.stop()


def test_a_streamed_response_arrives_chunk_by_chunk_while_the_handler_runs(running: Server):
    # When a handler opens a stream and writes three chunks 0.3 s apart
    received = running.stream("/apps/a/stream?count=3&pause=0.3")

    # Then the headers were the handler's, the body came chunked, and each chunk arrived on its own
    assert received.status == 200
    assert (received.headers["content-type"], received.headers["x-kind"]) == ("text/event-stream", "live")
    assert received.headers["transfer-encoding"] == "chunked"
    assert "content-length" not in received.headers
    assert received.body == b"data: 0\n\ndata: 1\n\ndata: 2\n\n"
    first_at, last_at = received.chunks[0][0], received.chunks[-1][0]
    assert last_at - first_at >= 0.5


def test_the_connection_stays_usable_after_a_chunked_stream(running: Server):
    connection = http.client.HTTPConnection("127.0.0.1", running.port, timeout=10)
    try:
        connection.request("GET", "/apps/a/stream?count=2&pause=0")
        first = connection.getresponse().read()
        connection.request("GET", "/apps/a/identity")
        second = connection.getresponse()
        assert (first, second.status) == (b"data: 0\n\ndata: 1\n\n", 200)
        assert "environment" in json.loads(second.read())
    finally:
        connection.close()


def test_an_http_1_0_client_gets_the_stream_until_the_connection_closes(running: Server):
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as connection:
        connection.sendall(b"GET /apps/a/stream?count=2&pause=0 HTTP/1.0\r\nHost: x\r\n\r\n")
        received = b""
        while chunk := connection.recv(4096):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Connection: close" in head
    assert b"Transfer-Encoding" not in head
    assert body == b"data: 0\n\ndata: 1\n\n"


def test_a_handler_that_fails_after_opening_leaves_the_response_unterminated(running: Server):
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as connection:
        connection.sendall(b"GET /apps/a/stream?count=1&pause=0&fail=1 HTTP/1.1\r\nHost: x\r\n\r\n")
        received = b""
        while chunk := connection.recv(4096):
            received += chunk
    # The chunk that was written arrived, the final zero-length chunk never did, and the connection closed
    assert received.startswith(b"HTTP/1.1 200")
    assert received.endswith(b"9\r\ndata: 0\n\n\r\n")


def test_head_gets_no_stream(running: Server):
    status, body = running.request("HEAD", "/apps/a/stream?count=1&pause=0")
    assert (status, body) == (200, b"")


def _read_until(connection: socket.socket, marker: bytes, seconds: float = 10) -> bytes:
    """Bytes received until ``marker`` arrived (headers and chunks may come in separate segments)."""
    received = b""
    deadline = time.monotonic() + seconds
    while marker not in received and time.monotonic() < deadline:
        chunk = connection.recv(4096)
        if not chunk:
            break
        received += chunk
    return received


def test_a_client_that_leaves_closes_the_stream_for_the_handler(running: Server, tmp_path: Path):
    # Given a handler that waits for its stream to close
    mark = tmp_path / "noticed"
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as connection:
        connection.sendall(f"GET /apps/a/until-closed?mark={mark} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        assert b"open" in _read_until(connection, b"open")
    # When the client went away, Then the handler noticed without writing anything
    deadline = time.monotonic() + 5
    while not mark.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert mark.read_text() == "noticed"


def test_stopping_the_server_closes_open_streams(running: Server, tmp_path: Path):
    # Given an open stream whose handler waits for it to close
    mark = tmp_path / "noticed"
    opened = threading.Event()

    def listen() -> None:
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as connection:
            connection.sendall(f"GET /apps/a/until-closed?mark={mark} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            _read_until(connection, b"open")
            opened.set()
            while connection.recv(4096):
                pass

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert opened.wait(5)

    # When the server closes, Then the handler was told before the stack stopped
    running.server.shutdown()
    running.server.server_close()
    assert mark.read_text() == "noticed"


def test_another_request_to_the_same_function_is_answered_while_a_stream_is_open(running: Server):
    # Given a stream that stays open for about 1.5 s
    with ThreadPoolExecutor(max_workers=1) as pool:
        streaming = pool.submit(running.stream, "/apps/a/stream?count=5&pause=0.3")
        time.sleep(0.3)

        # When the same function gets another request meanwhile
        began = time.monotonic()
        status, identity = running.request("GET", "/apps/a/identity")
        assert "environment" in identity
        answered_in = time.monotonic() - began
        streamed = streaming.result()

    # Then it was answered at once, by a second execution environment
    assert (status, streamed.status) == (200, 200)
    assert answered_in < 1.0
    assert streamed.body.count(b"data:") == 5
    assert running.stack.functions["StreamFunction"].environment_count == 2


def test_each_environment_is_a_process_of_its_own_that_imports_the_function(running: Server):
    # When three requests hold the same function at once
    with ThreadPoolExecutor(max_workers=3) as pool:
        replies = list(pool.map(lambda _: running.request("GET", "/apps/a/identity?hold=0.4"), range(3)))

    # Then three environments answered, each a process other than the stack's, with the function's package
    identities = [body for _, body in replies]
    assert len({identity["environment"] for identity in identities}) == 3
    processes = {identity["process"] for identity in identities}
    assert len(processes) == 3
    assert os.getpid() not in processes
    assert {identity["helpers"] for identity in identities} == {"streamer_helpers"}


def test_environments_are_bounded_and_a_request_waits_for_a_free_one(running: Server):
    # Given a function limited to two environments
    function = running.stack.functions["StreamFunction"]
    function.max_environments = 2

    # When three requests hold it for 0.5 s each
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=3) as pool:
        replies = list(pool.map(lambda _: running.request("GET", "/apps/a/identity?hold=0.5"), range(3)))
    elapsed = time.monotonic() - began

    # Then all were answered by two environments, the third after one became free
    assert [status for status, _ in replies] == [200, 200, 200]
    assert len({body["environment"] for _, body in replies}) == 2
    assert elapsed >= 1.0


def test_an_invocation_past_the_function_timeout_loses_its_environment_and_the_next_gets_a_new_one(
    running: Server,
):
    # Given a function (timeout 2 s) limited to one environment, which a first request warmed
    function = running.stack.functions["StreamFunction"]
    function.max_environments = 1
    warm = function.call({"pathParameters": {"proxy": "identity"}})
    first = json.loads(warm["body"])

    # When an invocation holds it for longer than the timeout
    began = time.monotonic()
    with pytest.raises(FunctionTimeoutError):
        function.call({"pathParameters": {"proxy": "identity"}, "queryStringParameters": {"hold": "5"}})

    # Then it was stopped at the timeout, its process is gone, and the next invocation is a cold start
    assert time.monotonic() - began < 4
    with pytest.raises(ProcessLookupError):
        os.kill(first["process"], 0)
    after = json.loads(function.call({"pathParameters": {"proxy": "identity"}})["body"])
    assert after["environment"] != first["environment"]
    assert function.environment_count == 1


def test_a_request_that_waits_longer_than_the_function_timeout_is_throttled(running: Server):
    # Given a function limited to one environment, held (by the pool itself) past the function's timeout
    function = running.stack.functions["StreamFunction"]
    function.max_environments = 1
    with function._environment():
        # When another invocation comes, Then it is throttled once it has waited as long as the timeout
        began = time.monotonic()
        with pytest.raises(FunctionThrottledError):
            function.call({"pathParameters": {"proxy": "identity"}})
        assert time.monotonic() - began >= 2

    # And once the environment is free again, the function answers
    assert function.call({"pathParameters": {"proxy": "identity"}})["statusCode"] == 200


def test_concurrent_powertools_invocations_keep_their_own_request_state(
    running: Server, capfd: pytest.CaptureFixture[str]
):
    # When two invocations of one resolver function and one of another overlap
    calls = [
        ("/v1/whoami/slow?pause=0.5", 0.0),
        ("/v2/whoami/other", 0.1),
        ("/v1/whoami/quick?pause=0.1", 0.2),
    ]

    def call(path: str, delay: float) -> Any:
        time.sleep(delay)
        return running.request("GET", path)

    with ThreadPoolExecutor(max_workers=3) as pool:
        replies = list(pool.map(lambda args: call(*args), calls))

    # Then each answered from its own event and Lambda context
    bodies = [body for _, body in replies]
    assert [(body["name"], body["path"]) for body in bodies] == [
        ("slow", "/v1/whoami/slow"),
        ("other", "/v2/whoami/other"),
        ("quick", "/v1/whoami/quick"),
    ]
    assert len({body["request"] for body in bodies}) == 3
    # And each flushed only its own metric
    published = [json.loads(line) for line in capfd.readouterr().out.splitlines() if '"_aws"' in line]
    names = sorted(
        tuple(metric["Name"] for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"])
        for document in published
    )
    assert names == [("Seenother",), ("Seenquick",), ("Seenslow",)]


# The real template, in-process: the Apps function streams a run's events as they are written.


@pytest.fixture
def real_stack(tmp_path: Path, clean_process: None) -> Iterator[Server]:
    server = Server(ROOT / "template.yaml", tmp_path / "state.json")
    yield server
    server.stop()


@dataclass
class DeployedApp:
    app_id: str
    key: str


def deploy_app(server: Server) -> DeployedApp:
    from tests.integration.conftest import definition

    auth = {"Authorization": f"Bearer {server.stack.admin.token}"}
    org_id = server.stack.admin.org_id

    def created(path: str, body: dict[str, Any]) -> Any:
        status, reply = server.request("POST", path, body, auth)
        assert status == 201, reply
        return reply["data"]

    project = created("/v1/projects", {"org_id": org_id, "name": "Streams"})
    workflow = created(
        "/v1/workflows", {"project_id": project["id"], "name": "wf", "definition": definition()}
    )
    app = created("/v1/apps", {"project_id": project["id"], "name": "Live", "workflow_id": workflow["id"]})
    created(f"/v1/apps/{app['id']}/deployments", {"version": 1})
    key = created("/v1/access-keys", {"org_id": org_id, "name": "streams"})
    return DeployedApp(app["id"], key["token"])


def test_the_apps_function_streams_a_runs_events_live_and_answers_meanwhile(real_stack: Server):
    from switchboard.domain.runs import RunStatus
    from tests.support.run_states import ended_run, started_run, with_events

    # Given a started run of a deployed App, whose events the "executor" writes 0.4 s apart
    app = deploy_app(real_stack)
    run = started_run(app.app_id)
    written: dict[int, float] = {}
    answered = threading.Event()

    def execute() -> None:
        for sequence, event_type in enumerate(("run.started", "node.completed"), start=1):
            time.sleep(0.4)
            with_events(run, event_type)
            written[sequence] = time.monotonic()
        # the run ends once the App has answered (or after 10 s: an App that cannot answer while it
        # streams answers only after the stream ended, and the test fails)
        answered.wait(timeout=10)
        ended_run(run, RunStatus.completed, output={})
        written[3] = time.monotonic()

    auth = {"Authorization": f"Bearer {app.key}"}
    executor = threading.Thread(target=execute, daemon=True)
    with ThreadPoolExecutor(max_workers=1) as pool:
        executor.start()
        streaming = pool.submit(real_stack.stream, f"/apps/{app.app_id}/v1/runs/{run.id}/stream", auth)

        # When the App is asked about itself while the stream is open
        time.sleep(0.6)
        status, info = real_stack.request("GET", f"/apps/{app.app_id}/", headers=auth)
        streaming_when_answered = not streaming.done() and 3 not in written
        answered.set()
        received = streaming.result()
    executor.join()

    # Then the App answered while the stream was still open, before the run ended
    assert (status, info["data"]["id"]) == (200, app.app_id)
    assert streaming_when_answered
    # And each event reached the client as an SSE message soon after it was written, before the run ended
    assert received.status == 200
    assert received.headers["content-type"] == "text/event-stream"
    ids = [(at, line) for at, line in received.chunks if line.startswith(b"id: ")]
    assert [line for _, line in ids] == [b"id: 1\n", b"id: 2\n", b"id: 3\n"]
    assert ids[0][0] < written[3]
    for (arrived, _), sequence in zip(ids, (1, 2, 3), strict=True):
        assert arrived - written[sequence] < 1.5


def test_a_run_created_with_stream_is_executed_and_streamed(real_stack: Server):
    # When a run is created with stream: true over HTTP
    app = deploy_app(real_stack)
    received = real_stack_post_stream(real_stack, app)

    # Then the run's events come as SSE up to its terminal event, and the run is then complete
    assert received.status == 200
    events = [line for _, line in received.chunks if line.startswith(b"event: ")]
    assert events[0] == b"event: run.started\n"
    assert events[-1] == b"event: run.completed\n"
    data = [json.loads(line[len(b"data: ") :]) for _, line in received.chunks if line.startswith(b"data: ")]
    run_id = data[0]["data"]["run_id"]
    status, run = real_stack.request(
        "GET", f"/apps/{app.app_id}/v1/runs/{run_id}", headers={"Authorization": f"Bearer {app.key}"}
    )
    assert (status, run["data"]["status"]) == (200, "completed")


def real_stack_post_stream(server: Server, app: DeployedApp) -> Received:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        body = json.dumps({"input": {"question": "hi"}, "stream": True})
        headers = {"Authorization": f"Bearer {app.key}", "Content-Type": "application/json"}
        connection.request("POST", f"/apps/{app.app_id}/v1/runs", body=body, headers=headers)
        response = connection.getresponse()
        received = Received(response.status, {k.lower(): v for k, v in response.headers.items()})
        while line := response.readline():
            received.chunks.append((time.monotonic(), line))
        return received
    finally:
        connection.close()
