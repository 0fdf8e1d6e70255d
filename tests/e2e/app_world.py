"""A deployed App on the local stack, built over HTTP only, and the client side of its runtime API.

``build_app_world`` creates, with the stack's bootstrap PAT: a project, an ``http_api_key`` connection to a
loopback upstream, a workflow (``upstream_workflow``), an App (keeping the signing secret it shows once), a
deployment of version 1 and an org-wide access key. ``AppWorld.call`` then calls the App by path
(``/apps/<id>/…``) or by host (``Host: <id>.apps.localhost:<port>``); ``stream`` reads an event stream
message by message as it arrives. Every wait is bounded.
"""

from __future__ import annotations

import http.client
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

from tests.e2e.conftest import LocalStackProcess
from tests.support.fakes import HttpTarget
from tests.support.fakes import Reply as Answer
from tests.support.http import Reply, request
from tests.support.workflows import upstream_workflow
from tests.support.world import Builder, HttpTransport, KeyHandle

UPSTREAM_API_KEY = "sk-upstream-E2E-SECRET-7031"
"""The connection's secret: it must reach the upstream and never come back in a response."""
SLOW_UPSTREAM_MS = 2500
"""How long the upstream's ``/slow`` path takes: long enough to act on a run while it is unfinished."""
APP_KEY = "<the world's access key>"
"""``token`` default of ``AppWorld.call``: the world's own access key (pass None to send no key)."""

Form = Literal["path", "host"]
T = TypeVar("T")


class ManagementApi:
    """The management API with the stack's bootstrap PAT; each call states the status it expects. ``builder``
    creates a world's resources (``tests.support.world``)."""

    def __init__(self, stack: LocalStackProcess) -> None:
        self.stack = stack
        self.builder = Builder(HttpTransport(stack.base_url), stack.pat, stack.org_id)

    def __call__(self, method: str, path: str, body: Any = None, *, expect: int) -> Any:
        return self.builder.data(method, path, body, expect=expect)

    def access_key(
        self, org_id: str, *, project_id: str | None = None, expires_at: str | None = None
    ) -> KeyHandle:
        """A new access key of the org ``org_id`` (scoped to ``project_id`` when given)."""
        builder = replace(self.builder, org_id=org_id)
        return builder.access_key(f"key-{uuid.uuid4().hex[:8]}", project_id=project_id, expires_at=expires_at)


@dataclass(frozen=True)
class StreamReply:
    status: int
    headers: dict[str, str]
    """Lower-cased names."""
    messages: list[SseMessage]
    text: str
    """The body when it was not an event stream (an error envelope, say)."""


@dataclass(frozen=True)
class SseMessage:
    id: int | None
    event: str | None
    data: Any
    """``data`` parsed as JSON."""


