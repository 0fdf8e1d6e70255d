"""Running: a node's work, by its step kind, on the engine's thread or as a superstep task for the driver.

Each kind of work of ``engine/step_kinds.py`` has one function here, (services, node, parent span, how to
ask a human, interrupted attempts) → the node's ``NodeRecord``:

- ``input``: the run input with its defaults (a missing required field or a wrong type fails the node);
- ``output``: the output node's mappings, resolved;
- ``step``: the node's attempts (``node_work.run_node``, retried by ``engine/attempts.py``);
- ``human_input``: the request, the wait, the answer (``engine/human_input.py``).

``NodeRunner`` runs a node inline (the engine's own events, the record handed to the driver to carry) or
makes the ``NodeTask`` a driver runs in a superstep (wherever the driver's events go).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from switchboard.engine.attempts import sleep_unless_canceled
from switchboard.engine.contracts import EventSink, NodeError, RunContext, Span
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.drivers import Ask, NodeTask, no_human
from switchboard.engine.errors import StepError
from switchboard.engine.human_input import run_human_input
from switchboard.engine.mapping import RunState, run_input_with_defaults
from switchboard.engine.node_work import (
    conclude,
    node_services,
    resolved_output,
    run_node,
    run_tool,
    start_node,
)
from switchboard.engine.nodes import HumanInputNode, InputNode, NodeBase, OutputNode, StepNode
from switchboard.engine.records import NodeRecord
from switchboard.engine.redaction import Redactor
from switchboard.engine.step_kinds import Work, kind_of
from switchboard.engine.steps import Outcome, Services
from switchboard.engine.tracing import SpanRecorder

NodeWork = Callable[[Services, Any, Span, Ask, int], NodeRecord]
"""(the node's services, the node, the run span, how to ask a human, interrupted attempts) → its record."""


def run_services(
    definition: WorkflowDefinition,
    context: RunContext,
    tracer: SpanRecorder,
    state: RunState,
    redactor: Redactor,
    events: EventSink,
    sleep: Callable[[float], None] | None,
) -> Services:
    """What every node of the run shares. ``sleep`` waits out retry backoffs (by default: a sleep that ends
    early once the run is canceled)."""
    return Services(
        nodes={node.id: node for node in definition.nodes},
        credentials=context.credentials,
        history=list(context.history),
        events=events,
        cancellation=context.cancellation,
        tracer=tracer,
        state=state,
        redactor=redactor,
        sleep=sleep or sleep_unless_canceled(context.cancellation),
        run_tool=run_tool,
        deadline=context.deadline,
        egress=context.egress,
        refresh_credential=context.refresh_credential,
    )


def _input(services: Services, node: InputNode, parent: Span, ask: Ask, interrupted: int) -> NodeRecord:
    del ask, interrupted
    span = start_node(services, node, parent)
    try:
        services.state.run_input = run_input_with_defaults(node, services.state.run_input)
    except StepError as error:
        return conclude(services, node, span, Outcome("failed", error=error.node_error()))
    outcome = Outcome("completed", output=services.redactor.value(services.state.run_input))
    return conclude(services, node, span, outcome)


def _output(services: Services, node: OutputNode, parent: Span, ask: Ask, interrupted: int) -> NodeRecord:
    del ask, interrupted
    span = start_node(services, node, parent)
    outcome = Outcome("completed", output=resolved_output(services, node.mappings))
    return conclude(services, node, span, outcome)


def _step(services: Services, node: StepNode, parent: Span, ask: Ask, interrupted: int) -> NodeRecord:
    del ask
    return run_node(services, node, parent, interrupted=interrupted)


def _human_input(
    services: Services, node: HumanInputNode, parent: Span, ask: Ask, interrupted: int
) -> NodeRecord:
    return run_human_input(services, node, parent, ask, interrupted=interrupted)


WORK: dict[Work, NodeWork] = {"input": _input, "output": _output, "step": _step, "human_input": _human_input}
"""How each kind of work of ``engine/step_kinds.py`` runs."""


class NodeRunner:
    def __init__(self, services: Services, run_span: Span, events: EventSink) -> None:
        self._services = services
        self._run_span = run_span
        self._events = events
        """The engine's own events (the driver's ``events``): where an inline node's go."""

    def inline(self, node: NodeBase) -> NodeRecord:
        """Run ``node`` now, on the engine's thread."""
        return self._work(node, self._events, 0, no_human)

    def task(self, node: StepNode) -> NodeTask:
        """``node`` as a superstep task, for the driver to run."""
        return NodeTask(node, partial(self._work, node), partial(self._fail, node))

    def _work(self, node: NodeBase, events: EventSink, interrupted: int, ask: Ask) -> NodeRecord:
        services = node_services(self._services, events)
        return WORK[kind_of(node).work](services, node, self._run_span, ask, interrupted)

    def _fail(self, node: StepNode, events: EventSink, error: NodeError) -> NodeRecord:
        """A superstep node that fails without running (every attempt of it was cut short)."""
        services = node_services(self._services, events)
        span = start_node(services, node, self._run_span, announce=False)
        return conclude(services, node, span, Outcome("failed", error=error))
