"""Retrying: a step node's attempts, with a timeout per attempt, retries with exponential backoff, one span
per attempt, and the attempts an executor that stopped cut short (``record_interruptions``).

The wait before attempt ``n`` (n ≥ 2) is ``backoff_seconds * backoff_multiplier ** (n - 2)``. Errors a
retry cannot fix (``StepError.retryable`` is false) end the attempts at once. A step that overruns its
deadline fails with ``timeout`` even if it then returned: the deadline is also every client's timeout.
Outputs and errors leave here redacted, so no secret flows on to a dependent or to a model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from switchboard.engine.contracts import Cancellation, EventSink, NodeError, Span
from switchboard.engine.errors import Canceled, StepError
from switchboard.engine.nodes import StepNode
from switchboard.engine.step_kinds import kind_of
from switchboard.engine.steps import Outcome, Services, StepContext
from switchboard.engine.steps.base import timeout_error
from switchboard.engine.tracing import error_data

CANCELED = NodeError("canceled", "the run was canceled")
DEADLINE_EXCEEDED = NodeError("deadline_exceeded", "the run's deadline passed before the node finished")
"""An attempt cut short by the run's deadline (not by the node's own timeout): no retry can help."""
INTERRUPTED = NodeError("interrupted", "the executor stopped while this attempt ran; it was not finished")
CANCELLATION_POLL_SECONDS = 1.0

RetryHook = Callable[[int, NodeError, float], None]
"""Called before each retry with the attempt number about to run, the last error and the wait."""


def run_attempts(
    services: Services,
    node: StepNode,
    inputs: dict[str, Any],
    parent: Span,
    *,
    owner_id: str,
    on_retry: RetryHook,
    deadline: float | None = None,
    as_tool: bool = False,
    first_attempt: int = 1,
) -> Outcome:
    """``first_attempt`` > 1 when earlier attempts were interrupted (their executor stopped): numbering goes
    on from there, and the node still gets all of its retries."""
    policy = node.error_handling
    error = NodeError("internal_error", "the node made no attempt")
    for attempt in range(first_attempt, first_attempt + policy.retries + 1):
        if attempt > first_attempt:
            delay = policy.backoff_seconds * policy.backoff_multiplier ** (attempt - first_attempt - 1)
            on_retry(attempt, error, delay)
            services.sleep(delay)
            if services.cancellation.is_canceled():
                return Outcome("canceled", error=CANCELED)
        attempt_deadline = time.monotonic() + policy.timeout_seconds
        for bound in (deadline, services.deadline):
            if bound is not None:
                attempt_deadline = min(attempt_deadline, bound)
        run_bound = services.deadline is not None and attempt_deadline >= services.deadline
        if run_bound and time.monotonic() >= attempt_deadline:
            return Outcome("failed", error=DEADLINE_EXCEEDED)
        span = services.tracer.start(
            "attempt", f"{node.id} attempt {attempt}", parent, inputs=inputs, attributes={"attempt": attempt}
        )
        step = StepContext(services, node, owner_id, inputs, span, attempt_deadline, as_tool)
        try:
            output = _attempt(step)
            if time.monotonic() > attempt_deadline:
                raise timeout_error(node)
        except StepError as failure:
            error = _redacted(services, failure.node_error())
            if run_bound and error.type == "timeout":
                error = DEADLINE_EXCEEDED
            services.tracer.end(span, "failed", error=error)
            if not failure.retryable or error is DEADLINE_EXCEEDED:
                break
        except Canceled:
            services.tracer.end(span, "canceled", error=CANCELED)
            return Outcome("canceled", error=CANCELED)
        except Exception as failure:  # a bug in a step fails its node, never the run loop
            error = NodeError("internal_error", f"unexpected {type(failure).__name__} in node '{node.id}'")
            services.tracer.end(span, "failed", error=error)
        else:
            output = services.redactor.value(output)
            services.tracer.end(span, "completed", outputs=output)
            return Outcome("completed", output=output)
    return Outcome("failed", error=error)


def _attempt(step: StepContext) -> Any:
    """One attempt of the step's node, by its registered kind."""
    attempt = kind_of(step.node).attempt
    if attempt is None:
        raise TypeError(f"not a step node type: {step.node.type}")
    return attempt(step, step.node)


def record_interruptions(services: Services, node: StepNode, parent: Span, interrupted: int) -> None:
    """``interrupted`` attempts of the node were cut short by an executor that stopped: each shows in the
    trace, and the node is told as retrying."""
    for attempt in range(1, interrupted + 1):
        span = services.tracer.start(
            "attempt", f"{node.id} attempt {attempt}", parent, attributes={"attempt": attempt}
        )
        services.tracer.end(span, "interrupted", error=INTERRUPTED)
        services.events.emit(
            "node.retrying",
            {
                "node_id": node.id,
                "attempt": attempt + 1,
                "error": error_data(INTERRUPTED),
                "delay_seconds": 0,
            },
        )


def retry_hook(events: EventSink, node_id: str, tool_id: str | None = None) -> RetryHook:
    """The hook that tells a node's (or an agent's tool's) retry as a ``node.retrying`` event."""

    def emit(attempt: int, error: NodeError, delay: float) -> None:
        data: dict[str, Any] = {
            "node_id": node_id,
            "attempt": attempt,
            "error": error_data(error),
            "delay_seconds": delay,
        }
        events.emit("node.retrying", data if tool_id is None else {**data, "tool": tool_id})

    return emit


def sleep_unless_canceled(cancellation: Cancellation) -> Callable[[float], None]:
    """The run's default backoff wait: it sleeps, but stops early once the run is canceled."""

    def wait(seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not cancellation.is_canceled():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, CANCELLATION_POLL_SECONDS))

    return wait


def _redacted(services: Services, error: NodeError) -> NodeError:
    details = services.redactor.value(dict(error.details)) if error.details else None
    return NodeError(type=error.type, message=services.redactor.text(error.message), details=details)
