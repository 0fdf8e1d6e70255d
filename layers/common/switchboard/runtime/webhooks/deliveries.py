"""Signed webhook deliveries, retried through the delivery queue (never a sleeping function).

When a run with callbacks ends (``run_finished``, called by the executor right after its terminal write), each
callback becomes a delivery record and a queue message; the tokens leave the run record in the same
transaction. A link event (``switchboard.runtime.links.events``) becomes one delivery record, holding the
event's body, and a queue message. The executor consumes the delivery queue and makes one attempt per message
(``deliver``):

- message body: ``{"delivery_id": "dlv-…", "run_id": "run-…", "attempt": n}`` for a callback,
  ``{"delivery_id": "dlv-…", "event_id": "evt-…", "attempt": n}`` for an event (``attempt`` starts at 1);
- request: ``POST`` the JSON ``{"id": <run id>, "status", "output", "error", "metadata"}`` (a callback)
  or the event's stored body, with ``webhook-id`` (the delivery id, the same on every attempt),
  ``webhook-timestamp``, ``webhook-signature`` (``switchboard.runtime.webhooks.signing``, with the App's
  signing secret from the credentials function), ``Content-Type: application/json``,
  ``User-Agent: Switchboard-Webhooks/1`` and ``Authorization: Bearer`` when the callback has a token; 10 s
  to connect and for each read; redirects are not followed;
- the URL is checked again before every attempt (the egress guard, ``switchboard.egress``): one that now
  resolves inside is recorded ``blocked`` and never retried;
- 2xx → ``delivered``; anything else (status, timeout, connection or TLS error, an unavailable signing
  secret, an unresolvable host) is recorded and retried after 5 s, 30 s, 2 min, 10 min and 1 h, so
  ``MAX_ATTEMPTS`` = 6 attempts in about 73 minutes, then ``failed``. A retry is a new message with
  ``DelaySeconds``; waits longer than SQS's 15 minutes are chained (a message that arrives before the
  record's ``next_attempt_at`` is sent again with the remaining delay).

The follow-up message is sent before the attempt is recorded, and recording is conditional on the attempt
number: a crash in between repeats an attempt (the receiver sees the same ``webhook-id``) but never loses
one, and a duplicated message finds its attempt recorded and does nothing. Whatever a delivery does, it
never changes its run or link. The consumed message is always acknowledged; only a crash leaves it to the
queue's redrive (five receives, then the dead-letter queue).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from switchboard import aws, egress
from switchboard.domain.deliveries import Delivery, DeliveryAttempt, DeliveryStatus, EventDelivery
from switchboard.domain.errors import Conflict, SwitchboardError
from switchboard.domain.ids import random_body, utcnow
from switchboard.domain.runs import Run
from switchboard.observability import logger, metrics
from switchboard.runtime.credentials import client as credentials_client
from switchboard.runtime.webhooks import sending as webhooks
from switchboard.runtime.webhooks.callbacks import Callback, parse_stored, public_view
from switchboard.runtime.webhooks.signing import signature_headers
from switchboard.settings import get_settings
from switchboard.store import deliveries as store
from switchboard.store import runs

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

MAX_ATTEMPTS = 6
RETRY_DELAYS_SECONDS = (5, 30, 120, 600, 3600)
"""Wait after the failed attempt 1, 2, … before the next one."""
MAX_QUEUE_DELAY_SECONDS = 900
USER_AGENT = "Switchboard-Webhooks/1"
DELIVERY_ID_PREFIX = "dlv"
_QUEUE_BATCH = 10
_RUN_ID_PATTERN = r"^run-[a-z0-9]{1,64}$"
_RUN_ID = re.compile(_RUN_ID_PATTERN)
_EVENT_ID_PATTERN = r"^evt-[a-z2-7]{20}$"


class DeliveryMessage(BaseModel):
    """A delivery queue message: make attempt ``attempt`` of one delivery, of a run's callback (``run_id``)
    or of a link event (``event_id``), exactly one of them."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    delivery_id: str = Field(pattern=rf"^{DELIVERY_ID_PREFIX}-[a-z2-7]{{20}}$")
    run_id: str | None = Field(default=None, pattern=_RUN_ID_PATTERN)
    event_id: str | None = Field(default=None, pattern=_EVENT_ID_PATTERN)
    attempt: int = Field(ge=1, le=MAX_ATTEMPTS)

    @model_validator(mode="after")
    def _one_subject(self) -> DeliveryMessage:
        if (self.run_id is None) == (self.event_id is None):
            raise ValueError("a delivery message names either run_id or event_id")
        return self

    def next_attempt(self) -> DeliveryMessage:
        return self.model_copy(update={"attempt": self.attempt + 1})

    def body(self) -> str:
        return self.model_dump_json(exclude_none=True)


def _sqs() -> SQSClient:
    client: SQSClient = aws.client("sqs")
    return client


