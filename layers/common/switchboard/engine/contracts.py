"""What the engine needs from the outside world and what it gives back.

The executor function supplies credentials (already resolved by the credentials function), an event sink,
a cancellation check and the session history; the engine returns a RunResult with per-node results and a
trace. Nothing here touches AWS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from switchboard.egress import EgressPolicy
from switchboard.engine.nodes import ConnectionRef

NodeStatus = Literal["completed", "failed", "skipped", "canceled"]
RunStatus = Literal["completed", "failed", "canceled"]
SpanKind = Literal["run", "node", "attempt", "agent_loop", "tool_call", "llm_request"]

REDACTED = "[REDACTED]"

_CONNECTION_REFERENCE = "connection:"
_REQUIREMENT_REFERENCE = "requirement:"


def connection_reference(connection_id: str) -> str:
    """A project connection's credential reference (``connection:<id>``): its key in
    ``RunContext.credentials`` and in the credentials function's answer."""
    return f"{_CONNECTION_REFERENCE}{connection_id}"


def requirement_reference(requirement_id: str) -> str:
    """An App requirement's credential reference (``requirement:<id>``), resolved to the end user's link."""
    return f"{_REQUIREMENT_REFERENCE}{requirement_id}"


def requirement_of(reference: str) -> str | None:
    """The requirement a credential reference names; None when it names a project connection."""
    if not reference.startswith(_REQUIREMENT_REFERENCE):
        return None
    return reference.removeprefix(_REQUIREMENT_REFERENCE)


def connection_of(reference: str) -> str | None:
    """The project connection a credential reference names; None when it names a requirement."""
    if not reference.startswith(_CONNECTION_REFERENCE):
        return None
    return reference.removeprefix(_CONNECTION_REFERENCE)


def credential_key(ref: ConnectionRef) -> str:
    """How a node's connection reference is looked up in ``RunContext.credentials``."""
    if ref.connection_id is not None:
        return connection_reference(ref.connection_id)
    return requirement_reference(str(ref.requirement))


@dataclass(frozen=True)
class Credential:
    """One resolved connection: its type and full config (non-secret fields plus secret values)."""

    key: str
    connection_type: str
    config: Mapping[str, Any]
    secret_values: tuple[str, ...] = ()
    unusable: NodeError | None = None
    """Why the credential cannot be used (an OAuth link without a usable access token): fails its node."""

    def __repr__(self) -> str:  # never print the config
        return f"Credential(key={self.key!r}, connection_type={self.connection_type!r})"


class EventSink(Protocol):
    def emit(self, event_type: str, data: Mapping[str, Any]) -> None:
        """Record one run event; the sink assigns id, sequence and timestamp, in call order."""


class Cancellation(Protocol):
    def is_canceled(self) -> bool:
        """True once cancellation was requested; the engine checks at every checkpoint."""


@dataclass
class RunContext:
    run_id: str
    input: Mapping[str, Any]
    credentials: Mapping[str, Credential]
    events: EventSink
    cancellation: Cancellation
    history: list[Mapping[str, Any]] = field(default_factory=list)
    """Earlier turns of the run's session as chat messages ({role, content}), oldest first."""
    max_workers: int = 32
    """Worker threads for the nodes that wait on I/O (http, llm, agent): enough for wide fan-outs, whose
    threads mostly wait. Nodes that only compute run on the scheduler thread."""
    clock: Callable[[], datetime] | None = None
    deadline: float | None = None
    """``time.monotonic()`` value the whole run must end by: no attempt may outlast it (None: no deadline)."""
    trace_id: str | None = None
    """The run span's id, when it must stay the same across invocations (a durable run's)."""
    egress: EgressPolicy = field(default_factory=EgressPolicy)
    """Where nodes may send requests: public addresses only, unless the deployment allows more."""
    refresh_credential: CredentialRefresher | None = None
    """Asked once when an upstream answers 401 to an OAuth credential's access token: a newer one, or None
    when it cannot be refreshed (raises the node's ``StepError`` when the refresh was refused)."""


CredentialRefresher = Callable[[Credential], "Credential | None"]


@dataclass
class Span:
    id: str
    parent_id: str | None
    kind: SpanKind
    name: str
    started_at: datetime
    ended_at: datetime | None = None
    status: str = "running"
    inputs: Any = None
    outputs: Any = None
    error: Mapping[str, Any] | None = None
    usage: Mapping[str, int] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeError:
    type: str
    message: str
    details: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class NodeResult:
    status: NodeStatus
    output: Any = None
    error: NodeError | None = None


@dataclass(frozen=True)
class AuthorizationFailure:
    """An upstream answered 401/403 through a connection: the end-user issue marks that link unauthorized."""

    node_id: str
    credential_key: str
    status_code: int
    refreshed_token_version: int | None = None
    """The OAuth token version the run refreshed the credential to before this answer (None: not refreshed):
    a token refused right after its refresh marks a project connection unauthorized."""


@dataclass
class RunResult:
    status: RunStatus
    nodes: dict[str, NodeResult]
    output: Any
    """The output node's value (its mappings resolved), or None when the run did not complete."""
    error: NodeError | None
    spans: list[Span]
    usage: dict[str, int] = field(default_factory=dict)
    authorization_failures: list[AuthorizationFailure] = field(default_factory=list)
    terminal_event: tuple[str, dict[str, Any]] = ("run.completed", {})
    """The run's terminal event (type, data), as the engine emitted it, or as the executor writes it."""
    records: list[Any] = field(default_factory=list)
    """Each node's ``engine.records.NodeRecord``, in the order they ended."""
