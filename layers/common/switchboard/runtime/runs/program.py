"""The executor's program: one run, as an AWS Lambda durable execution (``aws-durable-execution-sdk-python``).

The execution is named after the run (so it starts once, however often it is asked to) and goes:

1. ``begin`` step: claim the run (``created`` → ``started``, conditional), resolve its credentials once;
2. the engine's supersteps (``engine.runner``), each step node a checkpointed step named ``node:<id>``, run
   together with the other nodes of its superstep; a ``human_input`` node waits on a durable callback
   (``input:<id>``), with no compute while it waits. The nodes the engine runs inline are computed again on
   every replay (they only compute); their events and spans are carried into the next step, which publishes
   them once;
3. ``finish`` step: the end of the run (``ending.end_run``: status, result, terminal event and trace in one
   write, then the session, callbacks and link bookkeeping).

After an interruption (a crash, a timeout, an invocation that ran out of memory) the service invokes the
function again and the SDK replays it: finished steps answer from their checkpoints, and a node step that
was cut short runs again as a new attempt (``StepInterruptedError``, at most ``MAX_INTERRUPTIONS`` times),
which the node's trace shows. Every choice made outside a step comes from checkpointed values, so a replay
takes the same path: the deadline and the decision to continue in a fresh invocation are read from the clock
each step records when it ends (``Clock``), never from the wall clock of the replay.

Secrets are never checkpointed: a step's result holds the node's record (outputs redacted, big values in S3),
and each invocation resolves the run's credentials again.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext
from aws_durable_execution_sdk_python.config import (
    Duration,
    StepConfig,
    StepSemantics,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.exceptions import (
    CallbackError,
    CallbackTimeoutError,
    DurableExecutionsError,
    StepInterruptedError,
)
from aws_durable_execution_sdk_python.exceptions import StepError as DurableStepError
from aws_durable_execution_sdk_python.retries import RetryDecision, RetryPresets

from switchboard.domain.errors import SwitchboardError
from switchboard.domain.ids import utcnow
from switchboard.domain.runs import RUNNING, Run, RunStatus
from switchboard.egress import current_policy
from switchboard.engine.attempts import INTERRUPTED
from switchboard.engine.contracts import EventSink, NodeError, RunContext, RunResult
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.drivers import HaltRun, NodeTask, no_human
from switchboard.engine.errors import Canceled, StepError
from switchboard.engine.records import NodeRecord, span_to_json
from switchboard.engine.runner import execute
from switchboard.engine.step_kinds import kind_of
from switchboard.engine.tracing import error_data
from switchboard.observability import logger
from switchboard.runtime.building.versions import version_definition
from switchboard.runtime.credentials import client as credentials_client
from switchboard.runtime.credentials.client import CredentialsResult
from switchboard.runtime.links import lifecycle as links_lifecycle
from switchboard.runtime.runs import artifacts
from switchboard.runtime.runs.ending import end_run
from switchboard.runtime.runs.events import BufferedEventSink
from switchboard.runtime.runs.program_contract import (
    CANCELED_CALLBACK,
    TIMED_OUT_CALLBACK,
    ExecuteRequest,
    deadline_exceeded,
)
from switchboard.runtime.webhooks import deliveries
from switchboard.settings import get_settings
from switchboard.store import runs, sessions

MAX_INTERRUPTIONS = 3
"""Attempts of one node cut short by an executor that stopped, before the node fails ``interrupted``."""
CHECKPOINT_BYTES = 200_000
"""A step's result stays under this (the service takes 256 KB per operation): bigger parts go to S3."""
CANCEL_POLL_SECONDS = 1.0


def _after_interruption(error: Exception, attempt: int) -> RetryDecision:
    """A node step's only retries: after its invocation stopped mid-step (the node's own error handling runs
    inside the step). Anything else reaching here is a defect: the node fails."""
    if isinstance(error, StepInterruptedError) and attempt <= MAX_INTERRUPTIONS:
        return RetryDecision.retry(Duration.from_seconds(1))
    return RetryDecision.no_retry()