def _enqueue(messages: list[tuple[DeliveryMessage, int]]) -> None:
    """Send ``(message, delay seconds)`` pairs, ten per call; raise when any was not accepted."""
    queue_url = get_settings().delivery_queue_url
    for start in range(0, len(messages), _QUEUE_BATCH):
        chunk = messages[start : start + _QUEUE_BATCH]
        response = _sqs().send_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {
                    "Id": str(index),
                    "MessageBody": message.body(),
                    "DelaySeconds": min(max(delay, 0), MAX_QUEUE_DELAY_SECONDS),
                }
                for index, (message, delay) in enumerate(chunk)
            ],
        )
        if response.get("Failed"):
            codes = sorted({failure.get("Code", "") for failure in response["Failed"]})
            raise RuntimeError(f"the delivery queue refused messages: {codes}")


def run_finished(run: Run) -> Run:
    """Schedule the finished run's callback deliveries (none: no AWS call at all). Never raises: a run's
    status never depends on its callbacks."""
    if not run.callbacks:
        return run
    if not get_settings().delivery_queue_url:
        logger.error(
            "callbacks cannot be delivered: no delivery queue is configured", extra={"run_id": run.id}
        )
        return run
    try:
        callbacks = parse_stored(run.callbacks)
    except ValidationError as error:
        # The error's text would quote the stored values, the caller's tokens among them.
        logger.error("invalid callbacks on the run", extra={"run_id": run.id, "errors": error.error_count()})
        return run
    try:
        now = utcnow()
        scheduled = [
            _callback_delivery(run, callback, index, f"{run.id}:end:{index}", now)
            for index, callback in enumerate(callbacks)
        ]
        store.create_run_deliveries(run, scheduled, [public_view(c.stored()) for c in callbacks])
        _enqueue([(DeliveryMessage(delivery_id=d.id, run_id=run.id, attempt=1), 0) for d in scheduled])
    except Conflict:
        logger.info("the run's callbacks were already scheduled", extra={"run_id": run.id})
    except Exception:
        logger.exception("the run's callbacks could not be scheduled", extra={"run_id": run.id})
        metrics.add_metric(name="CallbacksUnscheduled", unit="Count", value=1)
    return run


def new_delivery_id(seed: str | None = None) -> str:
    """A new delivery id; with ``seed``, the same id every time (a retried write makes no second delivery)."""
    if seed is None:
        return f"{DELIVERY_ID_PREFIX}-{random_body()}"
    digest = base64.b32encode(hashlib.sha256(seed.encode()).digest()).decode().lower()
    return f"{DELIVERY_ID_PREFIX}-{digest[:20]}"


def run_awaiting_input(run_id: str, request: dict[str, Any]) -> None:
    """Tell the run's callbacks and the App's ``event_url`` that it waits for input (``run.awaiting_input``).
    Never raises: the run waits whether or not anyone was told."""
    try:
        run = runs.get_run(run_id)
        if run is None:
            return
        _notify_callbacks(run, request)
        from switchboard.runtime.webhooks import app_events
        from switchboard.store import apps

        app = apps.get_app(run.app_id)
        if app is not None:
            app_events.emit(app, "run.awaiting_input", _awaiting_data(run, request))
    except Exception:
        logger.exception("the run's input request could not be announced", extra={"run_id": run_id})
        metrics.add_metric(name="NoticesUnscheduled", unit="Count", value=1)


def _awaiting_data(run: Run, request: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": run.id,
        "app_id": run.app_id,
        "user_id": run.user_id,
        "status": "awaiting_input",
        "input_request": public_request(request),
    }


PUBLIC_REQUEST_FIELDS = ("id", "type", "prompt", "params", "editable_params")


def public_request(request: dict[str, Any]) -> dict[str, Any]:
    """An input request as callers see it (never its callback id)."""
    return {name: request[name] for name in PUBLIC_REQUEST_FIELDS if name in request}


def _notify_callbacks(run: Run, request: dict[str, Any]) -> None:
    if not run.callbacks or not get_settings().delivery_queue_url:
        return
    callbacks = parse_stored(run.callbacks)
    now = utcnow()
    notices = []
    for index, callback in enumerate(callbacks):
        body = {
            "id": run.id,
            "status": "awaiting_input",
            "input_requests": [public_request(request)],
            "metadata": callback.metadata,
        }
        key = f"{run.id}:input:{request['id']}:{index}"
        notices.append(
            _callback_delivery(
                run, callback, index, key, now, body=json.dumps(body, separators=(",", ":"), default=str)
            )
        )
    try:
        store.create_notices(notices)
    except Conflict:
        return
    _enqueue([(DeliveryMessage(delivery_id=d.id, run_id=run.id, attempt=1), 0) for d in notices])


def schedule_event(delivery: EventDelivery) -> None:
    """Store an event's delivery and queue its first attempt (raises when either fails)."""
    if not get_settings().delivery_queue_url:
        raise RuntimeError("no delivery queue is configured")
    store.create_event_delivery(delivery)
    _enqueue([(DeliveryMessage(delivery_id=delivery.id, event_id=delivery.event_id, attempt=1), 0)])


