"""Execute a validated workflow definition: ``execute(definition, context) -> RunResult``.

Scheduling rules (docs/workflow-definition.md, plus the decisions it leaves open):

- The input node completes first with the run input (defaults applied); a missing required field or a
  value of the wrong type fails the run with ``invalid_input`` before any other node runs.
- A node is considered once every dependency has ended. It is **skipped** when a choice that targets it
  chose other nodes (or did not complete: ``branch_not_taken``), or when it has dependencies and all of
  them were skipped (``dependencies_skipped``). Otherwise it runs; a reference to a skipped node reads
  ``null``. The output node is never skipped: once its dependencies have ended it resolves its mappings.
- Independent nodes run concurrently, at most ``context.max_workers`` at a time on worker threads. A step
  that only computes (transform, choice, validator; no retries) runs on the scheduler thread instead,
  between hand-offs: a thread would cost more than the step, and gain nothing under the GIL.
- Scheduling is O(nodes + edges): a node waits on a count of unfinished dependencies, and a node that ends
  only updates its dependents. Ready nodes are considered in the scheduled order (``graph.plan``).
- A node that fails with ``behavior: raise`` fails the run: no further node starts, nodes already
  running finish, and every node that has not started is skipped (``dependency_failed`` when it depends
  on the failed node, else ``run_failed``). With ``behavior: return`` the failure envelope becomes the
  node's output (its status stays ``failed``) and its dependents run.
- Cancellation is checked before each node starts (and by steps before every LLM request and tool
  call, and before every retry): no further node starts, running nodes end their current step, and every
  node that did not finish is ``canceled``. The run then ends ``canceled``, whatever else happened.
- Tool nodes are not scheduled: they run inside agents (see ``steps.agent``) and are recorded as
  ``skipped``, without events; their calls are in the agent's output, events and spans.
- Every event, span, node output and error is redacted of every credential secret of the context.
"""

from __future__ import annotations

import contextvars
import heapq
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from queue import SimpleQueue
from typing import Any, Literal

from switchboard.engine.attempts import CANCELED, RetryHook, run_attempts
from switchboard.engine.contracts import NodeError, NodeResult, RunContext, RunResult, Span
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.errors import StepError
from switchboard.engine.graph import plan, skip_reason
from switchboard.engine.mapping import RunState, materialize, run_input_with_defaults
from switchboard.engine.nodes import ChoiceNode, Node, NodeBase, OutputNode, StepNode
from switchboard.engine.redaction import RedactingSink, Redactor
from switchboard.engine.steps import Outcome, Services, StepContext, failure_envelope
from switchboard.engine.tracing import SpanRecorder, error_data

CANCELLATION_POLL_SECONDS = 1.0


def execute(
    definition: WorkflowDefinition, context: RunContext, *, sleep: Callable[[float], None] | None = None
) -> RunResult:
    """Run ``definition`` (already validated) for ``context``. ``sleep`` waits out retry backoffs; by
    default it sleeps, returning early once the run is canceled.
    """
    return _Run(definition, context, sleep).execute()


