"""How one node ended, as the engine hands it between the node's work and the run: ``NodeRecord``.

A record is everything the rest of the run needs of a node: its status, output (or failure envelope), error,
the spans it recorded and the credentials an upstream rejected through it. It converts to and from plain JSON,
so a durable run can checkpoint it and rebuild the run from it after an interruption.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from switchboard.engine.contracts import AuthorizationFailure, NodeError, NodeResult, NodeStatus, Span


@dataclass
class NodeRecord:
    node_id: str
    status: NodeStatus
    output: Any = None
    """The output handed to dependents: the node's output, or its failure envelope (``behavior: return``)."""
    error: NodeError | None = None
    behavior: str = "raise"
    """What a failure does: ``raise`` stops the run, ``return`` hands the envelope on."""
    spans: list[Span] = field(default_factory=list)
    authorization_failures: list[AuthorizationFailure] = field(default_factory=list)

    def result(self) -> NodeResult:
        return NodeResult(self.status, self.output, self.error)

    def to_json(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "status": self.status,
            "output": self.output,
            "error": asdict(self.error) if self.error is not None else None,
            "behavior": self.behavior,
            "spans": [span_to_json(span) for span in self.spans],
            "authorization_failures": [asdict(failure) for failure in self.authorization_failures],
        }

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> NodeRecord:
        error = document.get("error")
        return cls(
            node_id=document["node_id"],
            status=document["status"],
            output=document.get("output"),
            error=NodeError(**error) if error else None,
            behavior=document.get("behavior", "raise"),
            spans=[span_from_json(span) for span in document.get("spans") or []],
            authorization_failures=[
                AuthorizationFailure(**failure) for failure in document.get("authorization_failures") or []
            ],
        )


def span_to_json(span: Span) -> dict[str, Any]:
    """The span as JSON, sharing its values (inputs, outputs: already redacted JSON, never changed after the
    span ends): no deep copy, which made up most of a no-op node's cost in a durable run."""
    return {
        "id": span.id,
        "parent_id": span.parent_id,
        "kind": span.kind,
        "name": span.name,
        "started_at": span.started_at.isoformat(),
        "ended_at": span.ended_at.isoformat() if span.ended_at is not None else None,
        "status": span.status,
        "inputs": span.inputs,
        "outputs": span.outputs,
        "error": dict(span.error) if span.error is not None else None,
        "usage": dict(span.usage) if span.usage is not None else None,
        "attributes": dict(span.attributes),
    }


def span_from_json(document: dict[str, Any]) -> Span:
    ended = document.get("ended_at")
    return Span(
        **{
            **document,
            "started_at": datetime.fromisoformat(document["started_at"]),
            "ended_at": datetime.fromisoformat(ended) if ended else None,
        }
    )
