"""How a run's supersteps are carried out: a driver runs the step nodes of one superstep and says where the
run's own effects go.

The engine plans (which nodes run next, which are skipped) and applies records; a driver runs node work.
``ThreadDriver`` runs a superstep's nodes on worker threads (one node: on the calling thread) and publishes
every event as it happens. The executor's durable driver (``switchboard.runtime.runs.durable_driver``) runs
each node as a checkpointed step instead and carries the run's own events into the next step, so that a run
replayed after an interruption publishes nothing twice.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from switchboard.engine.contracts import EventSink, NodeError, RunContext
from switchboard.engine.errors import StepError
from switchboard.engine.nodes import StepNode
from switchboard.engine.records import NodeRecord

Ask = Callable[[dict[str, Any]], dict[str, Any]]
"""A human input request → the answer ``{"type", "data"}``; raises ``StepError`` when none can come."""


@dataclass(frozen=True)
class NodeTask:
    node: StepNode
    work: Callable[[EventSink, int, Ask], NodeRecord]
    """(events, interrupted attempts, how to ask a human) → the node's record."""
    fail: Callable[[EventSink, NodeError], NodeRecord]
    """(events, error) → the record of the node failing without running (its attempts all cut short)."""


class HaltRun(Exception):
    """Raised by ``Driver.before_superstep``: the run must stop now, with this error (its deadline passed)."""

    def __init__(self, error: NodeError) -> None:
        super().__init__(error.message)
        self.error = error


class Driver(Protocol):
    fatal: tuple[type[BaseException], ...]
    """Exceptions that end the invocation rather than the run: the engine lets them through."""

    @property
    def events(self) -> EventSink:
        """Where the run's own events go: run.started, the skips, the nodes the engine runs inline."""

    def is_canceled(self) -> bool:
        """Checked before each node the engine starts itself."""

    def before_superstep(self) -> None:
        """Called before each superstep that runs step nodes; may raise ``HaltRun``."""

    def adopt(self, record: NodeRecord) -> None:
        """A record the engine made itself (a node it ran inline, the input and output nodes)."""

    def run(self, tasks: Sequence[NodeTask]) -> list[NodeRecord]:
        """Run one superstep's nodes (concurrently where there are several); their records, in task order."""

    def finish(self, event_type: str, data: dict[str, Any]) -> None:
        """The run's terminal event, once the run has ended."""

    def close(self) -> None: ...


def no_human(request: dict[str, Any]) -> dict[str, Any]:
    raise StepError(
        "input_unavailable",
        "this run cannot wait for human input (only runs of a deployed App can)",
        {"request_id": request.get("id")},
        retryable=False,
    )


class ThreadDriver:
    """Nodes on worker threads, at most ``context.max_workers`` at a time; events published as they happen.
    A human input node fails (``input_unavailable``): only the executor's durable runs can wait for one."""

    fatal: tuple[type[BaseException], ...] = ()

    def __init__(self, context: RunContext, events: EventSink) -> None:
        self._context = context
        self._events = events
        self._pool: ThreadPoolExecutor | None = None

    @property
    def events(self) -> EventSink:
        return self._events

    def is_canceled(self) -> bool:
        return self._context.cancellation.is_canceled()

    def before_superstep(self) -> None:
        return None

    def adopt(self, record: NodeRecord) -> None:
        """Its events are out already; nothing to carry."""
        del record

    def run(self, tasks: Sequence[NodeTask]) -> list[NodeRecord]:
        if len(tasks) == 1:
            return [tasks[0].work(self._events, 0, no_human)]
        if self._pool is None:
            workers = max(1, self._context.max_workers)
            self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="switchboard-node")
        futures: list[Future[NodeRecord]] = [
            self._pool.submit(contextvars.copy_context().run, task.work, self._events, 0, no_human)
            for task in tasks
        ]
        return [future.result() for future in futures]

    def finish(self, event_type: str, data: dict[str, Any]) -> None:
        self._events.emit(event_type, data)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
