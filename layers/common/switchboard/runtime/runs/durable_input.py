"""A ``human_input`` node's wait, as a durable callback ``input:<id>`` of the executor's durable driver.

The callback's submitter step publishes what the run left unpublished, stores the open input request and
emits ``input.requested``; the execution then waits with no compute until ``answers.answer`` completes the
callback, cancelling fails it (``CANCELED_CALLBACK``), or its timeout passes: the request's own, or the time
the run has left before its deadline, read from the last step's clock so that every replay waits the same.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aws_durable_execution_sdk_python.config import Duration, WaitForCallbackConfig
from aws_durable_execution_sdk_python.exceptions import CallbackError, CallbackTimeoutError

from switchboard.domain.ids import utcnow
from switchboard.engine.errors import Canceled, StepError
from switchboard.runtime.runs.durable_steps import Clock
from switchboard.runtime.runs.program_contract import CANCELED_CALLBACK, TIMED_OUT_CALLBACK
from switchboard.runtime.runs.run_results import deadline_error, error_fields
from switchboard.runtime.runs.step_effects import StepEffects
from switchboard.runtime.webhooks import deliveries
from switchboard.store import runs

if TYPE_CHECKING:
    from switchboard.runtime.runs.durable_driver import DurableDriver


def ask_for_input(
    driver: DurableDriver,
    node_id: str,
    carried: StepEffects,
    before: StepEffects,
    started: threading.Event | None,
    request: dict[str, Any],
) -> dict[str, Any]:
    """The node's ``ask``: the request stored and announced by the callback's submitter step, then the wait
    (``input:<id>``, no compute) for the answer, or the error its timeout, a cancel or a failure makes."""
    program, run = driver.program, driver.began.run
    timeout, bounded_by_deadline = _input_timeout(request, run.deadline_at, driver.clock)

    def submit(callback_id: str, _: object) -> None:
        if started is not None:
            started.set()
        program.publish(carried, driver.live)
        program.publish(before.take(), driver.live)
        asked = utcnow()
        stored = {
            **request,
            "state": "open",
            "callback_id": callback_id,
            "requested_at": asked.isoformat(),
        }
        runs.open_input_request(run, stored, asked, asked + timedelta(seconds=timeout))
        driver.live.emit("input.requested", {"node_id": node_id, "request": request})
        program.flush()
        deliveries.run_awaiting_input(run.id, request)

    config = WaitForCallbackConfig(timeout=Duration.from_seconds(timeout))
    try:
        raw = program.ctx.wait_for_callback(submit, name=f"input:{node_id}", config=config)
    except CallbackTimeoutError:
        driver.effects.closed_requests[node_id] = "expired"
        if bounded_by_deadline:
            raise StepError(**error_fields(deadline_error(run)), retryable=False) from None
        raise StepError(
            "input_timeout",
            f"no answer came within {timeout} s",
            {"request_id": node_id, "timeout_seconds": timeout},
            retryable=False,
        ) from None
    except CallbackError as failed:
        reason = f"{failed.data or ''} {failed}"
        if CANCELED_CALLBACK in reason:
            driver.effects.closed_requests[node_id] = "canceled"
            raise Canceled from None
        driver.effects.closed_requests[node_id] = "expired"
        if TIMED_OUT_CALLBACK in reason:
            raise StepError(
                "input_timeout", "no answer came in time", {"request_id": node_id}, retryable=False
            ) from None
        raise StepError("input_failed", "the input request failed", retryable=False) from None
    finally:
        before.take()
        if started is not None:
            started.set()
    driver.effects.closed_requests[node_id] = "answered"
    answer: dict[str, Any] = json.loads(raw) if isinstance(raw, str | bytes) else raw
    return answer


def _input_timeout(request: dict[str, Any], deadline: datetime | None, clock: Clock) -> tuple[int, bool]:
    """The request's own timeout, or the time the run has left (deterministic: from the step clock)."""
    wanted = int(request["timeout_seconds"])
    if deadline is None:
        return wanted, False
    left = max(int((deadline - clock.at).total_seconds()), 1)
    return (left, True) if left < wanted else (wanted, False)
