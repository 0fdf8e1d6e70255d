"""Firing a trigger: the trigger function's use case, for a Scheduler firing and for a signed webhook event.

Each firing has a key, ``schedule:<scheduled time>`` or ``webhook:<webhook-id>``, and ends as exactly one
recorded event (``store.trigger_events``):

- ``skipped``: the trigger is disabled (nothing runs);
- ``rejected`` with the reason: its input could not be built, or the run use case of ``POST /v1/runs``
  refused the run (invalid input, no deployment, the requirements pre-flight for the trigger's ``user_id``);
- ``accepted`` with the ID of the background run it started.

Order, so that a firing never starts two runs and nothing is lost: a firing whose key already has an event is
answered with that event at once; otherwise the run is created (``created``, not yet queued), then the event
and the firing's claim are written in one transaction, and only then is the run queued. A concurrent delivery
of the same firing that loses the transaction cancels the run it created, unqueued, and answers with the
winner's event. A failure worth retrying (a store or the queue unavailable) is raised before anything is
recorded; once the event is recorded, a run the queue refused stays ``created`` and the sweeper starts it.

A trigger's runs are created by ``trigger:<trigger id>`` and act for its ``user_id``: the builder who
configured the trigger vouched for that user, as an access key's holder does for a direct call, so the run
use case gets a principal of the builder's kind (never an access key: no connect URL is minted for a firing
nobody watches).

The run's input is ``{**input, **<input_transformer applied to the firing's document>}``; the document is a
webhook's body (JSON, else text), or for a schedule ``{scheduled_time, execution_id, trigger: {id, name}}``.
"""

from __future__ import annotations

import base64
import time
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from jmespath.exceptions import JMESPathError
from pydantic import ValidationError

from switchboard import json_limits
from switchboard.auth.principal import Principal
from switchboard.domain.errors import (
    Conflict,
    NotFound,
    RequirementNotSatisfied,
    ServiceUnavailable,
    SwitchboardError,
    Unauthorized,
    ValidationFailed,
    error_body,
    error_document,
    validation_details,
)
from switchboard.domain.ids import iso, new_id, utcnow
from switchboard.domain.models import TokenKind
from switchboard.domain.runs import RunSource, RunStatus
from switchboard.domain.triggers import (
    Trigger,
    TriggerEvent,
    TriggerEventStatus,
    TriggerType,
    compile_input_transformer,
)
from switchboard.observability import logger, metrics
from switchboard.runtime.runs.creation import RunRequest, create
from switchboard.runtime.runs.ending import end_run
from switchboard.runtime.runs.starting import enqueue
from switchboard.runtime.triggers import secrets as trigger_secrets
from switchboard.runtime.triggers.contract import (
    REFUSAL_CODES,
    REQUEST_ADAPTER,
    TIMESTAMP_TOLERANCE_SECONDS,
    EventAnswer,
    EventSummary,
    ScheduledFiring,
    WebhookFiring,
    check_timestamp,
)
from switchboard.runtime.webhooks.signing import WebhookVerificationError, verify_webhook
from switchboard.settings import get_settings
from switchboard.store import apps, trigger_events, triggers
from switchboard.store.trigger_events import Recorded

SCHEDULE_FIRING = "schedule:"
WEBHOOK_FIRING = "webhook:"
TRIGGER_ACTOR = "trigger:"
"""``trigger:<trigger id>``: who created a trigger's runs, in their records."""


def answer(request_document: Any) -> dict[str, Any]:
    """The trigger function's answer to one invocation: the firing's event, or a refusal document."""
    try:
        request = REQUEST_ADAPTER.validate_python(request_document)
    except ValidationError as error:
        return error_body("invalid_request", "not a trigger firing", validation_details(error))
    try:
        event = receive_webhook(request) if isinstance(request, WebhookFiring) else fire_scheduled(request)
    except SwitchboardError as refused:
        if refused.error_code not in REFUSAL_CODES:
            raise
        return error_document(refused)
    if event is None:
        return error_body("not_found", "trigger not found", {"trigger_id": request.trigger_id})
    metrics.add_metric(name=f"TriggerEvents{event.status.value.capitalize()}", unit=MetricUnit.Count, value=1)
    return EventAnswer(event=EventSummary.of(event)).model_dump(mode="json")


def fire_scheduled(firing: ScheduledFiring) -> TriggerEvent | None:
    """A Scheduler firing of the trigger; None when the trigger no longer exists (a schedule outlived it)."""
    scheduled_time = iso(firing.scheduled_time)
    payload = {"scheduled_time": scheduled_time, "execution_id": firing.execution_id}
    return fire(firing.trigger_id, f"{SCHEDULE_FIRING}{scheduled_time}", payload, utcnow())


def receive_webhook(firing: WebhookFiring, now: float | None = None) -> TriggerEvent:
    """An event posted to a webhook trigger of the App: 404 unless the App has that webhook trigger, 401
    unless it is signed with the trigger's secret within 5 minutes of now, 409 ``duplicate_event`` for a
    webhook-id the trigger received before (no second run)."""
    trigger = triggers.get_trigger(firing.trigger_id)
    if trigger is None or trigger.app_id != firing.app_id or trigger.type is not TriggerType.webhook:
        raise NotFound("trigger not found")
    delivery = firing.webhook
    check_timestamp(str(delivery.timestamp), now)
    body = base64.b64decode(delivery.body_base64)
    secret = trigger_secrets.decrypt(trigger)
    try:
        verify_webhook(
            secret,
            delivery.headers(),
            body,
            tolerance=TIMESTAMP_TOLERANCE_SECONDS,
            now=time.time() if now is None else now,
        )
    except WebhookVerificationError:
        raise Unauthorized(
            "the webhook-signature does not match the event signed with this trigger's secret",
            code="invalid_signature",
        ) from None
    recorded = fire_trigger(trigger, f"{WEBHOOK_FIRING}{delivery.id}", payload_of(body), utcnow())
    if recorded.duplicate:
        raise Conflict(
            "this webhook-id was received before; the event started nothing new",
            code="duplicate_event",
            details={"event_id": recorded.event.id, "status": recorded.event.status.value},
        )
    return recorded.event


