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

This module is the program itself (``begin`` → supersteps → ``finish``, and what its steps share: the run's
event sink, publishing, the clock a step records). Its parts live beside it: ``durable_driver`` turns the
engine's node tasks into checkpointed steps, ``durable_input`` a human input node's wait into a durable
callback, ``durable_steps`` holds the step configurations, the retry decision after an interruption, the clock
and the invocation budget, ``step_effects`` what one step leaves for the next to publish, and ``run_results``
the result and trace fields the run ends with.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, StepContext

from switchboard.domain.errors import RequirementNotSatisfied, SwitchboardError
from switchboard.domain.ids import utcnow
from switchboard.domain.runs import RUNNING, LinkStatus, Run, RunStatus
from switchboard.egress import current_policy
from switchboard.engine.contracts import (
    Credential,
    EventSink,
    NodeError,
    RunContext,
    RunResult,
    requirement_of,
)
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.errors import StepError
from switchboard.engine.runner import execute
from switchboard.observability import logger
from switchboard.runtime.building.versions import version_definition
from switchboard.runtime.credentials import client as credentials_client
from switchboard.runtime.credentials.client import CredentialsResult
from switchboard.runtime.links import lifecycle as links_lifecycle
from switchboard.runtime.runs import artifacts
from switchboard.runtime.runs.durable_driver import DurableDriver
from switchboard.runtime.runs.durable_steps import (
    BOOKKEEPING_STEP,
    CHECKPOINT_BYTES,
    Clock,
    RunCancellation,
    invocation_budget,
    seconds_left,
)
from switchboard.runtime.runs.ending import end_run
from switchboard.runtime.runs.events import BufferedEventSink
from switchboard.runtime.runs.program_contract import ExecuteRequest
from switchboard.runtime.runs.run_results import result_fields, run_trace, session_history, trace_id
from switchboard.runtime.runs.step_effects import LiveEvents, StepEffects
from switchboard.store import runs, sessions


def run_program(event: Mapping[str, Any], context: DurableContext) -> dict[str, Any]:
    """The durable handler's body: execute the run named by ``event`` (``{"run_id"}``)."""
    return _Program(context, ExecuteRequest.model_validate(event).run_id).run()