NODE_STEP = StepConfig(
    step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY, retry_strategy=_after_interruption
)
"""A node's work is not repeated silently: a step found started on replay was interrupted, and counts so."""
BOOKKEEPING_STEP = StepConfig(retry_strategy=RetryPresets.default())
"""begin and finish are idempotent: retried on any failure, with backoff."""


@dataclass(frozen=True)
class Clock:
    """What a step saw when it ended (the time, the run's cancellation): replayed from its checkpoint, so
    choices made from it (the run's deadline, continuing in a fresh invocation, starting no further node) are
    the same on every replay."""

    at: datetime
    fresh_invocation_due: bool = False
    canceled: bool = False
    """The run's cancellation was requested: no further node starts."""

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "fresh": self.fresh_invocation_due, "canceled": self.canceled}

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Clock:
        return cls(
            datetime.fromisoformat(document["at"]),
            bool(document.get("fresh")),
            bool(document.get("canceled")),
        )

    def later(self, other: Clock) -> Clock:
        return Clock(
            max(self.at, other.at),
            self.fresh_invocation_due or other.fresh_invocation_due,
            self.canceled or other.canceled,
        )


def run_program(event: Mapping[str, Any], context: DurableContext) -> dict[str, Any]:
    """The durable handler's body: execute the run named by ``event`` (``{"run_id"}``)."""
    return _Program(context, ExecuteRequest.model_validate(event).run_id).run()


class RunCancellation:
    """Reads the run's cancellation flag at most once per interval (inside steps only: what a step saw is
    in its checkpoint)."""

    def __init__(self, run_id: str, interval: float = CANCEL_POLL_SECONDS) -> None:
        self._run_id = run_id
        self._interval = interval
        self._checked_at = time.monotonic()
        self.requested_at: datetime | None = None

    def is_canceled(self) -> bool:
        if self.requested_at is None and time.monotonic() - self._checked_at >= self._interval:
            self._checked_at = time.monotonic()
            self.requested_at = runs.cancel_requested_at(self._run_id)
        return self.requested_at is not None