class _Run:
    def __init__(
        self, definition: WorkflowDefinition, context: RunContext, sleep: Callable[[float], None] | None
    ) -> None:
        self.definition = definition
        self.context = context
        self.nodes: dict[str, Node] = {node.id: node for node in definition.nodes}
        self.redactor = Redactor.from_context(context)
        self.events = RedactingSink(context.events, self.redactor)
        self.tracer = SpanRecorder(self.redactor, context.clock)
        self.state = RunState(context.input)
        self.services = Services(
            nodes=self.nodes,
            credentials=context.credentials,
            history=list(context.history),
            events=self.events,
            cancellation=context.cancellation,
            tracer=self.tracer,
            state=self.state,
            redactor=self.redactor,
            sleep=sleep or self._wait,
            run_tool=self._run_tool,
        )
        self.plan = plan(definition)
        self.order = self.plan.order
        # Per position: how many of the node's dependencies have not ended yet.
        self.waiting = [len(dependencies) for dependencies in self.plan.dependencies]
        # A heap of the positions of the nodes whose dependencies have all ended, not yet considered.
        self.ready: list[int] = []
        # Started nodes that run on the scheduler thread, once the current pass is over.
        self.inline: deque[tuple[StepNode, Span]] = deque()
        # What the worker threads hand back: each node they ran, with its outcome.
        self.completions: SimpleQueue[tuple[StepNode, Outcome]] = SimpleQueue()
        self.running = 0
        self.abandoned = False
        self.selected: dict[str, set[str]] = {}
        self.results: dict[str, NodeResult] = {}
        self.node_spans: dict[str, Span] = {}
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
        )
        self.events.emit("run.started", {"run_id": self.context.run_id})
        try:
            if self._start_input():
                self._schedule()
        except Exception:  # a bug in the scheduler still ends the run, with exactly one terminal event
            self._halt("failed", NodeError("internal_error", "the engine failed unexpectedly"))
        for node in self.order:
            if node.id not in self.results:
                self._abandon(node)
        return self._finish()

    def _start_input(self) -> bool:
        node = self.definition.input_node()
        self._start_node(node)
        try:
            self.state.run_input = run_input_with_defaults(node, self.context.input)
        except StepError as error:
            self._record(node, Outcome("failed", error=error.node_error()))
            return False
        self._record(node, Outcome("completed", output=self.redactor.value(self.state.run_input)))
        return True

    def _schedule(self) -> None:
        # The input node has ended (and released its dependents); the other nodes without dependencies
        # are ready too.
        for position, dependencies in enumerate(self.plan.dependencies):
            if not dependencies and self.order[position].id not in self.results:
                heapq.heappush(self.ready, position)
        workers = max(1, self.context.max_workers)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="switchboard-node") as pool:
            while True:
                self._collect(block=False)
                if self.stop is not None:
                    self._abandon_unstarted()
                if self.ready:
                    self._advance(pool)
                elif self.inline:
                    node, span = self.inline.popleft()
                    self._record(node, self._run_node(node, span))
                elif self.running:
                    self._collect(block=True)
                else:
                    break
        if self.stop is None and len(self.results) < len(self.order):
            raise RuntimeError("nodes left that can never be ready")

    def _advance(self, pool: ThreadPoolExecutor) -> None:
        """One pass over the ready nodes in scheduled order: a skip is seen by the nodes after it in the
        same pass (their positions are higher)."""
        while self.ready:
            position = heapq.heappop(self.ready)
            node = self.order[position]
            dependencies = self.plan.dependencies[position]
            reason = skip_reason(node, dependencies, self.results, self.selected, self.plan.choosers)
            if reason is not None:
                self._skip(node, reason)
                continue
            if self.context.cancellation.is_canceled():
                self._halt("canceled", CANCELED)
                self._abandon(node)
                self._abandon_unstarted(after=position)
                return
            span = self._start_node(node)
            if isinstance(node, OutputNode):
                self._record(node, self._resolve_output(node))
            elif isinstance(node, StepNode):
                if node.id in self.plan.inline:
                    self.inline.append((node, span))
                else:
                    self.running += 1
                    pool.submit(self._work, contextvars.copy_context(), node, span)

    def _work(self, context: contextvars.Context, node: StepNode, span: Span) -> None:
        """In a worker thread, in a copy of the caller's context: always hands an outcome back."""
        outcome = Outcome("failed", error=NodeError("internal_error", "the node's worker failed"))
        try:
            outcome = context.run(self._run_node, node, span)
        finally:
            self.completions.put((node, outcome))

    def _collect(self, *, block: bool) -> None:
        """Record the outcomes the workers handed back; with ``block``, wait for at least one."""
        if block:
            self._collected(*self.completions.get())
        while not self.completions.empty():
            self._collected(*self.completions.get_nowait())

    def _collected(self, node: StepNode, outcome: Outcome) -> None:
        self.running -= 1
        self._record(node, outcome)

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

    def _abandon_unstarted(self, after: int = -1) -> None:
        """The run stops: every node not started yet never will; from the one after ``after``, in order."""
        if self.abandoned:
            return
        self.abandoned = True
        self.ready.clear()
        start = after + 1
        for node in (*self.order[start:], *self.order[:start]):
            if node.id not in self.results and node.id not in self.node_spans:
                self._abandon(node)

    def _run_node(self, node: StepNode, span: Span) -> Outcome:
        """In a worker thread (or inline): resolve the inputs, then make the attempts."""
        try:
            inputs = materialize(dict(node.inputs), self.state)
            return run_attempts(
                self.services, node, inputs, span, owner_id=node.id, on_retry=self._retrying(node.id)
            )
        except Exception as failure:  # never let a worker take the scheduler down
            error = NodeError("internal_error", f"unexpected {type(failure).__name__}")
            return Outcome("failed", error=error)

    def _run_tool(
        self, caller: StepContext, tool: StepNode, arguments: Mapping[str, Any], span: Span
    ) -> Outcome:
        """An agent's tool call: the call's arguments fill the tool's inputs; the rest keep their values."""
        inputs = materialize(dict(tool.inputs), self.state)
        inputs.update({name: arguments[name] for name in tool.inputs if name in arguments})
        return run_attempts(
            self.services,
            tool,
            inputs,
            span,
            owner_id=caller.owner_id,
            on_retry=self._retrying(caller.owner_id, tool.id),
            deadline=caller.deadline,
            as_tool=True,
        )

    def _retrying(self, node_id: str, tool_id: str | None = None) -> RetryHook:
        def emit(attempt: int, error: NodeError, delay: float) -> None:
            data = {
                "node_id": node_id,
                "attempt": attempt,
                "error": error_data(error),
                "delay_seconds": delay,
            }
            self.events.emit("node.retrying", data if tool_id is None else {**data, "tool": tool_id})

        return emit

    def _resolve_output(self, node: OutputNode) -> Outcome:
        output = {key: self.state.resolve(reference) for key, reference in node.mappings.items()}
        return Outcome("completed", output=self.redactor.value(output))

    def _start_node(self, node: NodeBase) -> Span:
        span = self.tracer.start("node", node.id, self.run_span, attributes={"node.type": node.type})
        self.node_spans[node.id] = span
        self.events.emit("node.started", {"node_id": node.id, "type": node.type})
        return span

    def _record(self, node: NodeBase, outcome: Outcome) -> None:
        span = self.node_spans[node.id]
        if outcome.status == "completed":
            self.state.set_output(node.id, outcome.output)
            self.results[node.id] = NodeResult("completed", outcome.output)
            self.tracer.end(span, "completed", outputs=outcome.output)
            self.events.emit("node.completed", {"node_id": node.id, "output": outcome.output})
            if isinstance(node, ChoiceNode):
                self.selected[node.id] = set(outcome.output["next"])
            elif isinstance(node, OutputNode):
                self.output = outcome.output
            self._release(node)
            return
        if outcome.status == "canceled":
            self.results[node.id] = NodeResult("canceled", error=CANCELED)
            self.tracer.end(span, "canceled", error=CANCELED)
            self.events.emit("node.canceled", {"node_id": node.id})
            self._halt("canceled", CANCELED)
            return
        error = outcome.error or NodeError("internal_error", "the node failed without an error")
        behavior = node.error_handling.behavior if isinstance(node, StepNode) else "raise"
        self.tracer.end(span, "failed", error=error, attributes={"error.behavior": behavior})
        self.events.emit(
            "node.failed", {"node_id": node.id, "error": error_data(error), "behavior": behavior}
        )
        if behavior == "return":
            envelope = failure_envelope(error)
            self.state.set_output(node.id, envelope)
            self.results[node.id] = NodeResult("failed", envelope, error)
            self._release(node)
            return
        self.results[node.id] = NodeResult("failed", error=error)
        details = {"node_id": node.id, **(error.details or {})}
        if self._halt("failed", NodeError(error.type, f"node '{node.id}' failed: {error.message}", details)):
            self.failed_node = node.id

    def _halt(self, stop: Literal["failed", "canceled"], error: NodeError) -> bool:
        """The first reason to stop wins; later ones (a node failing while the run cancels) are recorded
        on their nodes only."""
        if self.stop is not None:
            return False
        self.stop, self.error = stop, error
        return True

    def _skip(self, node: NodeBase, reason: str) -> None:
        self.results[node.id] = NodeResult("skipped")
        self.events.emit("node.skipped", {"node_id": node.id, "reason": reason})
        self._release(node)

    def _abandon(self, node: NodeBase) -> None:
        """A node that will never start, because the run stops."""
        if self.stop == "canceled":
            self.results[node.id] = NodeResult("canceled", error=CANCELED)
            self.events.emit("node.canceled", {"node_id": node.id})
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
        if status == "completed":
            self.events.emit("run.completed", {"output": output})
        elif status == "failed":
            self.events.emit("run.failed", {"error": error_data(self.error or CANCELED)})
        else:
            self.events.emit("run.canceled", {})
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
            authorization_failures=list(self.services.authorization_failures),
        )

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``, but stop early once the run is canceled."""
        deadline = time.monotonic() + seconds
        while not self.context.cancellation.is_canceled():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, CANCELLATION_POLL_SECONDS))