@dataclass
class Began:
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
        self.budget = invocation_budget(context)
        """Seconds this invocation works on the run before it goes on in a fresh one."""
        self.ends_at = self.invoked_at + seconds_left(context, default=float("inf"))
        """When Lambda stops this invocation: past it, it writes nothing more (its checkpoints would be
        refused anyway; locally, where nothing freezes it, this keeps an abandoned invocation quiet)."""
        self.resolved: CredentialsResult | None = None
        self.trace_spans: list[dict[str, Any]] = []
        self.sink: BufferedEventSink | None = None
        self.sink_lock = threading.Lock()
        self.began: Began | None = None
        self.live: EventSink = LiveEvents(self.open_sink)
        self.cancellation: RunCancellation | None = None
        self.claimed_now = False
        """This invocation claimed the run (its begin step ran now, not from a checkpoint): no event yet."""
        self.files: artifacts.RunFiles | None = None

    # ------------------------------------------------------------------ the program

    def run(self) -> dict[str, Any]:
        document = self.ctx.step(self._begin, name="begin", config=BOOKKEEPING_STEP)
        if document["outcome"] != "started":
            return {"run_id": self.run_id, "status": document["status"]}
        began = Began(
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

    def _execute(self, began: Began) -> tuple[RunResult, StepEffects]:
        """The engine's run, or the refusal's (a requirement not satisfied: no node runs)."""
        run = began.run
        if began.refusal is not None:
            error = NodeError(began.refusal["type"], began.refusal["message"], began.refusal.get("details"))
            return RunResult("failed", {}, None, error, [], terminal_event=("run.failed", {})), StepEffects()
        _, definition = version_definition(run.workflow_id, run.version)
        self.cancellation = RunCancellation(run.id)
        driver = DurableDriver(self, began)
        credentials = self._credentials(run, definition)
        context = RunContext(
            run_id=run.id,
            input=run.input,
            credentials=credentials.credentials,
            events=LiveEvents(self.open_sink),
            cancellation=self.cancellation,
            history=session_history(run),
            deadline=_monotonic(run.deadline_at) if run.deadline_at else None,
            trace_id=trace_id(run.id),
            egress=current_policy(),
            refresh_credential=partial(self._refresh_credential, run),
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
            links_lifecycle.announce_expired(run, self.resolved.resolutions)
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

    def _refresh_credential(self, run: Run, used: Credential) -> Credential | None:
        """Inside a node's step: the OAuth credential ``used`` (the user's link, or a project ``oauth2``
        connection) with a newer access token than ``used`` had (an upstream answered 401 to it), from the
        credentials function; None for a credential without OAuth tokens."""
        version = used.config.get("token_version")
        is_link = requirement_of(used.key) is not None
        if not isinstance(version, int) or (is_link and run.user_id is None):
            return None
        try:
            result = credentials_client.refresh_oauth2(run, used.key, version)
        except RequirementNotSatisfied as refused:
            # Another run found the grant gone (or the user revoked the link) since this one started.
            statuses = [entry.get("status") for entry in refused.details or [] if isinstance(entry, dict)]
            code = "oauth2_link_expired" if LinkStatus.expired.value in statuses else "link_not_active"
            raise StepError(code, "the OAuth link is no longer active", retryable=False) from None
        except SwitchboardError as failed:
            logger.warning("the access token could not be refreshed", extra={"code": failed.error_code})
            retryable = not isinstance(failed.status, int) or failed.status >= 500
            raise StepError(
                "oauth2_refresh_failed",
                f"the OAuth access token could not be refreshed ({failed.error_code})",
                {"credential_key": used.key},
                retryable=retryable,
            ) from None
        links_lifecycle.announce_expired(run, result.resolutions)
        return result.credentials.get(used.key)

    # ------------------------------------------------------------------ finish

    def _finish(self, began: Began, result: RunResult, carried: StepEffects, _: StepContext) -> str:
        """The last step: what the run left unpublished, then its end (``ending.end_run``)."""
        run = began.run
        self.publish(carried, self.live)
        sink = self.open_sink()
        last_events = sink.take_pending()
        if result.status == "completed" and run.session_id:
            sessions.record_turn(run, result.output)
        links_lifecycle.record_authorization_failures(run, result.authorization_failures)
        credentials_client.report_unauthorized_connections(run, result.authorization_failures)
        links_lifecycle.touch_resolved_links(run, began.resolutions)
        sequence = sink.next_sequence
        self._close_sink()
        trace = run_trace(run, result, [*self.trace_spans, *carried.spans], began.resolutions)
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

    # ------------------------------------------------------------------ what steps share

    def open_sink(self) -> BufferedEventSink:
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

    def publish(self, effects: StepEffects, events: EventSink) -> None:
        """Inside a step: the carried events (through ``events``, the engine's redacting sink), and the input
        requests that closed since the last step."""
        if effects.closed_requests:
            runs.close_input_requests(self.run_id, effects.closed_requests, utcnow())
        for event_type, data in effects.events:
            events.emit(event_type, data)

    def flush(self) -> None:
        """Inside a step, before it returns: its events are stored before its checkpoint is."""
        self.open_sink().flush()

    def observe(self, cancellation: RunCancellation | None = None) -> Clock:
        """The clock a step records: now, whether this invocation has had its share of time, whether the run's
        cancellation was requested (as its poller last read it)."""
        elapsed = time.monotonic() - self.invoked_at
        canceled = cancellation is not None and cancellation.is_canceled()
        return Clock(utcnow(), fresh_invocation_due=elapsed >= self.budget, canceled=canceled)

    def alive(self) -> bool:
        return time.monotonic() < self.ends_at


def _monotonic(moment: datetime) -> float:
    return time.monotonic() + (moment - utcnow()).total_seconds()