class _Effects:
    """Events (and the spans of the nodes that made them) waiting for the next step to publish them."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.spans: list[dict[str, Any]] = []
        self.closed_requests: dict[str, str] = {}
        self._lock = threading.Lock()

    def emit(self, event_type: str, data: Mapping[str, Any]) -> None:
        with self._lock:
            self.events.append((event_type, dict(data)))

    def add_record(self, record: NodeRecord) -> None:
        with self._lock:
            self.spans.extend(span_to_json(span) for span in record.spans)

    def take(self) -> _Effects:
        taken = _Effects()
        with self._lock:
            taken.events, self.events = self.events, []
            taken.spans, self.spans = self.spans, []
            taken.closed_requests, self.closed_requests = self.closed_requests, {}
        return taken

    def extend(self, other: _Effects) -> None:
        with self._lock:
            self.events.extend(other.events)
            self.spans.extend(other.spans)
            self.closed_requests.update(other.closed_requests)


@dataclass
class _Began:
    run: Run
    clock: Clock
    resolutions: list[dict[str, Any]] = field(default_factory=list)
    refusal: dict[str, Any] | None = None
    callbacks: bool = False


class _Program:
    def __init__(self, context: DurableContext, run_id: str) -> None:
        self.ctx = context
        self.run_id = run_id
        self.invoked_at = time.monotonic()
        self.budget = _invocation_budget(context)
        """Seconds this invocation works on the run before it goes on in a fresh one."""
        self.ends_at = self.invoked_at + _seconds_left(context, default=float("inf"))
        """When Lambda stops this invocation: past it, it writes nothing more (its checkpoints would be
        refused anyway; locally, where nothing freezes it, this keeps an abandoned invocation quiet)."""
        self.resolved: CredentialsResult | None = None
        self.trace_spans: list[dict[str, Any]] = []
        self.sink: BufferedEventSink | None = None
        self.sink_lock = threading.Lock()
        self.began: _Began | None = None
        self.live: EventSink = _LiveEvents(self)
        self.cancellation: RunCancellation | None = None
        self.claimed_now = False
        """This invocation claimed the run (its begin step ran now, not from a checkpoint): no event yet."""
        self.files: artifacts.RunFiles | None = None

    # ------------------------------------------------------------------ the program

    def run(self) -> dict[str, Any]:
        document = self.ctx.step(self._begin, name="begin", config=BOOKKEEPING_STEP)
        if document["outcome"] != "started":
            return {"run_id": self.run_id, "status": document["status"]}
        began = _Began(
            run=Run.model_validate(document["run"]),
            clock=Clock.from_json(document["clock"]),
            resolutions=document["resolutions"],
            refusal=document.get("refusal"),
            callbacks=bool(document.get("callbacks")),
        )
        self.began = began
        self.files = artifacts.RunFiles(began.run.app_id, began.run.id)
        try:
            result, carried = self._execute(began)
            status = self.ctx.step(
                partial(self._finish, began, result, carried), name="finish", config=BOOKKEEPING_STEP
            )
        finally:
            self._close_sink()
        return {"run_id": self.run_id, "status": status}

    def _execute(self, began: _Began) -> tuple[RunResult, _Effects]:
        """The engine's run, or the refusal's (a requirement not satisfied: no node runs)."""
        run = began.run
        if began.refusal is not None:
            error = NodeError(began.refusal["type"], began.refusal["message"], began.refusal.get("details"))
            return RunResult("failed", {}, None, error, [], terminal_event=("run.failed", {})), _Effects()
        _, definition = version_definition(run.workflow_id, run.version)
        self.cancellation = RunCancellation(run.id)
        driver = _DurableDriver(self, began)
        credentials = self._credentials(run, definition)
        context = RunContext(
            run_id=run.id,
            input=run.input,
            credentials=credentials.credentials,
            events=_LiveEvents(self),
            cancellation=self.cancellation,
            history=_history(run),
            deadline=_monotonic(run.deadline_at) if run.deadline_at else None,
            trace_id=trace_id(run.id),
            egress=current_policy(),
        )
        result = execute(definition, context, driver=driver.bind)
        return result, driver.effects.take()

    # ------------------------------------------------------------------ begin

    def _begin(self, step: StepContext) -> dict[str, Any]:
        """Claim the run (or find it claimed by this very execution, after a crash): the run as it started,
        how its credentials resolved, and the clock. A run that was canceled before it started ends here."""
        del step
        arn = self.ctx.state.durable_execution_arn
        claimed, run = runs.claim(self.run_id, utcnow(), arn)
        if run is None:
            logger.warning("no such run", extra={"run_id": self.run_id})
            return {"outcome": "missing", "status": None}
        if not claimed and not (run.status in RUNNING and run.execution_arn == arn):
            if run.status is RunStatus.created and run.cancel_requested_at is not None:
                run = end_run(run, RunStatus.canceled, from_statuses={RunStatus.created})
            return {"outcome": "ended", "status": run.status.value}
        self.claimed_now = claimed
        document: dict[str, Any] = {
            "outcome": "started",
            # Never the callers' callback tokens: the finish step reads them from the run record.
            "run": run.model_dump(mode="json", exclude={"callbacks"}),
            "callbacks": bool(run.callbacks),
            "clock": Clock(utcnow()).to_json(),
            "resolutions": [],
        }
        try:
            _, definition = version_definition(run.workflow_id, run.version)
            self.resolved = credentials_client.resolve_for_run(run, definition)
            document["resolutions"] = self.resolved.resolutions
        except SwitchboardError as refused:
            if not isinstance(refused.status, int) or refused.status >= 500:
                raise
            document["refusal"] = {
                "type": refused.error_code,
                "message": refused.message,
                "details": refused.details,
            }
        return document

    def _credentials(self, run: Run, definition: WorkflowDefinition) -> CredentialsResult:
        """This invocation's credentials: from the begin step that just ran, or resolved again (a replay)."""
        if self.resolved is None:
            try:
                self.resolved = credentials_client.resolve_for_run(run, definition)
            except SwitchboardError as failed:
                logger.warning("credentials could not be resolved again", extra={"code": failed.error_code})
                self.resolved = CredentialsResult()
        return self.resolved

    # ------------------------------------------------------------------ finish

    def _finish(self, began: _Began, result: RunResult, carried: _Effects, _: StepContext) -> str:
        """The last step: what the run left unpublished, then its end (``ending.end_run``)."""
        run = began.run
        self.publish(carried, self.live)
        sink = self._sink()
        last_events = sink.take_pending()
        if result.status == "completed" and run.session_id:
            sessions.record_turn(run, result.output)
        links_lifecycle.record_authorization_failures(run, result.authorization_failures)
        links_lifecycle.touch_resolved_links(run, began.resolutions)
        sequence = sink.next_sequence
        self._close_sink()
        trace = {
            "run_id": run.id,
            "app_id": run.app_id,
            "version": run.version,
            "spans": [self._run_span(run, result), *self.trace_spans, *carried.spans],
            "credential_resolutions": [
                {name: value for name, value in resolution.items() if name != "last_used_at"}
                for resolution in began.resolutions
            ],
        }
        files = artifacts.RunFiles(run.app_id, run.id)
        ended = end_run(
            (runs.get_run(run.id) or run) if began.callbacks else run,
            RunStatus(result.status),
            result=result_fields(result),
            from_statuses=RUNNING,
            trace=artifacts.shrink(files, "trace", trace, CHECKPOINT_BYTES),
            next_sequence=sequence,
            events=last_events,
        )
        return ended.status.value

    def _run_span(self, run: Run, result: RunResult) -> dict[str, Any]:
        found = next((span for span in result.spans if span.kind == "run"), None)
        document = span_to_json(found) if found is not None else {"kind": "run", "name": run.id}
        started = run.started_at or run.created_at
        return {**document, "id": trace_id(run.id), "parent_id": None, "started_at": started.isoformat()}

    # ------------------------------------------------------------------ what steps share

    def _sink(self) -> BufferedEventSink:
        """The run's event sink for this invocation, opened by the first step that publishes (it continues
        after the last event any earlier invocation wrote)."""
        assert self.began is not None, "events are published after the run began"
        with self.sink_lock:
            if self.sink is None:
                run = self.began.run
                first = 1 if self.claimed_now else runs.last_event_sequence(run.id) + 1
                self.sink = BufferedEventSink(
                    run.id, run.expires_at, first_sequence=first, files=self.files, alive=self.alive
                )
                self.sink.__enter__()
            return self.sink

    def _close_sink(self) -> None:
        with self.sink_lock:
            if self.sink is not None:
                self.sink.__exit__(None, None, None)
                self.sink = None

    def publish(self, effects: _Effects, events: EventSink) -> None:
        """Inside a step: the carried events (through ``events``, the engine's redacting sink), and the input
        requests that closed since the last step."""
        if effects.closed_requests:
            runs.close_input_requests(self.run_id, effects.closed_requests, utcnow())
        for event_type, data in effects.events:
            events.emit(event_type, data)

    def flush(self) -> None:
        """Inside a step, before it returns: its events are stored before its checkpoint is."""
        self._sink().flush()

    def observe(self, cancellation: RunCancellation | None = None) -> Clock:
        """The clock a step records: now, whether this invocation has had its share of time, whether the run's
        cancellation was requested (as its poller last read it)."""
        elapsed = time.monotonic() - self.invoked_at
        canceled = cancellation is not None and cancellation.is_canceled()
        return Clock(utcnow(), fresh_invocation_due=elapsed >= self.budget, canceled=canceled)

    def alive(self) -> bool:
        return time.monotonic() < self.ends_at

    def checkpoint(self, record: NodeRecord, carried: _Effects, clock: Clock) -> dict[str, Any]:
        """A node step's result: the record (its output whole or in S3, the rest shrunk to fit), the spans
        of the nodes whose events the step published, and the clock."""
        document = record.to_json()
        assert self.files is not None
        document["output"] = artifacts.offload(self.files, f"nodes/{record.node_id}/output", record.output)
        return {
            "record": artifacts.shrink(self.files, f"steps/{record.node_id}", document, CHECKPOINT_BYTES),
            "carried_spans": artifacts.shrink(
                self.files, f"steps/{record.node_id}/carried", carried.spans, CHECKPOINT_BYTES // 4
            ),
            "clock": clock.to_json(),
        }


