"""Helpers for the engine tests: build validated definitions, collect events, run, serialize results."""

from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest

from switchboard.egress import EgressPolicy
from switchboard.engine.contracts import Credential, CredentialRefresher, RunContext, RunResult, Span
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.runner import execute
from switchboard.engine.validation import validate_definition
from tests.support.fakes import FakeOpenAI, HttpTarget

OPENAI = "con-openai0"
API_KEY = "con-crm0"
PLAIN_HTTP = "con-web0"
OAUTH = "con-oauth0"
PROJECT = {OPENAI: "openai", API_KEY: "http_api_key", PLAIN_HTTP: "http", OAUTH: "oauth2"}
OPENAI_KEY = "sk-test-openai-SECRET-0123456789"
CRM_KEY = "crm-SECRET-key-abcdef"
HEADER_SECRET = "hdr-secret-value-42"

INPUT = {"id": "in", "type": "input", "fields": [{"name": "question", "type": "string"}]}
LOOPBACK_ALLOWED = EgressPolicy(allow_loopback=True)
"""The targets and models of these tests listen on 127.0.0.1: as a public upstream, behind the local flag."""


class Sink:
    """An ``EventSink`` that keeps every event, thread-safely, in call order."""

    def __init__(self, on_emit: Callable[[str, Mapping[str, Any]], None] | None = None) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        self._on_emit = on_emit

    def emit(self, event_type: str, data: Mapping[str, Any]) -> None:
        with self._lock:
            self.events.append((event_type, dict(data)))
        if self._on_emit is not None:
            self._on_emit(event_type, data)

    def types(self) -> list[str]:
        return [event_type for event_type, _ in self.events]

    def of(self, event_type: str) -> list[dict[str, Any]]:
        return [data for kind, data in self.events if kind == event_type]


class Switch:
    """A ``Cancellation``: canceled once ``cancel()`` was called or ``when()`` is true."""

    def __init__(self, when: Callable[[], bool] | None = None) -> None:
        self._canceled = threading.Event()
        self._when = when

    def cancel(self) -> None:
        self._canceled.set()

    def is_canceled(self) -> bool:
        if self._when is not None and self._when():
            self._canceled.set()
        return self._canceled.is_set()


def workflow(*nodes: dict[str, Any], requirements: list[dict[str, Any]] | None = None) -> WorkflowDefinition:
    raw = {"requirements": requirements or [], "nodes": list(nodes)}
    return validate_definition(raw, project_connections=PROJECT).definition


def output(**mappings: str) -> dict[str, Any]:
    depends = sorted({reference.split(".")[1] for reference in mappings.values()} - {"input"})
    return {"id": "out", "type": "output", "depends": depends, "mappings": mappings}


def openai_credential(llm: FakeOpenAI) -> Credential:
    config = {"api_key": OPENAI_KEY, "base_url": llm.base_url}
    return Credential(f"connection:{OPENAI}", "openai", config, (OPENAI_KEY,))


def api_key_credential(target: HttpTarget, **extra: str) -> Credential:
    config = {"url": target.url, "api_key": CRM_KEY, **extra}
    return Credential(f"connection:{API_KEY}", "http_api_key", config, (CRM_KEY,))


def http_credential(target: HttpTarget, **config: Any) -> Credential:
    secrets = tuple(config.get("headers", {}).values())
    return Credential(f"connection:{PLAIN_HTTP}", "http", {"url": target.url, **config}, secrets)


class Sleeps:
    """The injected backoff sleep: records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def run(
    definition: WorkflowDefinition,
    run_input: Mapping[str, Any] | None = None,
    *,
    credentials: list[Credential] | None = None,
    sink: Sink | None = None,
    cancellation: Switch | None = None,
    history: Sequence[Mapping[str, Any]] | None = None,
    sleep: Callable[[float], None] | None = None,
    max_workers: int = 8,
    egress: EgressPolicy = LOOPBACK_ALLOWED,
    refresh_credential: CredentialRefresher | None = None,
) -> tuple[RunResult, Sink]:
    sink = sink or Sink()
    context = RunContext(
        run_id="run-test",
        input=dict(run_input or {}),
        credentials={credential.key: credential for credential in credentials or []},
        events=sink,
        cancellation=cancellation or Switch(),
        history=list(history or []),
        max_workers=max_workers,
        egress=egress,
        refresh_credential=refresh_credential,
    )
    return execute(definition, context, sleep=sleep or Sleeps()), sink


def serialized(result: RunResult, sink: Sink) -> str:
    """Everything that leaves the engine, as one string to search."""
    return json.dumps({"result": dataclasses.asdict(result), "events": sink.events}, default=str)


def spans_of(result: RunResult, kind: str, name: str | None = None) -> list[Span]:
    return [span for span in result.spans if span.kind == kind and (name is None or span.name == name)]


def children(result: RunResult, parent: Span) -> Iterator[Span]:
    return (span for span in result.spans if span.parent_id == parent.id)


@pytest.fixture
def target() -> Iterator[HttpTarget]:
    with HttpTarget() as server:
        yield server


@pytest.fixture
def llm() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server
