"""The executor's durable driver: the engine's node tasks as checkpointed durable steps and callbacks.

The engine (``engine.runner``) hands each superstep's step nodes to a driver (``engine.drivers.Driver``);
this one runs each as a durable step named ``node:<id>`` (``durable_steps.NODE_STEP``), whose result is the
node's record and the step's ``Clock``, and a ``human_input`` node's wait as a durable callback
``input:<id>`` (``durable_input``). Before each superstep it reads the last step's clock: past the run's
deadline the run halts, and once the invocation has had its share of time the program goes on in a fresh
invocation (a ``continue`` wait). Events the engine emits between steps are carried
(``step_effects.StepEffects``) to the next step, which publishes them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python import StepContext
from aws_durable_execution_sdk_python.config import Duration
from aws_durable_execution_sdk_python.exceptions import DurableExecutionsError
from aws_durable_execution_sdk_python.exceptions import StepError as DurableStepError

from switchboard.engine.attempts import INTERRUPTED
from switchboard.engine.contracts import EventSink, NodeError, RunContext
from switchboard.engine.drivers import HaltRun, NodeTask, no_human
from switchboard.engine.records import NodeRecord, span_to_json
from switchboard.engine.step_kinds import kind_of
from switchboard.observability import logger
from switchboard.runtime.runs import artifacts
from switchboard.runtime.runs.durable_input import ask_for_input
from switchboard.runtime.runs.durable_steps import CHECKPOINT_BYTES, MAX_INTERRUPTIONS, NODE_STEP, Clock
from switchboard.runtime.runs.run_results import deadline_error
from switchboard.runtime.runs.step_effects import LiveEvents, StepEffects

if TYPE_CHECKING:
    from switchboard.runtime.runs.program import Began, _Program


class DurableDriver:
    """Runs a superstep's step nodes as durable steps (``engine.drivers.Driver``).

    Several nodes run on threads, and take their operation ids in the superstep's order: each thread calls
    into the SDK only once the one before it has (the SDK numbers operations in call order, and a replay
    must find the same numbers). The run's own events (the engine's) are carried to the next step."""

    fatal: tuple[type[BaseException], ...] = (DurableExecutionsError,)

    def __init__(self, program: _Program, began: Began) -> None:
        self.program = program
        self.began = began
        self.effects = StepEffects()
        self.clock = began.clock
        self.live: EventSink = LiveEvents(program.open_sink)

    def bind(self, context: RunContext, events: EventSink) -> DurableDriver:
        """The engine's driver factory: ``events`` is the engine's redacting sink over the live one."""
        del context
        self.live = events
        self.program.live = events
        return self

    @property
    def events(self) -> EventSink:
        return self.effects

    def is_canceled(self) -> bool:
        """As the last step saw it (a checkpointed observation: every replay decides the same)."""
        return self.clock.canceled

    def adopt(self, record: NodeRecord) -> None:
        self.effects.add_record(record)

    def finish(self, event_type: str, data: dict[str, Any]) -> None:
        """The terminal event is the finish step's to write (``ending.end_run``)."""
        del event_type, data

    def close(self) -> None:
        return None

    def before_superstep(self) -> None:
        run = self.began.run
        if run.deadline_at is not None and self.clock.at >= run.deadline_at:
            raise HaltRun(deadline_error(run))
        if self.clock.fresh_invocation_due:
            self.program.ctx.wait(Duration.from_seconds(1), name="continue")
            self.clock = Clock(self.clock.at)

    def run(self, tasks: Sequence[NodeTask]) -> list[NodeRecord]:
        carried = self.effects.take()
        if len(tasks) == 1:
            return [self._run_task(tasks[0], carried, None, None)]
        started = [threading.Event() for _ in tasks]
        records: list[NodeRecord | None] = [None] * len(tasks)
        failures: list[BaseException | None] = [None] * len(tasks)

        def work(index: int, task: NodeTask) -> None:
            if index:
                started[index - 1].wait()
            try:
                mine = carried if index == 0 else StepEffects()
                records[index] = self._run_task(task, mine, started[index], None)
            except BaseException as failure:
                failures[index] = failure
            finally:
                started[index].set()

        threads = [
            threading.Thread(target=_in_context(work), args=(index, task), name=f"node-{task.node.id}")
            for index, task in enumerate(tasks)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        _raise_first(failures)
        return [record for record in records if record is not None]

    def _run_task(
        self, task: NodeTask, carried: StepEffects, started: threading.Event | None, _: object
    ) -> NodeRecord:
        if kind_of(task.node).work == "human_input":
            return self._human(task, carried, started)
        return self._node_step(task, carried, started)

    def _node_step(self, task: NodeTask, carried: StepEffects, started: threading.Event | None) -> NodeRecord:
        program = self.program

        def body(step: StepContext) -> dict[str, Any]:
            if started is not None:
                started.set()
            program.publish(carried, self.live)
            record = task.work(self.live, step.attempt - 1, no_human)
            document = self._checkpoint(record, carried, program.observe(program.cancellation))
            program.flush()
            return document

        try:
            document = program.ctx.step(body, name=f"node:{task.node.id}", config=NODE_STEP)
        except DurableStepError as failed:
            logger.warning(
                "a node step failed for good", extra={"node_id": task.node.id, "error": str(failed)}
            )
            return self._failed(task, failed)
        return self._restore(document)

    def _checkpoint(self, record: NodeRecord, carried: StepEffects, clock: Clock) -> dict[str, Any]:
        """A node step's result: the record (its output whole or in S3, the rest shrunk to fit), the spans
        of the nodes whose events the step published, and the clock."""
        document = record.to_json()
        files = self.program.files
        assert files is not None
        document["output"] = artifacts.offload(files, f"nodes/{record.node_id}/output", record.output)
        return {
            "record": artifacts.shrink(files, f"steps/{record.node_id}", document, CHECKPOINT_BYTES),
            "carried_spans": artifacts.shrink(
                files, f"steps/{record.node_id}/carried", carried.spans, CHECKPOINT_BYTES // 4
            ),
            "clock": clock.to_json(),
        }

    def _restore(self, document: dict[str, Any]) -> NodeRecord:
        """A node step's result, as it ran now or as its checkpoint has it."""
        self.clock = self.clock.later(Clock.from_json(document["clock"]))
        record_document = dict(artifacts.load(document["record"]))
        record_document["spans"] = artifacts.load_items(record_document.get("spans"))
        carried_spans = artifacts.load_items(document["carried_spans"])
        record = NodeRecord.from_json(record_document)
        self.program.trace_spans.extend([*carried_spans, *(span_to_json(span) for span in record.spans)])
        record.output = artifacts.load(record.output)
        return record

    def _failed(self, task: NodeTask, failed: DurableStepError) -> NodeRecord:
        """A node step that failed for good: every attempt was cut short (``interrupted``), or the step itself
        broke (``internal_error``); either way the node's error handling follows."""
        if "StepInterruptedError" in (failed.error_type or ""):
            error = NodeError(
                INTERRUPTED.type, f"{INTERRUPTED.message}; {MAX_INTERRUPTIONS + 1} attempts were interrupted"
            )
        else:
            error = NodeError("internal_error", "the node's step failed unexpectedly")
        record = task.fail(self.effects, error)
        self.effects.add_record(record)
        return record

    # ------------------------------------------------------------------ human input

    def _human(self, task: NodeTask, carried: StepEffects, started: threading.Event | None) -> NodeRecord:
        """The node's work outside any step (it only computes), its wait as a durable callback. What it emits
        before asking is published by the callback's submitter step; what it emits after, by the next step."""
        before = StepEffects()
        ask = partial(ask_for_input, self, task.node.id, carried, before, started)
        try:
            record = task.work(before, 0, ask)
        finally:
            if started is not None:
                started.set()
        self.effects.extend(before.take())
        self.effects.add_record(record)
        return record


def _in_context(function: Callable[..., None]) -> Callable[..., None]:
    import contextvars

    context = contextvars.copy_context()
    return lambda *args: context.run(function, *args)


def _raise_first(failures: Sequence[BaseException | None]) -> None:
    """A superstep's threads are done: an SDK failure first (it ends the invocation), then a suspension
    (some node waits: the execution suspends once the others are checkpointed)."""
    found = [failure for failure in failures if failure is not None]
    for failure in found:
        if not _is_suspension(failure):
            raise failure
    if found:
        raise found[0]


def _is_suspension(failure: BaseException) -> bool:
    from aws_durable_execution_sdk_python.exceptions import SuspendExecution

    return isinstance(failure, SuspendExecution)
