"""What a step sees while it runs: the run's services (credentials, events, trace, cancellation) and its
own attempt (node, resolved inputs, deadline, the attempt span to hang child spans on).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from switchboard.egress import EgressPolicy
from switchboard.engine.bounded import pool
from switchboard.engine.contracts import (
    AuthorizationFailure,
    Cancellation,
    Credential,
    CredentialRefresher,
    EventSink,
    NodeError,
    Span,
    SpanKind,
    credential_key,
)
from switchboard.engine.errors import Canceled, StepError
from switchboard.engine.mapping import RunState, materialize
from switchboard.engine.nodes import ConnectableNode, Node, StepNode
from switchboard.engine.redaction import Redactor
from switchboard.engine.tracing import SpanRecorder


@dataclass(frozen=True)
class Outcome:
    """How a node (or one tool call) ended after all its attempts."""

    status: Literal["completed", "failed", "canceled"]
    output: Any = None
    error: NodeError | None = None


ToolRunner = Callable[["StepContext", StepNode, Mapping[str, Any], Span], Outcome]


@dataclass
class Services:
    """Shared by every step of one run; safe to use from worker threads."""

    nodes: Mapping[str, Node]
    credentials: Mapping[str, Credential]
    history: Sequence[Mapping[str, Any]]
    events: EventSink
    cancellation: Cancellation
    tracer: SpanRecorder
    state: RunState
    redactor: Redactor
    sleep: Callable[[float], None]
    run_tool: ToolRunner
    deadline: float | None = None
    """``time.monotonic()`` value the run must end by; no attempt outlasts it."""
    egress: EgressPolicy = field(default_factory=EgressPolicy)
    """Where the run's requests may go (``steps.outbound`` applies it)."""
    authorization_failures: list[AuthorizationFailure] = field(default_factory=list)
    refresh_credential: CredentialRefresher | None = None
    refreshed: dict[str, Credential] = field(default_factory=dict)
    """Credentials refreshed during the run (by key): every later request uses them."""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check_canceled(self) -> None:
        if self.cancellation.is_canceled():
            raise Canceled

    def credential(self, key: str) -> Credential | None:
        with self._lock:
            return self.refreshed.get(key) or self.credentials.get(key)

    def refresh(self, used: Credential) -> Credential | None:
        """A newer credential than ``used`` (whose access token an upstream refused), kept for the rest of
        the run and redacted like the others; None when it cannot be refreshed."""
        if self.refresh_credential is None:
            return None
        fresh = self.refresh_credential(used)
        if fresh is not None:
            self.redactor.add_credential(fresh)
            with self._lock:
                self.refreshed[used.key] = fresh
        return fresh

    def record_authorization_failure(self, failure: AuthorizationFailure) -> None:
        with self._lock:
            if failure not in self.authorization_failures:
                self.authorization_failures.append(failure)


@dataclass
class StepContext:
    services: Services
    node: StepNode
    owner_id: str
    """The workflow node events are reported under: the node itself, or the agent calling it as a tool."""
    inputs: dict[str, Any]
    span: Span
    deadline: float
    """``time.monotonic()`` value after which the attempt has timed out."""
    as_tool: bool = False

    def remaining(self) -> float:
        """Seconds left for this attempt; raises the node's ``timeout`` error when none are."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise timeout_error(self.node)
        return left

    def materialize(self, value: Any, *, templated: bool = False) -> Any:
        """Resolve references in a config value; ``templated`` also renders its strings with the inputs."""
        renderer = self.render if templated else None
        return materialize(value, self.services.state, renderer)

    def render(self, template: str) -> str:
        """A template rendered with the node's inputs, bounded (``engine.bounded``)."""
        payload = {"source": template, "variables": self.inputs, "max_bytes": self.node.max_value_bytes}
        rendered: str = self.compute("render", payload)
        return rendered

    def compute(self, kind: str, payload: Mapping[str, Any]) -> Any:
        """A template, JMESPath, regex or JSON Schema task (``engine.bounded.tasks``), ended by the
        attempt's deadline with the node's ``timeout`` however much CPU it would take, or by the run's
        cancellation."""
        try:
            return pool.compute(kind, payload, self.deadline, self.services.cancellation.is_canceled)
        except pool.TimedOut:
            raise timeout_error(self.node) from None

    def credential(self) -> tuple[str, Credential] | None:
        if not isinstance(self.node, ConnectableNode) or self.node.connection is None:
            return None
        key = credential_key(self.node.connection)
        credential = self.services.credential(key)
        if credential is None:
            raise StepError(
                "missing_credential",
                f"no credential was resolved for {key}",
                {"credential_key": key},
                retryable=False,
            )
        return key, credential

    def unauthorized(self, key: str, status_code: int, upstream: str) -> StepError:
        """Record that the connection's credential was rejected, and the error that fails the node."""
        refreshed = self.services.refreshed.get(key)
        version = refreshed.config.get("token_version") if refreshed is not None else None
        self.services.record_authorization_failure(
            AuthorizationFailure(
                node_id=self.node.id,
                credential_key=key,
                status_code=status_code,
                refreshed_token_version=version if isinstance(version, int) else None,
            )
        )
        return StepError(
            "connection_unauthorized",
            f"{upstream} rejected the connection's credentials (HTTP {status_code})",
            {"credential_key": key, "status_code": status_code},
            retryable=False,
        )

    def child_span(
        self, kind: SpanKind, name: str, *, inputs: Any = None, attributes: Mapping[str, Any] | None = None
    ) -> Span:
        return self.services.tracer.start(kind, name, self.span, inputs=inputs, attributes=attributes)

    def annotate(self, attributes: Mapping[str, Any]) -> None:
        self.services.tracer.annotate(self.span, attributes)

    def emit(self, event_type: str, data: Mapping[str, Any]) -> None:
        self.services.events.emit(event_type, data)


def failure_envelope(error: NodeError) -> dict[str, Any]:
    """What a failed node with ``behavior: return`` hands on as its output."""
    return {"status": "failed", "output": None, "error": {"type": error.type, "message": error.message}}


def timeout_error(node: StepNode) -> StepError:
    seconds = node.error_handling.timeout_seconds
    return StepError("timeout", f"node '{node.id}' timed out after {seconds} s", {"timeout_seconds": seconds})
