"""The dispatcher's use case: one invocation (``handle_invocation``) is a batch of queue messages or a sweep.
A message (``handle_record``) is a run to start (the run queue's ``{"run_id"}``, ``ExecuteRequest``), an
end user's OAuth 2.0 code to exchange (the run queue's ``{"oauth2_exchange": <state id>}``, queued by the
Apps function's callback: ``OAuth2ExchangeMessage``), a revoked OAuth link's tokens to revoke at the
provider (``{"oauth2_revoke": <link id>}``, queued by whichever function revoked it: ``OAuth2RevokeMessage``)
or a delivery attempt to make (the delivery queue's ``{"delivery_id", …}``, ``deliveries.DeliveryMessage``);
each model forbids the others' fields, so a message is the one it validates as."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

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


class OAuth2ExchangeMessage(BaseModel):
    """An OAuth 2.0 callback's code to exchange, sealed in its state item (named by id, never sent)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    oauth2_exchange: str = Field(pattern=r"^ost-[a-z2-7]{20}$")


class OAuth2RevokeMessage(BaseModel):
    """A revoked OAuth link whose tokens to revoke at the provider (sealed in its revocation record)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    oauth2_revoke: str = Field(pattern=r"^lnk-[a-z2-7]{20}$")


class QueueMessage(BaseModel):
    """One message of the run queue or of the delivery queue."""

    run: ExecuteRequest | None = None
    delivery: DeliveryMessage | None = None
    exchange: OAuth2ExchangeMessage | None = None
    revoke: OAuth2RevokeMessage | None = None

    model_config = ConfigDict(frozen=True)

    @classmethod
    def parse(cls, body: str) -> QueueMessage:
        message = _MESSAGE.validate_json(body)
        if isinstance(message, DeliveryMessage):
            return cls(delivery=message)
        if isinstance(message, OAuth2ExchangeMessage):
            return cls(exchange=message)
        if isinstance(message, OAuth2RevokeMessage):
            return cls(revoke=message)
        return cls(run=message)


class QueueBatch(BaseModel):
    """An SQS event: the messages its event source hands over (Powertools' batch processor reads them)."""

    Records: list[dict[str, Any]]


_MESSAGE: TypeAdapter[ExecuteRequest | DeliveryMessage | OAuth2ExchangeMessage | OAuth2RevokeMessage] = (
    TypeAdapter(ExecuteRequest | DeliveryMessage | OAuth2ExchangeMessage | OAuth2RevokeMessage)
)
_EVENT: TypeAdapter[QueueBatch | SweepRequest] = TypeAdapter(QueueBatch | SweepRequest)


def handle_invocation(
    event: Mapping[str, Any], process_batch: Callable[[], Mapping[str, Any]]
) -> dict[str, Any]:
    """One invocation of the dispatcher: a queue batch is handed to ``process_batch`` (the batch processor,
    which calls ``handle_record`` for each message and reports the ones that failed, to be retried); a sweep
    sweeps."""
    parsed = _EVENT.validate_python(event)
    if isinstance(parsed, QueueBatch):
        return dict(process_batch())
    return handle_sweep(parsed)


def handle_record(body: str) -> dict[str, Any]:
    """One queue message, by its body."""
    return handle_message(QueueMessage.parse(body))


def handle_message(message: QueueMessage) -> dict[str, Any]:
    """Start the run on the background executor (a throttled start raises: the message stays, and is
    retried), or make the attempt."""
    if message.delivery is not None:
        outcome = deliver(message.delivery)
        metrics.add_metric(name=f"Deliveries{outcome.capitalize()}", unit="Count", value=1)
        return {"delivery_id": message.delivery.delivery_id, "outcome": outcome}
    if message.exchange is not None:
        return exchange_oauth2_code(message.exchange.oauth2_exchange)
    if message.revoke is not None:
        return revoke_oauth2_link(message.revoke.oauth2_revoke)
    assert message.run is not None
    from switchboard.runtime.runs import start_execution

    return {"run_id": message.run.run_id, "execution_arn": start_execution(message.run.run_id, "background")}


def exchange_oauth2_code(state_id: str) -> dict[str, Any]:
    """Hand the exchange to the credentials function (only this role may invoke it); an activated link's
    ``link.activated`` event is emitted here, where the executor's role may queue deliveries."""
    from switchboard.runtime.credentials.client import exchange_oauth2_code as exchange
    from switchboard.runtime.links import events as link_events
    from switchboard.store import apps, links

    outcome = exchange(state_id)
    if outcome.link_id is not None:
        link = links.get_link_by_id(outcome.link_id)
        app = apps.get_app(link.app_id) if link is not None else None
        if link is not None and app is not None:
            link_events.emit(app, "link.activated", link, "authorized at the provider")
    return {"state_id": state_id, "outcome": outcome.outcome}


def revoke_oauth2_link(link_id: str) -> dict[str, Any]:
    """Hand a revoked OAuth link's revocation at its provider to the credentials function (best effort: it
    records its outcome and answers; it is not retried)."""
    from switchboard.runtime.credentials.client import revoke_oauth2_link as revoke

    return {"link_id": link_id, "outcome": revoke(link_id).outcome}


def handle_sweep(request: SweepRequest) -> dict[str, Any]:
    from switchboard.runtime.runs import sweep as sweep_runs

    return {"swept": sweep_runs(look_ahead=timedelta(seconds=request.look_ahead_seconds))}


__all__ = [
    "OAuth2ExchangeMessage",
    "OAuth2RevokeMessage",
    "QueueBatch",
    "QueueMessage",
    "SweepRequest",
    "handle_invocation",
    "handle_message",
    "handle_record",
    "handle_sweep",
]
