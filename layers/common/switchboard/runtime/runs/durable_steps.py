"""How a durable run's steps are configured and what they record, so that every replay decides the same.

- ``NODE_STEP`` and ``BOOKKEEPING_STEP``: a node step runs at most once per attempt and is retried only after
  its invocation stopped mid-step (``StepInterruptedError``, at most ``MAX_INTERRUPTIONS`` times); ``begin``
  and ``finish`` are idempotent and retried on any failure.
- ``Clock``: what a step saw when it ended (the time, whether this invocation has had its share of time, the
  run's cancellation as ``RunCancellation`` last read it), checkpointed with the step's result; the program's
  choices outside steps are read from it, never from the wall clock of a replay.
- ``invocation_budget``: how long one invocation works on the run before it goes on in a fresh one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aws_durable_execution_sdk_python import DurableContext
from aws_durable_execution_sdk_python.config import Duration, StepConfig, StepSemantics
from aws_durable_execution_sdk_python.exceptions import StepInterruptedError
from aws_durable_execution_sdk_python.retries import RetryDecision, RetryPresets

from switchboard.settings import get_settings
from switchboard.store import runs

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


INVOCATION_MARGIN_SECONDS = 60
"""Kept from a Lambda invocation's time when deciding to go on in a fresh one (a tenth of it when that is
less): room for the step in progress to end and checkpoint."""


def seconds_left(context: DurableContext, default: float) -> float:
    lambda_context = context.lambda_context
    if lambda_context is None:
        return default
    return float(lambda_context.get_remaining_time_in_millis()) / 1000


def invocation_budget(context: DurableContext) -> float:
    """``EXECUTOR_INVOCATION_SECONDS``, within the invocation's own time less a margin."""
    configured = float(get_settings().executor_invocation_seconds)
    left = seconds_left(context, default=configured + INVOCATION_MARGIN_SECONDS)
    return min(configured, left - min(INVOCATION_MARGIN_SECONDS, left / 10))