INVOCATION_MARGIN_SECONDS = 60
"""Kept from a Lambda invocation's time when deciding to go on in a fresh one (a tenth of it when that is
less): room for the step in progress to end and checkpoint."""


def _seconds_left(context: DurableContext, default: float) -> float:
    lambda_context = context.lambda_context
    if lambda_context is None:
        return default
    return float(lambda_context.get_remaining_time_in_millis()) / 1000


def _invocation_budget(context: DurableContext) -> float:
    """``EXECUTOR_INVOCATION_SECONDS``, within the invocation's own time less a margin."""
    configured = float(get_settings().executor_invocation_seconds)
    left = _seconds_left(context, default=configured + INVOCATION_MARGIN_SECONDS)
    return min(configured, left - min(INVOCATION_MARGIN_SECONDS, left / 10))


class _LiveEvents:
    """The run's event sink as the engine sees it: only steps publish, so the sink opens on first use."""

    def __init__(self, program: _Program) -> None:
        self._program = program

    def emit(self, event_type: str, data: Mapping[str, Any]) -> None:
        self._program._sink().emit(event_type, data)


class _DurableDriver:
    """Runs a superstep's step nodes as durable steps (``engine.drivers.Driver``).

    Several nodes run on threads, and take their operation ids in the superstep's order: each thread calls
    into the SDK only once the one before it has (the SDK numbers operations in call order, and a replay
    must find the same numbers). The run's own events (the engine's) are carried to the next step."""

    fatal: tuple[type[BaseException], ...] = (DurableExecutionsError,)

    def __init__(self, program: _Program, began: _Began) -> None:
        self.program = program
        self.began = began
        self.effects = _Effects()
        self.clock = began.clock
        self.live: EventSink = _LiveEvents(program)

    def bind(self, context: RunContext, events: EventSink) -> _DurableDriver:
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
                mine = carried if index == 0 else _Effects()
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
        self, task: NodeTask, carried: _Effects, started: threading.Event | None, _: object
    ) -> NodeRecord:
        if kind_of(task.node).work == "human_input":
            return self._human(task, carried, started)
        return self._node_step(task, carried, started)

    def _node_step(self, task: NodeTask, carried: _Effects, started: threading.Event | None) -> NodeRecord:
        program = self.program

        def body(step: StepContext) -> dict[str, Any]:
            if started is not None:
                started.set()
            program.publish(carried, self.live)
            record = task.work(self.live, step.attempt - 1, no_human)
            document = program.checkpoint(record, carried, program.observe(program.cancellation))
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

    def _human(self, task: NodeTask, carried: _Effects, started: threading.Event | None) -> NodeRecord:
        """The node's work outside any step (it only computes), its wait as a durable callback. What it emits
        before asking is published by the callback's submitter step; what it emits after, by the next step."""
        before = _Effects()
        ask = partial(self._ask, task.node.id, carried, before, started)
        try:
            record = task.work(before, 0, ask)
        finally:
            if started is not None:
                started.set()
        self.effects.extend(before.take())
        self.effects.add_record(record)
        return record

    def _ask(
        self,
        node_id: str,
        carried: _Effects,
        before: _Effects,
        started: threading.Event | None,
        request: dict[str, Any],
    ) -> dict[str, Any]:
        program, run = self.program, self.began.run
        timeout, bounded_by_deadline = self._input_timeout(request)

        def submit(callback_id: str, _: object) -> None:
            if started is not None:
                started.set()
            program.publish(carried, self.live)
            program.publish(before.take(), self.live)
            asked = utcnow()
            stored = {
                **request,
                "state": "open",
                "callback_id": callback_id,
                "requested_at": asked.isoformat(),
            }
            runs.open_input_request(run.id, stored, asked + timedelta(seconds=timeout))
            self.live.emit("input.requested", {"node_id": node_id, "request": request})
            program.flush()
            deliveries.run_awaiting_input(run.id, request)

        config = WaitForCallbackConfig(timeout=Duration.from_seconds(timeout))
        try:
            raw = program.ctx.wait_for_callback(submit, name=f"input:{node_id}", config=config)
        except CallbackTimeoutError:
            self.effects.closed_requests[node_id] = "expired"
            if bounded_by_deadline:
                raise StepError(**_error_fields(deadline_error(run)), retryable=False) from None
            raise StepError(
                "input_timeout",
                f"no answer came within {timeout} s",
                {"request_id": node_id, "timeout_seconds": timeout},
                retryable=False,
            ) from None
        except CallbackError as failed:
            reason = f"{failed.data or ''} {failed}"
            if CANCELED_CALLBACK in reason:
                self.effects.closed_requests[node_id] = "canceled"
                raise Canceled from None
            self.effects.closed_requests[node_id] = "expired"
            if TIMED_OUT_CALLBACK in reason:
                raise StepError(
                    "input_timeout", "no answer came in time", {"request_id": node_id}, retryable=False
                ) from None
            raise StepError("input_failed", "the input request failed", retryable=False) from None
        finally:
            before.take()
            if started is not None:
                started.set()
        self.effects.closed_requests[node_id] = "answered"
        answer: dict[str, Any] = json.loads(raw) if isinstance(raw, str | bytes) else raw
        return answer

    def _input_timeout(self, request: dict[str, Any]) -> tuple[int, bool]:
        """The request's own timeout, or the time the run has left (deterministic: from the step clock)."""
        wanted = int(request["timeout_seconds"])
        deadline = self.began.run.deadline_at
        if deadline is None:
            return wanted, False
        left = max(int((deadline - self.clock.at).total_seconds()), 1)
        return (left, True) if left < wanted else (wanted, False)


