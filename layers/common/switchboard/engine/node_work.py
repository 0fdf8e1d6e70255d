"""One node's work, from its start to its record: events, its span, its attempts, and how it ended.

``run_node`` is what a driver runs for a step node (on a worker thread, inline, or as a durable step); the
run applies the ``NodeRecord`` it returns. Everything the node emits goes to ``services.events`` and every
span it records to ``services.tracer``, both the node's own (see ``node_services``), so a node's effects can
be published where its driver wants them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from switchboard.engine.attempts import CANCELED, record_interruptions, retry_hook, run_attempts
from switchboard.engine.contracts import EventSink, NodeError, Span
from switchboard.engine.mapping import materialize
from switchboard.engine.nodes import NodeBase, StepNode
from switchboard.engine.records import NodeRecord
from switchboard.engine.steps import Outcome, Services, StepContext, failure_envelope
from switchboard.engine.tracing import error_data


def node_services(services: Services, events: EventSink) -> Services:
    """The run's services for one node: its own span recorder and authorization failures, ``events`` as the
    sink (the run's live sink, or the driver's buffer)."""
    return dataclasses.replace(
        services, events=events, tracer=services.tracer.child(), authorization_failures=[]
    )


def start_node(services: Services, node: NodeBase, parent: Span, *, announce: bool = True) -> Span:
    span = services.tracer.start("node", node.id, parent, attributes={"node.type": node.type})
    if announce:
        services.events.emit("node.started", {"node_id": node.id, "type": node.type})
    return span


def run_node(services: Services, node: StepNode, parent: Span, *, interrupted: int = 0) -> NodeRecord:
    """Start the node, resolve its inputs, make its attempts. ``interrupted`` attempts of it were cut short
    by an executor that stopped: each shows in the trace, the node is told as retrying, and the attempts
    go on from the next number."""
    span = start_node(services, node, parent, announce=interrupted == 0)
    record_interruptions(services, node, span, interrupted)
    try:
        inputs = materialize(dict(node.inputs), services.state)
        outcome = run_attempts(
            services,
            node,
            inputs,
            span,
            owner_id=node.id,
            on_retry=retry_hook(services.events, node.id),
            first_attempt=interrupted + 1,
        )
    except Exception as failure:  # never let a worker take the run down
        outcome = Outcome("failed", error=NodeError("internal_error", f"unexpected {type(failure).__name__}"))
    return conclude(services, node, span, outcome)


def conclude(services: Services, node: NodeBase, span: Span, outcome: Outcome) -> NodeRecord:
    """End the node's span, tell how it ended, and make its record."""
    tracer, events = services.tracer, services.events
    if outcome.status == "completed":
        tracer.end(span, "completed", outputs=outcome.output)
        events.emit("node.completed", {"node_id": node.id, "output": outcome.output})
        return _record(services, node, "completed", output=outcome.output)
    if outcome.status == "canceled":
        tracer.end(span, "canceled", error=CANCELED)
        events.emit("node.canceled", {"node_id": node.id})
        return _record(services, node, "canceled", error=CANCELED)
    error = outcome.error or NodeError("internal_error", "the node failed without an error")
    behavior = node.error_handling.behavior if isinstance(node, StepNode) else "raise"
    tracer.end(span, "failed", error=error, attributes={"error.behavior": behavior})
    events.emit("node.failed", {"node_id": node.id, "error": error_data(error), "behavior": behavior})
    envelope = failure_envelope(error) if behavior == "return" else None
    return _record(services, node, "failed", output=envelope, error=error, behavior=behavior)


def _record(
    services: Services,
    node: NodeBase,
    status: Any,
    *,
    output: Any = None,
    error: NodeError | None = None,
    behavior: str = "raise",
) -> NodeRecord:
    return NodeRecord(
        node_id=node.id,
        status=status,
        output=output,
        error=error,
        behavior=behavior,
        spans=services.tracer.spans(),
        authorization_failures=list(services.authorization_failures),
    )


def resolved_output(services: Services, mappings: Mapping[str, str]) -> dict[str, Any]:
    """The output node's value: each mapping resolved, redacted."""
    resolved: dict[str, Any] = services.redactor.value(
        {key: services.state.resolve(ref) for key, ref in mappings.items()}
    )
    return resolved


def run_tool(caller: StepContext, tool: StepNode, arguments: Mapping[str, Any], span: Span) -> Outcome:
    """An agent's tool call: the call's arguments fill the tool's inputs; the rest keep their values. It runs
    with the calling agent's services, deadline and events."""
    services = caller.services
    inputs = materialize(dict(tool.inputs), services.state)
    inputs.update({name: arguments[name] for name in tool.inputs if name in arguments})
    return run_attempts(
        services,
        tool,
        inputs,
        span,
        owner_id=caller.owner_id,
        on_retry=retry_hook(services.events, caller.owner_id, tool.id),
        deadline=caller.deadline,
        as_tool=True,
    )
