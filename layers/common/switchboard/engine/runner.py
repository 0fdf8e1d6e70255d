"""Execute a validated workflow definition: ``execute(definition, context) -> RunResult``.

The run goes in **supersteps** (as in Pregel and LangGraph): the engine takes every node whose dependencies
have all ended, in the scheduled order (``graph.plan``), and

- skips it when a choice that targets it chose other nodes (or did not complete: ``branch_not_taken``), or
  when it has dependencies and all of them were skipped (``dependencies_skipped``); a reference to a skipped
  node reads ``null``. The output node is never skipped: once its dependencies have ended it resolves its
  mappings;
- runs it at once, on the engine's own thread, when it only computes (input, output, transform, choice,
  validator without retries: ``graph.runs_inline``); a chain of such nodes runs in one pass;
- otherwise collects it into the superstep: the nodes that wait on the world (http, llm, agent, human input,
  and any node with retries). The driver runs them together (``drivers``), at most ``context.max_workers`` at
  a time, and the engine applies their records once all have ended. Then the next superstep.

So what a superstep does depends only on the records of the ones before it: the order is deterministic, which
lets the executor checkpoint each superstep and replay a run after an interruption (the nodes a superstep ran
are not run again). Scheduling is O(nodes + edges): a node waits on a count of unfinished dependencies.

- The input node completes first with the run input (defaults applied); a missing required field or a
  value of the wrong type fails the run with ``invalid_input`` before any other node runs.
- A node that fails with ``behavior: raise`` fails the run: no further node starts, and every node that has
  not started is skipped (``dependency_failed`` when it depends on the failed node, else ``run_failed``).
  With ``behavior: return`` the failure envelope becomes the node's output (its status stays ``failed``) and
  its dependents run.
- Cancellation is checked before each node starts (and by steps before every LLM request and tool call, and
  before every retry): no further node starts, running nodes end their current step, and every node that did
  not finish is ``canceled``. The run then ends ``canceled``, whatever else happened.
- Tool nodes are not scheduled: they run inside agents (see ``steps.agent``) and are recorded as
  ``skipped``, without events; their calls are in the agent's output, events and spans.
- Every event, span, node output and error is redacted of every credential secret of the context.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from switchboard.engine.attempts import CANCELED
from switchboard.engine.contracts import EventSink, NodeError, NodeResult, RunContext, RunResult, Span
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.drivers import Ask, Driver, HaltRun, NodeTask, ThreadDriver
from switchboard.engine.errors import StepError
from switchboard.engine.graph import plan, skip_reason
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
from switchboard.engine.nodes import ChoiceNode, HumanInputNode, Node, NodeBase, OutputNode, StepNode
from switchboard.engine.records import NodeRecord
from switchboard.engine.redaction import RedactingSink, Redactor
from switchboard.engine.steps import Outcome, Services
from switchboard.engine.tracing import SpanRecorder, error_data

_log = logging.getLogger("switchboard.engine")

CANCELLATION_POLL_SECONDS = 1.0
TERMINAL_EVENTS = {"completed": "run.completed", "failed": "run.failed", "canceled": "run.canceled"}

DriverFactory = Callable[[RunContext, EventSink], Driver]


def execute(
    definition: WorkflowDefinition,
    context: RunContext,
    *,
    sleep: Callable[[float], None] | None = None,
    driver: DriverFactory = ThreadDriver,
) -> RunResult:
    """Run ``definition`` (already validated) for ``context``. ``sleep`` waits out retry backoffs; by
    default it sleeps, returning early once the run is canceled. ``driver`` runs the supersteps."""
    return _Run(definition, context, sleep, driver).execute()


class _Run:
    def __init__(
        self,
        definition: WorkflowDefinition,
        context: RunContext,
        sleep: Callable[[float], None] | None,
        driver: DriverFactory,
    ) -> None:
        self.definition = definition
        self.context = context
        self.redactor = Redactor.from_context(context)
        self.tracer = SpanRecorder(self.redactor, context.clock)
        self.state = RunState(context.input)
        self.driver = driver(context, RedactingSink(context.events, self.redactor))
        self.services = Services(
            nodes={node.id: node for node in definition.nodes},
            credentials=context.credentials,
            history=list(context.history),
            events=self.driver.events,
            cancellation=context.cancellation,
            tracer=self.tracer,
            state=self.state,
            redactor=self.redactor,
            sleep=sleep or self._wait,
            run_tool=run_tool,
            deadline=context.deadline,
            egress=context.egress,
        )
        self.plan = plan(definition)
        self.order = self.plan.order
        # Per position: how many of the node's dependencies have not ended yet.
        self.waiting = [len(dependencies) for dependencies in self.plan.dependencies]
        # A heap of the positions of the nodes whose dependencies have all ended, not yet considered.
        self.ready: list[int] = []
        self.selected: dict[str, set[str]] = {}
        self.results: dict[str, NodeResult] = {}
        self.records: list[NodeRecord] = []
        self.stop: Literal["failed", "canceled"] | None = None
        self.error: NodeError | None = None
        self.failed_node: str | None = None
        self.output: Any = None

    def execute(self) -> RunResult:
        self.run_span = self.tracer.start(
            "run",
            self.context.run_id,
            None,
            inputs=dict(self.context.input),
            attributes={"run.id": self.context.run_id},
            span_id=self.context.trace_id,
        )
        self.driver.events.emit("run.started", {"run_id": self.context.run_id})
        try:
            if self._start_input():
                self._supersteps()
        except HaltRun as halted:
            self._halt("failed", halted.error)
        except (
            Exception
        ) as failure:  # a bug in the scheduler still ends the run, with exactly one terminal event
            if isinstance(failure, self.driver.fatal):
                raise
            _log.exception("the engine failed unexpectedly", extra={"run_id": self.context.run_id})
            self._halt("failed", NodeError("internal_error", "the engine failed unexpectedly"))
        finally:
            self.driver.close()
        for node in self.order:
            if node.id not in self.results:
                self._abandon(node)
        return self._finish()

    def _start_input(self) -> bool:
        node = self.definition.input_node()
        services = node_services(self.services, self.driver.events)
        span = start_node(services, node, self.run_span)
        try:
            self.state.run_input = run_input_with_defaults(node, self.context.input)
        except StepError as error:
            self._apply(conclude(services, node, span, Outcome("failed", error=error.node_error())), own=True)
            return False
        outcome = Outcome("completed", output=self.redactor.value(self.state.run_input))
        self._apply(conclude(services, node, span, outcome), own=True)
        return True

    def _supersteps(self) -> None:
        # The input node has ended (and released its dependents); the other nodes without dependencies
        # are ready too.
        for position, dependencies in enumerate(self.plan.dependencies):
            if not dependencies and self.order[position].id not in self.results:
                heapq.heappush(self.ready, position)
        while True:
            tasks = self._advance()
            if self.stop is not None or not tasks:
                break
            self.driver.before_superstep()
            for record in self.driver.run(tasks):
                self._apply(record)
        if self.stop is None and len(self.results) < len(self.order):
            raise RuntimeError("nodes left that can never be ready")

    def _advance(self) -> list[NodeTask]:
        """Consider the ready nodes in scheduled order: skip them, run the ones that only compute (which may
        make more nodes ready), and collect the rest: the next superstep's tasks."""
        tasks: list[NodeTask] = []
        while self.ready and self.stop is None:
            position = heapq.heappop(self.ready)
            node = self.order[position]
            dependencies = self.plan.dependencies[position]
            reason = skip_reason(node, dependencies, self.results, self.selected, self.plan.choosers)
            if reason is not None:
                self._skip(node, reason)
                continue
            if self.driver.is_canceled():
                self._halt("canceled", CANCELED)
                return []
            if isinstance(node, OutputNode):
                self._apply(self._resolve_output(node), own=True)
            elif isinstance(node, StepNode) and node.id in self.plan.inline:
                services = node_services(self.services, self.driver.events)
                self._apply(run_node(services, node, self.run_span), own=True)
            elif isinstance(node, StepNode):
                tasks.append(NodeTask(node, partial(self._work, node), partial(self._fail, node)))
        return tasks

    def _work(self, node: StepNode, events: EventSink, interrupted: int, ask: Ask) -> NodeRecord:
        """A superstep node's work, wherever the driver runs it."""
        services = node_services(self.services, events)
        if isinstance(node, HumanInputNode):
            return run_human_input(services, node, self.run_span, ask, interrupted=interrupted)
        return run_node(services, node, self.run_span, interrupted=interrupted)

    def _fail(self, node: StepNode, events: EventSink, error: NodeError) -> NodeRecord:
        """A superstep node that fails without running (every attempt of it was cut short)."""
        services = node_services(self.services, events)
        span = start_node(services, node, self.run_span, announce=False)
        return conclude(services, node, span, Outcome("failed", error=error))

    def _resolve_output(self, node: OutputNode) -> NodeRecord:
        services = node_services(self.services, self.driver.events)
        span = start_node(services, node, self.run_span)
        return conclude(
            services, node, span, Outcome("completed", output=resolved_output(services, node.mappings))
        )

    def _apply(self, record: NodeRecord, *, own: bool = False) -> None:
        """A node ended: keep its record, hand its output on, release its dependents or stop the run.
        ``own``: the engine ran it itself (the driver did not)."""
        node = self.services.nodes[record.node_id]
        if own:
            self.driver.adopt(record)
        self.records.append(record)
        self.tracer.adopt(record.spans)
        self.results[node.id] = record.result()
        if record.status == "completed" or (record.status == "failed" and record.behavior == "return"):
            self.state.set_output(node.id, record.output)
            if record.status == "completed" and isinstance(node, ChoiceNode):
                self.selected[node.id] = set(record.output["next"])
            elif record.status == "completed" and isinstance(node, OutputNode):
                self.output = record.output
            self._release(node)
            return
        if record.status == "canceled":
            self._halt("canceled", CANCELED)
            return
        error = record.error or NodeError("internal_error", "the node failed without an error")
        details = {"node_id": node.id, **(error.details or {})}
        if self._halt("failed", NodeError(error.type, f"node '{node.id}' failed: {error.message}", details)):
            self.failed_node = node.id

    def _release(self, node: NodeBase) -> None:
        """``node`` ended: its dependents have one dependency less to wait for."""
        if self.stop is not None:
            return
        position = self.plan.position.get(node.id)
        if position is None:
            return
        for dependent in self.plan.dependents[position]:
            self.waiting[dependent] -= 1
            if self.waiting[dependent] == 0:
                heapq.heappush(self.ready, dependent)

    def _halt(self, stop: Literal["failed", "canceled"], error: NodeError) -> bool:
        """The first reason to stop wins; later ones (a node failing while the run cancels) are recorded
        on their nodes only."""
        if self.stop is not None:
            return False
        self.stop, self.error = stop, error
        return True

    def _skip(self, node: NodeBase, reason: str) -> None:
        self.results[node.id] = NodeResult("skipped")
        self.driver.events.emit("node.skipped", {"node_id": node.id, "reason": reason})
        self._release(node)

    def _abandon(self, node: Node) -> None:
        """A node that will never start, because the run stops."""
        if self.stop == "canceled":
            self.results[node.id] = NodeResult("canceled", error=CANCELED)
            self.driver.events.emit("node.canceled", {"node_id": node.id})
        elif self.failed_node is not None and self.failed_node in self._dependencies(node):
            self._skip(node, "dependency_failed")
        else:
            self._skip(node, "run_failed")

    def _dependencies(self, node: NodeBase) -> tuple[str, ...]:
        position = self.plan.position.get(node.id)
        return self.plan.dependencies[position] if position is not None else ()

    def _finish(self) -> RunResult:
        status = self.stop or "completed"
        output = self.output if status == "completed" else None
        terminal: dict[str, Any] = {"output": output} if status == "completed" else {}
        if status == "failed":
            terminal = {"error": error_data(self.error or CANCELED)}
        self.driver.finish(TERMINAL_EVENTS[status], terminal)
        usage = self.tracer.total_usage()
        self.tracer.end(self.run_span, status, outputs=output, error=self.error, usage=usage)
        nodes = {node.id: self.results.get(node.id, NodeResult("skipped")) for node in self.definition.nodes}
        return RunResult(
            status=status,
            nodes=nodes,
            output=output,
            error=self.error,
            spans=self.tracer.spans(),
            usage=usage,
            authorization_failures=[f for record in self.records for f in record.authorization_failures],
            terminal_event=(TERMINAL_EVENTS[status], terminal),
            records=self.records,
        )

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``, but stop early once the run is canceled."""
        deadline = time.monotonic() + seconds
        while not self.context.cancellation.is_canceled():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, CANCELLATION_POLL_SECONDS))


__all__ = ["Span", "execute"]
