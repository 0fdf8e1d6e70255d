"""Triggers, for builders: project viewers read them and their events, editors create, change and delete them.

A schedule trigger owns an EventBridge Scheduler schedule (``switchboard.runtime.triggers.schedules``). The
writes are ordered so that no schedule ever fires without its record, and a record without its schedule never
stays: create the record then the schedule (the record is removed again when Scheduler fails); change the
schedule then the record (when the record write fails, a concurrent change for one, the schedule is put back
in step with the record as it stands); delete the schedule then the record.

A webhook trigger owns a Standard Webhooks signing secret, created with it and shown once in the creation
response, and kept only encrypted in its item (``runtime.triggers.secrets``): this function can encrypt it but
never decrypt it; the trigger function decrypts it to verify the events posted to the trigger.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from switchboard.auth.principal import Principal
from switchboard.domain.errors import BadRequest, NotFound, SwitchboardError, ValidationFailed, problem
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.models import App, ProjectRole
from switchboard.domain.triggers import (
    MAX_INPUT_BYTES,
    Trigger,
    TriggerEvent,
    TriggerType,
    WebhookConfig,
    compile_input_transformer,
)
from switchboard.observability import logger
from switchboard.runtime.identity.app_access import builder_app
from switchboard.runtime.triggers import schedules as trigger_schedules
from switchboard.runtime.triggers import secrets as trigger_secrets
from switchboard.runtime.webhooks.signing import new_signing_secret
from switchboard.schedules import ScheduleConfig, parse_schedule_config
from switchboard.settings import get_settings
from switchboard.store import trigger_events, triggers

CHANGEABLE = frozenset({"enabled", "config", "input", "input_transformer", "user_id"})
"""What a PATCH may change; ``name`` and ``type`` are fixed at creation."""
REMOVABLE = frozenset({"input", "input_transformer", "user_id"})
"""What a PATCH removes when given as None; any other field given as None stays as it is."""


@dataclass(frozen=True)
class NewTrigger:
    """A trigger just created; a webhook's signing secret is shown this once."""

    trigger: Trigger
    signing_secret: str | None = field(default=None, repr=False)


def webhook_url(trigger: Trigger) -> str:
    """Where a webhook trigger's events are posted: on the App's own host when the stack has an Apps domain,
    else under the App's path on the Apps API."""
    settings = get_settings()
    path = f"/v1/triggers/{trigger.id}/events"
    base = settings.apps_base_url.rstrip("/")
    if settings.apps_domain:
        scheme = base.split("://", 1)[0] if "://" in base else "https"
        return f"{scheme}://{trigger.app_id}.{settings.apps_domain}{path}"
    return f"{base}/apps/{trigger.app_id}{path}"


def _load(principal: Principal, app_id: str, trigger_id: str, minimum: ProjectRole) -> Trigger:
    app = builder_app(principal, app_id, minimum)
    trigger = triggers.get_trigger(trigger_id)
    if trigger is None or trigger.app_id != app.id:
        raise NotFound("trigger not found")
    return trigger


def _config(trigger_type: TriggerType, raw: Any) -> ScheduleConfig | WebhookConfig:
    if trigger_type is TriggerType.schedule:
        return parse_schedule_config(raw)
    if raw:
        raise ValidationFailed(
            "a webhook trigger takes no config",
            details=[problem(["config"], "webhook_config", "a webhook trigger's config is {}")],
        )
    return WebhookConfig()


