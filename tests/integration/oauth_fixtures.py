"""The OAuth scenes' one home: a provider (oidc-provider on 127.0.0.1) whose clients' redirect URI is this
deployment's callback, the loopback API that introspects each bearer token, and the ``Scene``: an App whose
``crm`` requirement is an account at the provider (an ``oauth2_app`` connection), with the links world around
it. A module uses the fixtures by importing them (``provider``, ``api``, ``scene``) and naming them in its
``__all__``; each module gets a provider of its own (module scope). The steps the refresh tests share live
here too: the provider's refresh count, a run's trace, runs started together, the slow token endpoint."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from switchboard import aws
from tests.integration.apps_runtime import _record, deploy
from tests.integration.conftest import World
from tests.integration.links_world import LinksWorld, links_world
from tests.support.bearer_api import IntrospectedApi
from tests.support.oauth_provider import OAuthProvider, sign_in, start_oauth_provider
from tests.support.stack import LambdaContextStub, http_event, load_function
from tests.support.workflows import echo_workflow
from tests.support.world import Reply

APPS_BASE_URL = "http://127.0.0.1:3000"
CALLBACK = f"{APPS_BASE_URL}/v1/oauth2/callback"
API_URL = "https://crm.example.test/api"
LONG_LIVED = 3600
"""The access-token lifetime (seconds) a test sets when the token must not expire during it."""


@pytest.fixture(scope="module")
def provider() -> Iterator[OAuthProvider]:
    """A provider whose clients' redirect URI is this deployment's callback."""
    with start_oauth_provider(redirect_uris=(CALLBACK,)) as started:
        yield started


@pytest.fixture
def api(provider: OAuthProvider) -> Iterator[IntrospectedApi]:
    """The upstream API that checks each bearer token at the provider; the provider's counters and knobs are
    zeroed before and after."""
    provider.reset()
    with IntrospectedApi(provider) as started:
        yield started
    provider.reset()


@pytest.fixture
def scene(world: World, monkeypatch: pytest.MonkeyPatch, provider: OAuthProvider) -> Iterator[Scene]:
    with oauth_scene(world, monkeypatch, provider) as built:
        yield built


@dataclass
class Scene:
    world: LinksWorld
    provider: OAuthProvider
    app_connection_id: str
    app_config: dict[str, Any]

    def authorize(self, token: str, **body: Any) -> Reply:
        return self.world.runtime.call(
            "POST", "/v1/connect/oauth2/authorize", token=token, body={"requirement_id": "crm", **body}
        )

    def authorization_url(self, user_id: str, **options: Any) -> str:
        reply = self.authorize(self.world.connect_token(user_id, **options).token)
        assert reply.status == 200, reply.body
        return str(reply.body["data"]["authorization_url"])

    def callback(self, query: dict[str, str], before_exchange: Callable[[str], None] | None = None) -> Reply:
        """The provider's redirect, as API Gateway hands it to the Apps function, while the dispatcher takes
        the run queue's messages (its event source); ``before_exchange`` is called with the state id of each
        exchange message before the dispatcher gets it."""
        stop = threading.Event()
        feeder = threading.Thread(target=self._feed_dispatcher, args=(stop, before_exchange), daemon=True)
        feeder.start()
        try:
            encoded = {k: urllib.parse.quote(v, safe="") for k, v in query.items()}
            event = http_event(
                "GET",
                "/v1/oauth2/callback",
                route_key="ANY /{proxy+}",
                path_parameters={"proxy": "v1/oauth2/callback"},
                host="127.0.0.1:3000",
                query=encoded,
            )
            event["queryStringParameters"] = query
            result = load_function("apps").lambda_handler(event, LambdaContextStub())
        finally:
            stop.set()
            feeder.join(10)
        headers = {k.lower(): v for k, v in (result.get("headers") or {}).items()}
        return Reply(result["statusCode"], headers, result.get("body") or "", result.get("body") or "")

    def _feed_dispatcher(self, stop: threading.Event, before: Callable[[str], None] | None) -> None:
        while not stop.is_set():
            self.dispatch("oauth2_exchange", before)
            stop.wait(0.05)

    def dispatch(self, kind: str, before: Callable[[str], None] | None = None) -> int:
        """Hand the run queue's ``kind`` messages (``oauth2_exchange``, ``oauth2_revoke``) to the dispatcher,
        as its event source would; how many."""
        sqs = aws.client("sqs")
        queue = self.world.runtime.queue_url
        handed = 0
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        for message in messages:
            body = json.loads(message["Body"])
            if kind not in body:
                continue
            if before is not None:
                before(body[kind])
            load_function("dispatcher").lambda_handler({"Records": [_record(message)]}, LambdaContextStub())
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            handed += 1
        return handed

    def sign_in(self, url: str, login: str) -> dict[str, str]:
        with httpx.Client(timeout=10) as browser:
            redirected = sign_in(browser, url, login, CALLBACK)
        return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(redirected).query))

    def link_as(self, user_id: str, login: str, **options: Any) -> Reply:
        return self.callback(self.sign_in(self.authorization_url(user_id, **options), login))

    def requirement_status(self, user_id: str) -> dict[str, Any]:
        reply = self.world.runtime.call("GET", "/v1/requirements/status", query={"user_id": user_id})
        assert reply.status == 200, reply.body
        entry: dict[str, Any] = reply.body["data"]["requirements"][0]
        return entry


def oauth_workflow(app_connection_id: str, url: str = API_URL) -> dict[str, Any]:
    """The echo workflow whose ``crm`` requirement is an account through the OAuth app, calling ``url``."""
    document = echo_workflow(requirement=True)
    document["requirements"][0].update(
        connection_type="oauth2",
        title="Connect your CRM account",
        oauth2={"app_connection_id": app_connection_id, "url": url},
    )
    return document


@contextmanager
def oauth_scene(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    provider: OAuthProvider,
    config: dict[str, Any] | None = None,
    upstream_url: str | None = API_URL,
) -> Iterator[Scene]:
    """An App whose ``crm`` requirement is an account at ``provider`` through an ``oauth2_app`` connection
    (``config``, by default the basic-auth client with all its endpoints), its node calling ``upstream_url``
    (None: no App deployed), with the links world around it."""
    monkeypatch.setenv("APPS_BASE_URL", APPS_BASE_URL)
    with links_world(world, monkeypatch) as built:
        app_config = config if config is not None else provider.app_config()
        created = world.builder.data(
            "POST",
            "/v1/connections",
            {"project_id": world.project_id, "name": "provider", "type": "oauth2_app", "config": app_config},
        )
        if upstream_url is not None:
            deploy(world, oauth_workflow(created["id"], upstream_url))
        yield Scene(built, provider, created["id"], app_config)


def refreshes(scene: Scene) -> int:
    """How many refresh requests the provider has received (since its last reset)."""
    count: int = scene.provider.stats()["token_requests"].get("refresh_token", 0)
    return count


def trace(scene: Scene, run_id: str) -> dict[str, Any]:
    """The run's trace, as the management API shows it to the builder."""
    document: dict[str, Any] = scene.world.world.builder.data(
        "GET", f"/v1/apps/{scene.world.app_id}/traces/{run_id}", expect=200
    )
    return document


