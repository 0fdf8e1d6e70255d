"""The dispatcher's use cases: one queue message (start a background run, or make a delivery attempt) and one
sweep. The message's shape says what it is: ``{"run_id"}`` (the run queue) or ``{"delivery_id", …}`` (the
delivery queue, ``deliveries.DeliveryMessage``)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from switchboard.observability import metrics
from switchboard.runtime.runs.program_contract import ExecuteRequest
from switchboard.runtime.webhooks.deliveries import DeliveryMessage, deliver


class SweepRequest(BaseModel):
    """What the sweep schedule sends."""

    model_config = ConfigDict(extra="forbid", strict=True)

    sweep: Literal[True] = True
    look_ahead_seconds: int = Field(
        default=0,
        ge=0,
        le=300,
        description="Also start the created runs due within this many seconds (the local stack's first "
        "sweep after a restart)",
    )


class QueueMessage(BaseModel):
    """One message of the run queue or of the delivery queue."""

    run: ExecuteRequest | None = None
    delivery: DeliveryMessage | None = None

    model_config = ConfigDict(frozen=True)

    @classmethod
    def parse(cls, body: str) -> QueueMessage:
        document = json.loads(body)
        if isinstance(document, dict) and "delivery_id" in document:
            return cls(delivery=DeliveryMessage.model_validate(document))
        return cls(run=ExecuteRequest.model_validate(document))


def handle_message(message: QueueMessage) -> dict[str, Any]:
    """Start the run on the background executor (a throttled start raises: the message stays, and is
    retried), or make the attempt."""
    if message.delivery is not None:
        outcome = deliver(message.delivery)
        metrics.add_metric(name=f"Deliveries{outcome.capitalize()}", unit="Count", value=1)
        return {"delivery_id": message.delivery.delivery_id, "outcome": outcome}
    assert message.run is not None
    from switchboard.runtime.runs import start_execution

    return {"run_id": message.run.run_id, "execution_arn": start_execution(message.run.run_id, "background")}


def handle_sweep(request: SweepRequest) -> dict[str, Any]:
    from switchboard.runtime.runs import sweep as sweep_runs

    return {"swept": sweep_runs(look_ahead=timedelta(seconds=request.look_ahead_seconds))}


__all__ = ["QueueMessage", "SweepRequest", "handle_message", "handle_sweep"]
