"""Execute a validated workflow definition: ``execute(definition, context) -> RunResult``.

The run goes in **supersteps** (as in Pregel and LangGraph): the engine takes every node whose dependencies
have all ended, in the scheduled order (``graph.plan``), and

- skips it when a choice that targets it chose other nodes (or did not complete: ``branch_not_taken``), or
  when it has dependencies and all of them were skipped (``dependencies_skipped``); a reference to a skipped
  node reads ``null``. The output node is never skipped: once its dependencies have ended it resolves its
  mappings;
- runs it at once, on the engine's own thread, when it only computes (input, output, transform, choice,
  validator without retries: its kind's placement in ``step_kinds``); a chain of such nodes runs in one pass;
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

This module is the loop; each part of it has its own home: **planning** (which nodes are ready, which are
skipped: ``planning.Planner`` over ``graph.Plan``), **running** (a node's work by its registered step kind:
``running.NodeRunner``, ``step_kinds``, ``node_work``), **retrying** (attempts, backoff, interruptions:
``attempts``) and **committing** (events, spans, results: ``journal.RunJournal``). The driver
(``drivers``) runs the supersteps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from switchboard.engine.attempts import CANCELED
from switchboard.engine.contracts import EventSink, NodeError, RunContext, RunResult, Span
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.drivers import Driver, HaltRun, NodeTask, ThreadDriver
from switchboard.engine.journal import RunJournal
from switchboard.engine.mapping import RunState
from switchboard.engine.nodes import Node, StepNode
from switchboard.engine.planning import Planner
from switchboard.engine.records import NodeRecord
from switchboard.engine.redaction import RedactingSink, Redactor
from switchboard.engine.running import NodeRunner, run_services
from switchboard.engine.step_kinds import kind_of
from switchboard.engine.tracing import SpanRecorder

_log = logging.getLogger("switchboard.engine")

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
    """One run: the planner, the node runner, the journal and the driver, composed by the superstep loop."""

    def __init__(
        self,
        definition: WorkflowDefinition,
        context: RunContext,
        sleep: Callable[[float], None] | None,
        driver: DriverFactory,
    ) -> None:
        self.definition = definition
        self.context = context
        redactor = Redactor.from_context(context)
        tracer = SpanRecorder(redactor, context.clock)
        state = RunState(context.input)
        self.driver = driver(context, RedactingSink(context.events, redactor))
        self.services = run_services(definition, context, tracer, state, redactor, self.driver.events, sleep)
        self.planner = Planner(definition)
        self.journal = RunJournal(self.driver.events, tracer, state)

    def execute(self) -> RunResult:
        run_span = self.journal.open(self.context)
        self.nodes: NodeRunner = NodeRunner(self.services, run_span, self.driver.events)
        try:
            if self._commit(self.nodes.inline(self.definition.input_node()), own=True):
                self._supersteps()
        except HaltRun as halted:
            self.journal.halt("failed", halted.error)
        except (
            Exception
        ) as failure:  # a bug in the scheduler still ends the run, with exactly one terminal event
            if isinstance(failure, self.driver.fatal):
                raise
            _log.exception("the engine failed unexpectedly", extra={"run_id": self.context.run_id})
            self.journal.halt("failed", NodeError("internal_error", "the engine failed unexpectedly"))
        finally:
            self.driver.close()
        for node in self.planner.order:
            if not self.journal.has_ended(node.id):
                self._abandon(node)
        node_ids = [node.id for node in self.definition.nodes]
        return self.journal.close(node_ids, self.driver.finish)

    def _supersteps(self) -> None:
        # The input node has ended (and released its dependents); the other nodes without dependencies
        # are ready too.
        self.planner.start(self.journal.results)
        while True:
            tasks = self._advance()
            if self.journal.stop is not None or not tasks:
                break
            self.driver.before_superstep()
            for record in self.driver.run(tasks):
                self._commit(record)
        if self.journal.stop is None and len(self.journal.results) < len(self.planner.order):
            raise RuntimeError("nodes left that can never be ready")

    def _advance(self) -> list[NodeTask]:
        """Consider the ready nodes in scheduled order: skip them, run the ones that only compute (which may
        make more nodes ready), and collect the rest: the next superstep's tasks."""
        tasks: list[NodeTask] = []
        while self.journal.stop is None and (node := self.planner.next_ready()) is not None:
            reason = self.planner.skip_reason(node, self.journal.results)
            if reason is not None:
                self._skip(node, reason)
                continue
            if self.driver.is_canceled():
                self.journal.halt("canceled", CANCELED)
                return []
            kind = kind_of(node)
            if kind.placement == "first":
                continue
            if kind.runs_inline(node):
                self._commit(self.nodes.inline(node), own=True)
            elif isinstance(node, StepNode):
                tasks.append(self.nodes.task(node))
        return tasks

    def _commit(self, record: NodeRecord, *, own: bool = False) -> bool:
        """A node ended: the journal keeps it, and its dependents go on, or the run stops. ``own``: the engine
        ran it itself (the driver did not)."""
        if own:
            self.driver.adopt(record)
        kind = kind_of(self.services.nodes[record.node_id])
        if not self.journal.commit(record, run_output=kind.run_output):
            return False
        if kind.chooses and record.status == "completed":
            self.planner.choose(record.node_id, record.output["next"])
        self._release(record.node_id)
        return True

    def _release(self, node_id: str) -> None:
        if self.journal.stop is None:
            self.planner.release(node_id)

    def _skip(self, node: Node, reason: str) -> None:
        self.journal.skip(node.id, reason)
        self._release(node.id)

    def _abandon(self, node: Node) -> None:
        """A node that will never start, because the run stops."""
        if self.journal.stop == "canceled":
            self.journal.cancel(node.id)
        elif self.journal.failed_node in self.planner.dependencies(node.id):
            self._skip(node, "dependency_failed")
        else:
            self._skip(node, "run_failed")


__all__ = ["Span", "execute"]
