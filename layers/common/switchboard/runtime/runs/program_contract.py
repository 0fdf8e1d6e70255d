"""What the executor's program shares with the functions that start it and wake it up (without the durable
execution SDK, which only the executor bundles): its input, and the error types an input callback is failed
with (``program`` maps them to a canceled node or a timed-out one)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

CANCELED_CALLBACK = "run_canceled"
"""The run was canceled while it waited for input."""
TIMED_OUT_CALLBACK = "input_timeout"
"""The request's time was up (the sweeper's backstop for a service that did not time it out)."""


class ExecuteRequest(BaseModel):
    """The execution's input, and a run queue message: which run to execute (the execution is named after
    it)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    run_id: str = Field(min_length=1, max_length=64, pattern=r"^run-[a-z0-9]{1,60}$")


def deadline_exceeded(timeout_seconds: int) -> dict[str, Any]:
    """The error of a run that took longer than its App's ``run_timeout_seconds``."""
    return {
        "type": "deadline_exceeded",
        "message": f"the run took longer than its {timeout_seconds} s (run_timeout_seconds)",
        "details": {"timeout_seconds": timeout_seconds},
    }