def payload_of(body: bytes) -> Any:
    """A webhook's body as recorded: its JSON value when it is JSON that ``json_limits`` accepts (nested at
    most ``MAX_JSON_DEPTH`` levels, numbers a run can store), else its text."""
    text = body.decode("utf-8", errors="replace")
    try:
        return json_limits.loads(text)
    except ValueError:
        return text


def fire(trigger_id: str, firing_key: str, payload: Any, received_at: datetime) -> TriggerEvent | None:
    trigger = triggers.get_trigger(trigger_id)
    if trigger is None:
        logger.info("a firing of a trigger that does not exist", extra={"trigger_id": trigger_id})
        return None
    return fire_trigger(trigger, firing_key, payload, received_at).event


def fire_trigger(trigger: Trigger, firing_key: str, payload: Any, received_at: datetime) -> Recorded:
    """The firing's one event: the one recorded before for its key, or the outcome of this firing."""
    recorded_before = trigger_events.firing_event(trigger.id, firing_key)
    if recorded_before is not None:
        logger.info(
            "a firing received again", extra={"trigger_id": trigger.id, "event_id": recorded_before.id}
        )
        return Recorded(recorded_before, duplicate=True)
    event = TriggerEvent(
        id=new_id("trigger_event"),
        trigger_id=trigger.id,
        app_id=trigger.app_id,
        received_at=received_at,
        status=TriggerEventStatus.skipped,
        firing_key=firing_key,
        payload=payload,
    )
    if not trigger.enabled:
        return _record(event, "the trigger is disabled")
    app = apps.get_app(trigger.app_id)
    if app is None:
        return _record(
            event.model_copy(update={"status": TriggerEventStatus.rejected}), "the App does not exist"
        )
    try:
        run_input = run_input_of(trigger, firing_key, payload)
        run = create(
            app,
            RunRequest(
                input=run_input,
                user_id=trigger.user_id,
                mode="background",
                source=RunSource(trigger.type.value),
            ),
            _trigger_principal(trigger),
        )
    except SwitchboardError as refused:
        if refused.status >= 500:
            raise
        rejected = event.model_copy(update={"status": TriggerEventStatus.rejected})
        return _record(rejected, _reason(refused))
    recorded = _record(
        event.model_copy(update={"status": TriggerEventStatus.accepted, "run_id": run.id}), None
    )
    if recorded.duplicate:
        # A concurrent delivery of this firing recorded its event first: this run never starts.
        error = {"type": "duplicate_firing", "message": f"the firing started {recorded.event.run_id}"}
        end_run(run, RunStatus.canceled, result={"error": error}, from_statuses={RunStatus.created})
        return recorded
    try:
        enqueue(run)
    except ServiceUnavailable:
        # Recorded, so not lost: the sweeper starts a created run that did not start within a minute.
        logger.warning("a fired run could not be queued; the sweeper starts it", extra={"run_id": run.id})
    logger.info("trigger fired", extra={"trigger_id": trigger.id, "event_id": event.id, "run_id": run.id})
    return recorded


def run_input_of(trigger: Trigger, firing_key: str, payload: Any) -> dict[str, Any]:
    """``{**input, **transformed}``; 422 when the transformer yields something other than an object."""
    run_input = dict(trigger.input or {})
    if not trigger.input_transformer:
        return run_input
    document = payload
    if firing_key.startswith(SCHEDULE_FIRING) and isinstance(payload, dict):
        document = {**payload, "trigger": {"id": trigger.id, "name": trigger.name}}
    try:
        transformed = compile_input_transformer(trigger.input_transformer).search(document)
    except JMESPathError as error:
        raise ValidationFailed(
            f"input_transformer failed on the event: {type(error).__name__}", code="invalid_transformed_input"
        ) from None
    if transformed is None:
        return run_input
    if not isinstance(transformed, dict):
        raise ValidationFailed(
            f"input_transformer must yield a JSON object; it yielded {_json_type(transformed)}",
            code="invalid_transformed_input",
        )
    return {**run_input, **transformed}


def _record(event: TriggerEvent, reason: str | None) -> Recorded:
    expires = event.received_at + timedelta(days=get_settings().run_retention_days)
    recorded = trigger_events.record_event(
        event.model_copy(update={"reason": reason}), int(expires.timestamp())
    )
    if not recorded.duplicate and recorded.event.status is not TriggerEventStatus.accepted:
        logger.info(
            "trigger firing not run",
            extra={
                "trigger_id": event.trigger_id,
                "event_id": event.id,
                "status": recorded.event.status.value,
                "reason": reason,
            },
        )
    return recorded


def _trigger_principal(trigger: Trigger) -> Principal:
    return Principal(
        kind=TokenKind.pat,
        token_id=f"{TRIGGER_ACTOR}{trigger.id}",
        org_id=trigger.org_id,
        project_id=trigger.project_id,
    )


def _reason(refused: SwitchboardError) -> str:
    """``<code>: <message>``, naming the unsatisfied requirements of a failed pre-flight."""
    reason = f"{refused.error_code}: {refused.message}"
    if isinstance(refused, RequirementNotSatisfied) and isinstance(refused.details, dict):
        names = [
            str(entry.get("id"))
            for entry in refused.details.get("requirements") or []
            if isinstance(entry, dict)
        ]
        if names:
            reason += f" ({', '.join(names)})"
    return reason


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"