@dataclass(frozen=True)
class _Outcome:
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0
    blocked: bool = False
    final: bool = False

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _load(message: DeliveryMessage) -> Delivery | EventDelivery | None:
    if message.event_id is not None:
        return store.get_event_delivery(message.event_id, message.delivery_id)
    assert message.run_id is not None
    return store.get_delivery(message.run_id, message.delivery_id)


def deliver(message: DeliveryMessage) -> str:
    """Make the message's attempt unless it is a duplicate or early; return what happened."""
    delivery = _load(message)
    context = message.model_dump(exclude_none=True)
    if delivery is None:
        logger.warning("delivery not found", extra=context)
        return "unknown"
    if delivery.status is not DeliveryStatus.pending or message.attempt != delivery.attempt_count + 1:
        logger.info("delivery message already handled", extra={**context, "status": delivery.status.value})
        return "duplicate"
    now = utcnow()
    if delivery.next_attempt_at is not None and delivery.next_attempt_at > now + timedelta(seconds=1):
        _enqueue([(message, _seconds_until(delivery.next_attempt_at, now))])
        return "deferred"
    outcome = _attempt(delivery)
    attempt = DeliveryAttempt(
        number=message.attempt,
        at=now,
        status_code=outcome.status_code,
        error=outcome.error,
        duration_ms=outcome.duration_ms,
    )
    status, next_attempt_at = _next_state(outcome, message.attempt, now)
    if next_attempt_at is not None:
        _enqueue([(message.next_attempt(), _seconds_until(next_attempt_at, now))])
    try:
        store.record_attempt(delivery, attempt, status, next_attempt_at)
    except Conflict:
        logger.warning("attempt recorded concurrently", extra=context)
        return "duplicate"
    logger.info(
        "delivery attempt",
        extra={
            **context,
            "app_id": delivery.app_id,
            "status": status.value,
            "status_code": outcome.status_code,
            "error": outcome.error,
            "duration_ms": outcome.duration_ms,
        },
    )
    return status.value if status is not DeliveryStatus.pending else "retrying"


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(0, int((moment - now).total_seconds() + 0.999))


def _next_state(outcome: _Outcome, number: int, now: datetime) -> tuple[DeliveryStatus, datetime | None]:
    if outcome.delivered:
        return DeliveryStatus.delivered, None
    if outcome.blocked:
        return DeliveryStatus.blocked, None
    if outcome.final or number >= MAX_ATTEMPTS:
        return DeliveryStatus.failed, None
    return DeliveryStatus.pending, now + timedelta(seconds=RETRY_DELAYS_SECONDS[number - 1])


def _body(delivery: Delivery | EventDelivery) -> bytes | None:
    """What the delivery sends; None when its run no longer exists."""
    if isinstance(delivery, EventDelivery):
        return delivery.body.encode()
    if delivery.body is not None:
        return delivery.body.encode()
    run = runs.get_run(delivery.run_id)
    return callback_body(run, delivery.metadata) if run is not None else None


def _attempt(delivery: Delivery | EventDelivery) -> _Outcome:
    body = _body(delivery)
    if body is None:
        return _Outcome(error="run_not_found", final=True)
    try:
        destination = egress.check_url(delivery.url, egress.current_policy(), https_only=True)
    except egress.EgressRefused as rejected:
        return _Outcome(error=rejected.code, blocked=rejected.code != "unresolvable_host")
    try:
        secret = credentials_client.signing_secret(delivery.app_id)
    except SwitchboardError as unavailable:
        logger.warning(
            "no signing secret for a delivery",
            extra={"delivery_id": delivery.id, "app_id": delivery.app_id, "code": unavailable.error_code},
        )
        return _Outcome(error="signing_secret_unavailable")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **signature_headers(secret, delivery.id, int(time.time()), body),
    }
    if isinstance(delivery, Delivery) and delivery.auth_token is not None:
        headers["Authorization"] = f"Bearer {delivery.auth_token.get_secret_value()}"
    result = webhooks.post(destination, body, headers)
    return _Outcome(status_code=result.status_code, error=result.error, duration_ms=result.duration_ms)


def callback_body(run: Run, metadata: dict[str, Any] | None) -> bytes:
    """The delivered JSON: the same bytes on every attempt (a finished run does not change)."""
    document = {
        "id": run.id,
        "status": run.status.value,
        "output": run.output,
        "error": run.error,
        "metadata": metadata,
    }
    return json.dumps(document, separators=(",", ":"), default=str).encode()


def _callback_delivery(
    run: Run, callback: Callback, index: int, key: str, now: datetime, body: str | None = None
) -> Delivery:
    """A delivery to the run's callback ``index``, due now; ``key`` makes its id (one per key, ever)."""
    return Delivery(
        id=new_delivery_id(key),
        run_id=run.id,
        app_id=run.app_id,
        url=callback.url,
        callback_index=index,
        metadata=callback.metadata,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
        expires_at=run.expires_at,
        auth_token=callback.auth.token if callback.auth else None,
        body=body,
    )