def deadline_error(run: Run) -> NodeError:
    fields = deadline_exceeded(run.timeout_seconds)
    return NodeError(fields["type"], fields["message"], fields["details"])


def _error_fields(error: NodeError) -> dict[str, Any]:
    return {"type_": error.type, "message": error.message, "details": error.details}


def result_fields(result: RunResult) -> dict[str, Any]:
    nodes = {
        node_id: {
            "status": node.status,
            "output": node.output,
            "error": error_data(node.error) if node.error else None,
        }
        for node_id, node in result.nodes.items()
    }
    fields: dict[str, Any] = {
        "output": result.output,
        "nodes": nodes,
        "usage": result.usage,
        "error": error_data(result.error) if result.error else None,
    }
    return json.loads(json.dumps(fields, default=str))  # type: ignore[no-any-return]


def trace_id(run_id: str) -> str:
    """The run span's id: the same in every invocation, so node spans from any of them hang under it."""
    return hashlib.sha256(run_id.encode()).hexdigest()[:16]


def _monotonic(moment: datetime) -> float:
    return time.monotonic() + (moment - utcnow()).total_seconds()


def _history(run: Run) -> list[Mapping[str, Any]]:
    if not run.session_id:
        return []
    messages: list[Mapping[str, Any]] = []
    for turn in sessions.turns(run.app_id, run.session_id):
        messages.append({"role": "user", "content": _as_text(turn.get("input"))})
        messages.append({"role": "assistant", "content": _as_text(turn.get("output"))})
    return messages


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        return _as_text(next(iter(value.values())))
    return json.dumps(value, default=str)


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
