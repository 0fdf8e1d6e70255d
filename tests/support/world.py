"""The one builder of test worlds: org → project → connection → workflow → App → deployment → access key,
created through the management API as a builder would, with the builder's PAT.

The builder talks to the management API through a transport, one of two behind the same call shape:

- ``handler_transport()`` calls the management function's handler in-process with API Gateway's event (the
  integration tests, on moto, with the other functions behind the test invoker);
- ``HttpTransport(base_url)`` calls a running local stack over 127.0.0.1 (the e2e, contract and browser
  tests).

Every create states the status it expects and fails with the request and the answer otherwise; each returns a
typed handle. The workflows the worlds deploy are in ``tests.support.workflows``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from tests.support.http import request
from tests.support.stack import LambdaContextStub, http_event, load_function


@dataclass
class Reply:
    """A handler's answer: status, lower-cased headers, the parsed JSON body (or the text) and the text."""

    status: int
    headers: dict[str, str]
    body: Any
    raw: str


class Answer(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def body(self) -> Any: ...


class Transport(Protocol):
    def __call__(self, method: str, path: str, *, token: str | None = None, body: Any = None) -> Answer: ...


class HandlerCall(Protocol):
    def __call__(self, method: str, path: str, **event: Any) -> Reply: ...


def handler_transport(function: str = "management") -> HandlerCall:
    """``call(method, path, token=…, body=…, …)``: the function's handler with an API Gateway HTTP API event
    (the keywords of ``http_event``)."""
    handler = load_function(function).lambda_handler

    def call(method: str, path: str, **event: Any) -> Reply:
        result = handler(http_event(method, path, **event), LambdaContextStub())
        raw = result.get("body") or ""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        headers = {name.lower(): value for name, value in (result.get("headers") or {}).items()}
        return Reply(result["statusCode"], headers, body, raw)

    return call


@dataclass(frozen=True)
class HttpTransport:
    """The management API of a running stack at ``base_url``."""

    base_url: str

    def __call__(self, method: str, path: str, *, token: str | None = None, body: Any = None) -> Answer:
        return request(method, f"{self.base_url}{path}", token=token, json_body=body)


@dataclass(frozen=True)
class AppHandle:
    id: str
    workflow_id: str
    signing_secret: str = field(repr=False)
    """Shown once, when the App is created."""


@dataclass(frozen=True)
class KeyHandle:
    id: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class Builder:
    """Creates a world's resources in the org ``org_id`` with the PAT ``token`` through ``send``."""

    send: Transport
    token: str = field(repr=False)
    org_id: str

    def data(self, method: str, path: str, body: Any = None, *, expect: int = 201) -> Any:
        """``method path`` with the builder's PAT, asserted to answer ``expect``: the ``data`` it holds."""
        reply = self.send(method, path, token=self.token, body=body)
        assert reply.status == expect, f"{method} {path}: {reply.status} {reply.body}"
        return reply.body["data"] if reply.body else None

    def join(self, email: str, role: str = "member") -> tuple[str, str]:
        """A new user invited to the org, who accepts without a token: their user ID and first PAT."""
        invitation = self.data("POST", f"/v1/orgs/{self.org_id}/invitations", {"email": email, "role": role})
        accepted = self.send(
            "POST", "/v1/invitations/accept", token=None, body={"token": invitation["token"]}
        )
        assert accepted.status == 201, f"accepting the invitation: {accepted.status} {accepted.body}"
        joined = accepted.body["data"]
        return joined["user"]["id"], joined["token"]["token"]

    def project(self, name: str) -> str:
        return str(self.data("POST", "/v1/projects", {"org_id": self.org_id, "name": name})["id"])

    def connection(self, project_id: str, name: str, url: str, api_key: str) -> str:
        """An ``http_api_key`` connection calling ``url`` with ``api_key``."""
        config = {"url": url, "api_key": api_key}
        body = {"project_id": project_id, "name": name, "type": "http_api_key", "config": config}
        return str(self.data("POST", "/v1/connections", body)["id"])

    def point_connection(self, connection_id: str, url: str, api_key: str) -> None:
        """The connection now calls ``url`` with ``api_key``."""
        config = {"url": url, "api_key": api_key}
        self.data("PATCH", f"/v1/connections/{connection_id}", {"config": config}, expect=200)

    def workflow(self, project_id: str, name: str, definition: dict[str, Any]) -> str:
        body = {"project_id": project_id, "name": name, "definition": definition}
        return str(self.data("POST", "/v1/workflows", body)["id"])

    def version(self, workflow_id: str, definition: dict[str, Any]) -> int:
        """Save ``definition`` as the workflow's next version: its number."""
        saved = self.data("PUT", f"/v1/workflows/{workflow_id}", {"definition": definition})
        return int(saved["version"]["number"])

    def app(self, project_id: str, name: str, workflow_id: str) -> AppHandle:
        body = {"project_id": project_id, "name": name, "workflow_id": workflow_id}
        app = self.data("POST", "/v1/apps", body)
        return AppHandle(str(app["id"]), workflow_id, str(app["signing_secret"]))

    def deploy(self, app_id: str, version: int = 1) -> None:
        self.data("POST", f"/v1/apps/{app_id}/deployments", {"version": version})

    def deployed_app(self, project_id: str, name: str, definition: dict[str, Any]) -> AppHandle:
        """A workflow of ``definition`` named ``name`` and an App of it with version 1 deployed."""
        app = self.app(project_id, name, self.workflow(project_id, name, definition))
        self.deploy(app.id)
        return app

    def access_key(
        self, name: str = "k", *, project_id: str | None = None, expires_at: str | None = None
    ) -> KeyHandle:
        """An access key of the org (scoped to ``project_id`` when given)."""
        body: dict[str, Any] = {"org_id": self.org_id, "name": name}
        if project_id is not None:
            body["project_id"] = project_id
        if expires_at is not None:
            body["expires_at"] = expires_at
        key = self.data("POST", "/v1/access-keys", body)
        return KeyHandle(str(key["id"]), str(key["token"]))