def runs_together(count: int, start_run: Callable[[], Reply]) -> list[Reply]:
    """Start ``count`` runs at the same moment (one thread each, behind a barrier) and collect their replies.
    The functions are loaded once before the threads, as each execution environment has them."""
    for function in ("apps", "executor", "credentials"):
        load_function(function)
    barrier = threading.Barrier(count)
    replies: list[Reply] = []

    def start() -> None:
        barrier.wait()
        replies.append(start_run())

    threads = [threading.Thread(target=start) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return replies


def expired_behind_a_slow_token_endpoint(scene: Scene) -> int:
    """Wait until a 1 s access token has expired and slow every token request (300 ms), which widens the
    refresh race; the provider's refresh count at that moment."""
    time.sleep(1.5)
    scene.provider.knobs(token_delay_ms=300)
    return refreshes(scene)


def assert_refresh_traced_and_no_token_shown(
    scene: Scene, replies: list[Reply], tokens: list[dict[str, Any]], shown: str
) -> None:
    """The runs' traces record the refresh; no access or refresh token of ``tokens`` is in any answer, trace,
    or ``shown`` (log lines, the holder's item)."""
    traces = [trace(scene, r.body["data"]["id"]) for r in replies]
    assert True in {t["credential_resolutions"][0]["refreshed"] for t in traces}
    seen = json.dumps([r.raw for r in replies] + traces, default=str) + shown
    for values in tokens:
        for value in (values["access_token"], values["refresh_token"]):
            assert value not in seen