def _static_input(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None and len(json.dumps(value).encode()) > MAX_INPUT_BYTES:
        message = f"at most {MAX_INPUT_BYTES} bytes as JSON"
        raise ValidationFailed(
            f"input is too large: {message}",
            details=[problem(["input"], "input_too_large", message)],
        )
    return value


def _transformer(expression: str | None) -> str | None:
    if expression is not None:
        compile_input_transformer(expression)
    return expression


def create_trigger(
    principal: Principal,
    app_id: str,
    *,
    name: str,
    trigger_type: TriggerType,
    config: Any,
    input: dict[str, Any] | None = None,
    input_transformer: str | None = None,
    user_id: str | None = None,
    enabled: bool = True,
) -> NewTrigger:
    """A new trigger of the App (editor): its schedule created, or its signing secret (returned once)."""
    app = builder_app(principal, app_id, ProjectRole.editor)
    checked_config = _config(trigger_type, config)
    _static_input(input)
    _transformer(input_transformer)
    now = utcnow()
    trigger_id = new_id("trigger")
    is_schedule = trigger_type is TriggerType.schedule
    signing_secret = None if is_schedule else new_signing_secret()
    encrypted_secret = trigger_secrets.encrypt(app.id, trigger_id, signing_secret) if signing_secret else None
    trigger = Trigger(
        id=trigger_id,
        app_id=app.id,
        org_id=app.org_id,
        project_id=app.project_id,
        name=name,
        type=trigger_type,
        config=checked_config,
        input=input,
        input_transformer=input_transformer,
        user_id=user_id,
        enabled=enabled,
        schedule_name=trigger_id if is_schedule else None,
        encrypted_secret=encrypted_secret,
        created_at=now,
        created_by=principal.actor,
        updated_at=now,
        updated_by=principal.actor,
    )
    triggers.create_trigger(trigger)
    if is_schedule:
        try:
            trigger_schedules.create_schedule(trigger)
        except Exception:
            triggers.delete_trigger(trigger)
            raise
    return NewTrigger(trigger, signing_secret)


def get_trigger(principal: Principal, app_id: str, trigger_id: str) -> Trigger:
    return _load(principal, app_id, trigger_id, ProjectRole.viewer)


def list_triggers(
    principal: Principal, app_id: str, limit: int, next_token: str | None
) -> tuple[list[Trigger], str | None]:
    """The App's triggers by name (viewer)."""
    app = builder_app(principal, app_id, ProjectRole.viewer)
    return triggers.list_triggers(app.id, limit, next_token)


def update_trigger(principal: Principal, app_id: str, trigger_id: str, changes: Mapping[str, Any]) -> Trigger:
    """Apply the fields given (editor). ``input``, ``input_transformer`` and ``user_id`` given as None are
    removed; ``name`` and ``type`` may be given only with their current values (400 otherwise)."""
    trigger = _load(principal, app_id, trigger_id, ProjectRole.editor)
    changes = {key: value for key, value in changes.items() if value is not None or key in REMOVABLE}
    for fixed in ("name", "type"):
        if fixed in changes and changes[fixed] != getattr(trigger, fixed):
            raise BadRequest(f"a trigger's {fixed} cannot change", code=f"{fixed}_immutable")
    unknown = set(changes) - CHANGEABLE - {"name", "type"}
    if unknown:
        raise BadRequest(f"unknown fields: {', '.join(sorted(unknown))}", code="unknown_field")
    updates: dict[str, Any] = {}
    if "config" in changes:
        updates["config"] = _config(trigger.type, changes["config"])
    if "enabled" in changes:
        updates["enabled"] = changes["enabled"]
    if "input" in changes:
        updates["input"] = _static_input(changes["input"])
    if "input_transformer" in changes:
        updates["input_transformer"] = _transformer(changes["input_transformer"])
    if "user_id" in changes:
        updates["user_id"] = changes["user_id"]
    if not updates:
        return trigger
    reschedule = trigger.type is TriggerType.schedule and ("config" in updates or "enabled" in updates)
    if reschedule:
        trigger_schedules.update_schedule(trigger.model_copy(update=updates))
    try:
        return triggers.update_trigger(trigger, updates, principal.actor, utcnow())
    except Exception:
        if reschedule:
            _resynchronize(trigger)
        raise


def _resynchronize(trigger: Trigger) -> None:
    """Put the schedule back in step with the record as it stands (a concurrent change may have won); when
    that fails too, the next change of the trigger does it."""
    try:
        current = triggers.get_trigger(trigger.id)
        if current is None:
            trigger_schedules.delete_schedule(trigger)
        else:
            trigger_schedules.update_schedule(current)
    except SwitchboardError:
        logger.warning("the trigger's schedule may differ from its record", extra={"trigger_id": trigger.id})


def delete_trigger(principal: Principal, app_id: str, trigger_id: str) -> None:
    _remove(_load(principal, app_id, trigger_id, ProjectRole.editor))


def _remove(trigger: Trigger) -> None:
    if trigger.type is TriggerType.schedule:
        trigger_schedules.delete_schedule(trigger)
    triggers.delete_trigger(trigger)


def remove_app_triggers(app: App) -> None:
    """Delete every trigger of an App being deleted, schedules included (a webhook's encrypted secret goes
    with its item)."""
    for trigger in triggers.all_triggers(app.id):
        _remove(trigger)


def list_events(
    principal: Principal, app_id: str, trigger_id: str, limit: int, next_token: str | None
) -> tuple[list[TriggerEvent], str | None]:
    """The trigger's events, newest first (viewer)."""
    trigger = _load(principal, app_id, trigger_id, ProjectRole.viewer)
    return trigger_events.list_events(trigger.id, limit, next_token)


def get_event(principal: Principal, app_id: str, trigger_id: str, event_id: str) -> TriggerEvent:
    trigger = _load(principal, app_id, trigger_id, ProjectRole.viewer)
    event = trigger_events.get_event(trigger.id, event_id)
    if event is None:
        raise NotFound("trigger event not found")
    return event