@dataclass(frozen=True)
class AppWorld:
    stack: LocalStackProcess
    api: ManagementApi
    project_id: str
    connection_id: str
    workflow_id: str
    app_id: str
    signing_secret: str
    key: str
    key_id: str

    @property
    def host(self) -> str:
        return f"{self.app_id}.apps.localhost:{self.stack.port}"

    def url(self, path: str = "/", *, form: Form = "path", app_id: str | None = None) -> str:
        """Where ``path`` of the App is, in an addressing form (the host form also needs ``Host``)."""
        if form == "host":
            return f"{self.stack.base_url}{path}"
        return f"{self.stack.base_url}/apps/{app_id or self.app_id}{path}"

    def call(
        self,
        method: str,
        path: str = "/",
        *,
        form: Form = "path",
        token: str | None = APP_KEY,
        json_body: Any = None,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        app_id: str | None = None,
    ) -> Reply:
        """One request to the App, with the world's access key unless ``token`` says otherwise."""
        all_headers = dict(headers or {})
        if form == "host":
            all_headers["Host"] = f"{app_id or self.app_id}.apps.localhost:{self.stack.port}"
        return request(
            method,
            self.url(path, form=form, app_id=app_id),
            token=self.key if token == APP_KEY else token,
            json_body=json_body,
            data=data,
            headers=all_headers,
        )

    def run(self, run_id: str) -> dict[str, Any]:
        reply = self.call("GET", f"/v1/runs/{run_id}")
        assert reply.status == 200, reply.text
        found: dict[str, Any] = reply.body["data"]
        return found

    def wait_for_status(self, run_id: str, *statuses: str, timeout_s: float = 20) -> dict[str, Any]:
        """Poll the run until its status is one of ``statuses``; the run as last read."""
        return wait_until(
            lambda: found if (found := self.run(run_id))["status"] in statuses else None,
            timeout_s,
            f"run {run_id} to become {' or '.join(statuses)}",
        )

    def stream(
        self,
        method: str,
        path: str,
        *,
        form: Form = "path",
        json_body: Any = None,
        headers: dict[str, str] | None = None,
        timeout_s: float = 30,
        on_message: Callable[[SseMessage], None] | None = None,
    ) -> StreamReply:
        """Send a request whose answer may be an event stream and read it message by message until the
        server ends it (at most ``timeout_s``); ``on_message`` sees each message as soon as it arrives."""
        prefix = "" if form == "host" else f"/apps/{self.app_id}"
        all_headers = {"Authorization": f"Bearer {self.key}", **(headers or {})}
        if form == "host":
            all_headers["Host"] = self.host
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            all_headers["Content-Type"] = "application/json"
        deadline = time.monotonic() + timeout_s
        connection = http.client.HTTPConnection("127.0.0.1", self.stack.port, timeout=timeout_s)
        try:
            connection.request(method, prefix + path, body=body, headers=all_headers)
            response = connection.getresponse()
            reply_headers = {name.lower(): value for name, value in response.getheaders()}
            if not reply_headers.get("content-type", "").startswith("text/event-stream"):
                return StreamReply(response.status, reply_headers, [], response.read().decode())
            messages = _read_messages(response, deadline, on_message)
            return StreamReply(response.status, reply_headers, messages, "")
        finally:
            connection.close()


def _read_messages(
    response: http.client.HTTPResponse, deadline: float, on_message: Callable[[SseMessage], None] | None
) -> list[SseMessage]:
    messages: list[SseMessage] = []
    fields: dict[str, str] = {}
    while True:
        assert time.monotonic() < deadline, "the event stream did not end in time"
        raw = response.readline()
        if not raw:
            return messages
        line = raw.decode().rstrip("\r\n")
        if line.startswith(":"):
            continue
        if line:
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
            continue
        if fields:
            message = SseMessage(
                id=int(fields["id"]) if "id" in fields else None,
                event=fields.get("event"),
                data=json.loads(fields["data"]) if "data" in fields else None,
            )
            messages.append(message)
            if on_message is not None:
                on_message(message)
            fields = {}


def wait_until(check: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.1) -> T:
    """``check()`` until it returns something other than None; fails after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"timed out after {timeout_s}s waiting for {what}"
        time.sleep(interval_s)


def scripted_upstream() -> HttpTarget:
    """The App's upstream (start it with ``with``): ``/fast`` answers at once, ``/slow`` after
    ``SLOW_UPSTREAM_MS``; any other path is 404 until a test scripts it."""
    target = HttpTarget()
    target.respond("/fast", Answer(body={"ok": "fast"}))
    target.respond("/slow", Answer(body={"ok": "slow"}, delay_ms=SLOW_UPSTREAM_MS))
    return target


def build_app_world(stack: LocalStackProcess, upstream_url: str, *, name: str = "Runtime") -> AppWorld:
    """A project of the bootstrap org with a deployed App of ``upstream_workflow`` calling ``upstream_url``,
    and an org-wide access key."""
    api = ManagementApi(stack)
    project_id = api.builder.project(name)
    connection_id = api.builder.connection(project_id, "upstream", upstream_url, UPSTREAM_API_KEY)
    app = api.builder.deployed_app(project_id, name, upstream_workflow(connection_id))
    assert app.signing_secret.startswith("whsec_")
    key = api.access_key(stack.org_id)
    return AppWorld(
        stack=stack,
        api=api,
        project_id=project_id,
        connection_id=connection_id,
        workflow_id=app.workflow_id,
        app_id=app.id,
        signing_secret=app.signing_secret,
        key=key.token,
        key_id=key.id,
    )
