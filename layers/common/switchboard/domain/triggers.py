"""Triggers run an App without a direct call: on a schedule (EventBridge Scheduler) or when an external
system posts a signed event (a webhook). Each firing is recorded as a trigger event pointing at its run."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import jmespath
from jmespath.exceptions import JMESPathError
from jmespath.parser import ParsedResult
from pydantic import ConfigDict, Field

from switchboard.domain.base import Model, Record
from switchboard.domain.errors import ValidationFailed, problem
from switchboard.domain.models import Entity
from switchboard.schedules import ScheduleConfig

TRIGGER_NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
TRIGGER_NAME_MAX = 64
INPUT_TRANSFORMER_MAX = 4096
MAX_INPUT_BYTES = 100_000
"""A trigger's static input, as JSON: no larger than the input of the runs it starts may be."""


class TriggerType(StrEnum):
    schedule = "schedule"
    webhook = "webhook"


class TriggerEventStatus(StrEnum):
    accepted = "accepted"
    rejected = "rejected"
    skipped = "skipped"


class WebhookConfig(Model):
    """A webhook trigger has nothing to configure: its URL and signing secret come with it."""

    model_config = ConfigDict(extra="forbid")


class Trigger(Entity):
    id: str
    app_id: str
    org_id: str
    project_id: str
    name: str = Field(description="Unique per App; never changes")
    type: TriggerType
    config: ScheduleConfig | WebhookConfig
    input: dict[str, Any] | None = Field(default=None, description="Static input of every run it starts")
    input_transformer: str | None = Field(
        default=None, description="JMESPath over the firing's payload; its object is merged over input"
    )
    user_id: str | None = Field(default=None, description="The end user its runs act for")
    enabled: bool = True
    schedule_name: str | None = Field(default=None, description="Its Scheduler schedule (schedules only)")
    encrypted_secret: str | None = Field(
        default=None,
        repr=False,
        description="Its signing secret encrypted under the trigger secrets key (webhooks only; "
        "runtime.triggers.secrets)",
    )
    revision: int = 1

    @property
    def schedule(self) -> ScheduleConfig:
        """The schedule of a schedule trigger."""
        if not isinstance(self.config, ScheduleConfig):
            raise TypeError(f"trigger {self.id} is a {self.type.value} trigger, not a schedule")
        return self.config


class TriggerEvent(Record):
    """One firing of a trigger: what arrived, what happened and the run it started, if any."""

    id: str
    trigger_id: str
    app_id: str
    received_at: datetime
    status: TriggerEventStatus
    reason: str | None = None
    run_id: str | None = None
    firing_key: str = Field(description="schedule:<scheduled time> or webhook:<webhook-id>; one run per key")
    payload: Any = Field(
        default=None,
        description="The raw event: a webhook's body (JSON when it is JSON, else text); for schedules "
        "{scheduled_time, execution_id}",
    )


def compile_input_transformer(
    expression: str, location: tuple[str | int, ...] = ("input_transformer",)
) -> ParsedResult:
    """The compiled JMESPath expression; ``ValidationFailed`` (422) naming ``location`` when it is not one."""
    try:
        return jmespath.compile(expression)
    except JMESPathError as error:
        position = getattr(error, "lex_position", None)
        where = f" (near position {position})" if isinstance(position, int) else ""
        message = f"not a valid JMESPath expression{where}"
        raise ValidationFailed(
            f"input_transformer is {message}",
            details=[problem(location, "invalid_jmespath", message)],
        ) from None
