"""Starting a run and waiting for it.

Every run starts as a durable execution of an executor named after it (``invoker.start_execution``): asked
twice, it starts once. A synchronous request starts it and waits at most the App's ``sync_wait_seconds``
(never past what its own Lambda invocation has left), then answers with the run as it is: finished, or still
going (the route answers 202 with it and where to poll it). A background run goes through the run queue; the
dispatcher starts it.

Two executors run the same code, so that sync and background work cannot starve each other: sync and stream
runs start on the sync executor (``executor_function``, the account's unreserved concurrency), everything
started from the background (the dispatcher's queue, the sweeper, a queue that refused a background run) on
the background executor (``background_executor_function``, its own reserved concurrency). A sync run handed
to the queue because the sync executor was throttled therefore runs on the background one. Should a run be
started on both, one execution claims it (the ``begin`` step's conditional claim); the other ends at once.

No orphans: when the executor cannot be started (throttled), a synchronous run takes the background path;
when neither path takes the run, it is deleted (with its claim on its session) and the request fails 503
with ``Retry-After``. A run that gets lost anyway (its starter crashed) is started again by the sweeper.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Literal, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from switchboard import aws
from switchboard.auth.principal import Principal
from switchboard.domain.errors import (
    Conflict,
    NotFound,
    RequirementNotSatisfied,
    ServiceUnavailable,
    SwitchboardError,
)
from switchboard.domain.models import App
from switchboard.domain.runs import TERMINAL, Run, RunStatus
from switchboard.invoker import InvokeThrottled, get_invoker
from switchboard.observability import logger
from switchboard.runtime.runs.creation import RunRequest, create
from switchboard.settings import get_settings
from switchboard.store import runs

StartMode = Literal["sync", "background", "stream"]
Executor = Literal["sync", "background"]
RETRY_AFTER_SECONDS = 2
FIRST_POLL_SECONDS = 0.1
"""A run is not done before its execution has started, checkpointed and ended: the first look waits a bit."""
MAX_POLL_SECONDS = 0.5
RESPONSE_MARGIN_SECONDS = 1.5
"""Kept from the Apps function's remaining time to send the answer of a synchronous request."""


class RemainingTime(Protocol):
    """The Lambda context, as far as waiting cares."""

    def get_remaining_time_in_millis(self) -> int: ...


def start(
    app: App,
    request: RunRequest,
    principal: Principal | None,
    how: StartMode,
    remaining: RemainingTime | None = None,
) -> Run:
    """Create the run and start it: ``sync`` waits for it (the run as it is then), ``background`` queues it,
    ``stream`` starts it for its stream to follow (from its first event)."""
    mode: Literal["sync", "background"] = "background" if how == "background" else "sync"
    run = create(app, replace(request, mode=mode), principal)
    if how == "background":
        enqueue_or_launch(run)
        return run
    launch(run)
    if how == "sync":
        return wait(run.id, app.sync_wait_seconds, remaining)
    return run


def launch(run: Run) -> None:
    """Start the run's execution now; when the executor is throttled, hand the run to the run queue."""
    try:
        start_execution(run.id, "sync")
    except InvokeThrottled:
        logger.warning("the executor is throttled: the run goes to the queue", extra={"run_id": run.id})
        _enqueue_or_drop(run)


def start_execution(run_id: str, executor: Executor) -> str:
    """The run's durable execution on the ``sync`` or the ``background`` executor, started (or found started
    there): its ARN."""
    settings = get_settings()
    function = settings.executor_function if executor == "sync" else settings.background_executor_function
    if not function:
        raise ServiceUnavailable(f"the {executor} executor is not configured")
    return get_invoker().start_execution(function, run_id, {"run_id": run_id})


def enqueue_or_launch(run: Run) -> None:
    """A background run: to the run queue, or, when the queue refuses it, straight to the background
    executor."""
    try:
        enqueue(run)
    except ServiceUnavailable:
        try:
            start_execution(run.id, "background")
        except (InvokeThrottled, ServiceUnavailable):
            _drop(run)


def _enqueue_or_drop(run: Run) -> None:
    try:
        enqueue(run)
    except ServiceUnavailable:
        _drop(run)


def _drop(run: Run) -> None:
    """Nothing can take the run now: it never existed (503, retry shortly)."""
    try:
        runs.delete_unstarted(run)
    except Conflict:
        return  # it started after all (the sweeper, a late delivery): it is not an orphan
    refused = ServiceUnavailable(
        "the run could not be started; nothing was created, retry shortly", code="run_not_started"
    )
    refused.retry_after = RETRY_AFTER_SECONDS
    raise refused


def enqueue(run: Run) -> None:
    """Hand the run to the run queue (the dispatcher starts it); ``ServiceUnavailable`` when it refuses."""
    queue = get_settings().run_queue_url
    if not queue:
        raise ServiceUnavailable("the run queue is not configured")
    try:
        aws.client("sqs", "control").send_message(QueueUrl=queue, MessageBody=json.dumps({"run_id": run.id}))
    except (ClientError, BotoCoreError):
        logger.exception("the run could not be queued", extra={"run_id": run.id})
        raise ServiceUnavailable("the run could not be queued; retry shortly") from None


def wait(run_id: str, seconds: float, remaining: RemainingTime | None = None) -> Run:
    """The run once it has ended, or as it is after ``seconds`` (fewer when the caller's own invocation has
    less time left): read whole (a run record is small: big values are in S3), more and more slowly."""
    if remaining is not None:
        seconds = min(seconds, remaining.get_remaining_time_in_millis() / 1000 - RESPONSE_MARGIN_SECONDS)
    deadline = time.monotonic() + max(seconds, 0)
    pause = FIRST_POLL_SECONDS
    time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
    while True:
        run = runs.get_run(run_id)
        if run is None:
            raise NotFound("run not found")
        left = deadline - time.monotonic()
        if run.status in TERMINAL or left <= 0:
            return run
        time.sleep(min(pause, left))
        pause = min(pause * 2, MAX_POLL_SECONDS)


class NodeFailed(SwitchboardError):
    status = 502
    code = "node_failed"


def failure_of(run: Run) -> SwitchboardError | None:
    """What a finished run answers with ``error_on_node_failure``: 502 ``node_failed`` naming the failed
    nodes, 422 ``requirement_not_satisfied`` when an end user's link was missing, None when nothing failed."""
    failed = [
        {"node": node_id, "error": result.get("error")}
        for node_id, result in (run.nodes or {}).items()
        if isinstance(result, dict) and result.get("status") == "failed"
    ]
    if failed:
        return NodeFailed(f"{len(failed)} node(s) failed", details={"run_id": run.id, "failed_nodes": failed})
    if run.status is not RunStatus.failed:
        return None
    error = run.error or {}
    details = {"run_id": run.id, "failed_nodes": [], "error": error}
    if error.get("type") == RequirementNotSatisfied.code:
        return RequirementNotSatisfied(
            str(error.get("message") or "a requirement is not satisfied"), details=details
        )
    return NodeFailed("the run failed", details=details)
