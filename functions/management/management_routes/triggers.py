"""Triggers of an App (schedules and webhooks) and the events they recorded."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import ConfigDict, Field

from management_routes.models import CreatedTriggerOut, TriggerEventDetailOut, TriggerEventOut, TriggerOut
from switchboard.api.envelopes import Data, Page, RequestModel, documented
from switchboard.api.guards import CurrentPrincipal, Limit, NextToken
from switchboard.api.responses import no_content, one, page
from switchboard.domain.triggers import (
    INPUT_TRANSFORMER_MAX,
    TRIGGER_NAME_MAX,
    TRIGGER_NAME_PATTERN,
    TriggerType,
)
from switchboard.runtime.triggers import managing as triggers

router = APIGatewayHttpRouter()

_CONFIG = (
    "schedule: exactly one of cron (standard 5 fields, e.g. '0 9 * * 1-5'), rate (e.g. '15 minutes') and "
    "run_at (one time, in the future), with timezone (IANA, default UTC), starts_at and ends_at (recurring "
    "only); a time without an offset is read in timezone. webhook: {} (or omitted)"
)
_INPUT_TRANSFORMER = (
    "JMESPath over the event that yields an object merged over input: a webhook's JSON body, or for "
    "schedules {scheduled_time, execution_id, trigger: {id, name}}"
)


class CreateTriggerIn(RequestModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "name": "weekday-digest",
                "type": "schedule",
                "config": {"cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"},
                "input": {"question": "What happened yesterday?"},
                "input_transformer": "{fired_at: scheduled_time}",
            }
        }
    )

    name: str = Field(
        min_length=1,
        max_length=TRIGGER_NAME_MAX,
        pattern=TRIGGER_NAME_PATTERN,
        description="Unique within the App and never changed: lowercase letters, digits, '-' and '_'",
    )
    type: TriggerType = Field(strict=False)
    config: dict[str, Any] = Field(default_factory=dict, description=_CONFIG)
    input: dict[str, Any] | None = Field(default=None, description="Static input of every run it starts")
    input_transformer: str | None = Field(
        default=None, min_length=1, max_length=INPUT_TRANSFORMER_MAX, description=_INPUT_TRANSFORMER
    )
    user_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="The end user its runs act for: their links satisfy the App's requirements",
    )
    enabled: bool = True


class UpdateTriggerIn(RequestModel):
    model_config = ConfigDict(json_schema_extra={"example": {"enabled": False, "config": {"rate": "1 hour"}}})

    name: str | None = Field(
        default=None, description="Never changes: any other value than the current is 400"
    )
    type: TriggerType | None = Field(
        default=None, strict=False, description="Never changes: any other value is 400"
    )
    enabled: bool | None = Field(
        default=None, description="false pauses the trigger (its schedule is disabled)"
    )
    config: dict[str, Any] | None = Field(default=None, description=f"Replaces the config. {_CONFIG}")
    input: dict[str, Any] | None = Field(
        default=None, description="Replaces the static input; null removes it"
    )
    input_transformer: str | None = Field(
        default=None,
        min_length=1,
        max_length=INPUT_TRANSFORMER_MAX,
        description=f"Replaces the transformer; null removes it. {_INPUT_TRANSFORMER}",
    )
    user_id: str | None = Field(default=None, min_length=1, max_length=256, description="null removes it")


@router.post(
    "/v1/apps/<app_id>/triggers",
    tags=["triggers"],
    summary="Create a schedule or webhook trigger (editor); a webhook's signing secret is shown once",
    **documented(201, Data, CreatedTriggerOut),
)
def create_trigger(
    app_id: str, body: CreateTriggerIn, principal: CurrentPrincipal
) -> Response[Data[CreatedTriggerOut]]:
    created = triggers.create_trigger(
        principal,
        app_id,
        name=body.name,
        trigger_type=body.type,
        config=body.config,
        input=body.input,
        input_transformer=body.input_transformer,
        user_id=body.user_id,
        enabled=body.enabled,
    )
    return one(CreatedTriggerOut.of_new(created.trigger, created.signing_secret), 201)


@router.get(
    "/v1/apps/<app_id>/triggers",
    tags=["triggers"],
    summary="The App's triggers, by name",
    **documented(200, Page, TriggerOut),
)
def list_triggers(
    app_id: str, principal: CurrentPrincipal, limit: Limit = 50, next_token: NextToken = None
) -> Page[TriggerOut]:
    items, cursor = triggers.list_triggers(principal, app_id, limit, next_token)
    return page([TriggerOut.of(trigger) for trigger in items], cursor)


@router.get(
    "/v1/apps/<app_id>/triggers/<trigger_id>",
    tags=["triggers"],
    summary="One trigger",
    **documented(200, Data, TriggerOut),
)
def get_trigger(app_id: str, trigger_id: str, principal: CurrentPrincipal) -> Response[Data[TriggerOut]]:
    return one(TriggerOut.of(triggers.get_trigger(principal, app_id, trigger_id)))


@router.patch(
    "/v1/apps/<app_id>/triggers/<trigger_id>",
    tags=["triggers"],
    summary="Enable or disable a trigger, or change its config, input, input_transformer or user_id",
    **documented(200, Data, TriggerOut, writes=True),
)
def update_trigger(
    app_id: str, trigger_id: str, body: UpdateTriggerIn, principal: CurrentPrincipal
) -> Response[Data[TriggerOut]]:
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return one(TriggerOut.of(triggers.update_trigger(principal, app_id, trigger_id, changes)))


@router.delete(
    "/v1/apps/<app_id>/triggers/<trigger_id>",
    tags=["triggers"],
    summary="Delete a trigger with its schedule or signing secret",
    **documented(204, None),
)
def delete_trigger(app_id: str, trigger_id: str, principal: CurrentPrincipal) -> Response[None]:
    triggers.delete_trigger(principal, app_id, trigger_id)
    return no_content()


@router.get(
    "/v1/apps/<app_id>/triggers/<trigger_id>/events",
    tags=["triggers"],
    summary="The trigger's events, newest first: what arrived, whether it started a run, and which",
    **documented(200, Page, TriggerEventOut),
)
def list_events(
    app_id: str, trigger_id: str, principal: CurrentPrincipal, limit: Limit = 50, next_token: NextToken = None
) -> Page[TriggerEventOut]:
    items, cursor = triggers.list_events(principal, app_id, trigger_id, limit, next_token)
    return page([TriggerEventOut.of(event) for event in items], cursor)


@router.get(
    "/v1/apps/<app_id>/triggers/<trigger_id>/events/<event_id>",
    tags=["triggers"],
    summary="One trigger event with its raw payload",
    **documented(200, Data, TriggerEventDetailOut),
)
def get_event(
    app_id: str, trigger_id: str, event_id: str, principal: CurrentPrincipal
) -> Response[Data[TriggerEventDetailOut]]:
    return one(TriggerEventDetailOut.of_event(triggers.get_event(principal, app_id, trigger_id, event_id)))
