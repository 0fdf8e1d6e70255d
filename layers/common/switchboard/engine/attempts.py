"""A step node's attempts: a timeout per attempt, retries with exponential backoff, one span per attempt.

The wait before attempt ``n`` (n ≥ 2) is ``backoff_seconds * backoff_multiplier ** (n - 2)``. Errors a
retry cannot fix (``StepError.retryable`` is false) end the attempts at once. A step that overruns its
deadline fails with ``timeout`` even if it then returned: the deadline is also every client's timeout.
Outputs and errors leave here redacted, so no secret flows on to a dependent or to a model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from switchboard.engine.contracts import NodeError, Span
from switchboard.engine.errors import Canceled, StepError
from switchboard.engine.nodes import StepNode
from switchboard.engine.steps import Outcome, Services, StepContext, run_step
from switchboard.engine.steps.base import timeout_error

CANCELED = NodeError("canceled", "the run was canceled")
DEADLINE_EXCEEDED = NodeError("deadline_exceeded", "the run's deadline passed before the node finished")
"""An attempt cut short by the run's deadline (not by the node's own timeout): no retry can help."""

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
            output = run_step(step)
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


def _redacted(services: Services, error: NodeError) -> NodeError:
    details = services.redactor.value(dict(error.details)) if error.details else None
    return NodeError(type=error.type, message=services.redactor.text(error.message), details=details)
