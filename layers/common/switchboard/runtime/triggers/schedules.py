"""A schedule trigger's EventBridge Scheduler schedule: created, updated, disabled and deleted with it.

Each schedule lives in the stack's schedule group, is named after its trigger, and invokes the trigger
function with ``{trigger_id, scheduled_time, execution_id}`` (Scheduler substitutes the two context
attributes at each firing), through the role the template made for exactly that invoke. A firing the function
cannot take is retried 3 times within an hour, then kept in the trigger dead-letter queue.

Scheduler errors never leak: throttling and outages are 503, a schedule Scheduler refuses is 422.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from switchboard import aws
from switchboard.domain.errors import ServiceUnavailable, ValidationFailed, problem
from switchboard.domain.triggers import Trigger
from switchboard.observability import logger
from switchboard.schedules import scheduler_expression
from switchboard.settings import SettingsError, get_settings

if TYPE_CHECKING:
    from mypy_boto3_scheduler.client import EventBridgeSchedulerClient
    from mypy_boto3_scheduler.type_defs import CreateScheduleInputTypeDef

MAX_RETRY_ATTEMPTS = 3
MAX_EVENT_AGE_SECONDS = 3600
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
EXECUTION_ID = "<aws.scheduler.execution-id>"
_UNAVAILABLE = "the scheduler is unavailable, retry shortly"


def _scheduler() -> EventBridgeSchedulerClient:
    return aws.client("scheduler")  # type: ignore[no-any-return]


def target_input(trigger_id: str) -> str:
    """What the trigger function receives at each firing, before Scheduler fills in the context attributes."""
    return json.dumps(
        {"trigger_id": trigger_id, "scheduled_time": SCHEDULED_TIME, "execution_id": EXECUTION_ID}
    )


def schedule_definition(trigger: Trigger, *, now: datetime | None = None) -> CreateScheduleInputTypeDef:
    """``CreateSchedule`` (and ``UpdateSchedule``, which replaces every field) arguments for the trigger."""
    settings = get_settings()
    missing = [
        name
        for name, value in (
            ("SCHEDULE_GROUP", settings.schedule_group),
            ("TRIGGER_FUNCTION_ARN", settings.trigger_function_arn),
            ("SCHEDULER_ROLE_ARN", settings.scheduler_role_arn),
            ("TRIGGER_DLQ_ARN", settings.trigger_dlq_arn),
        )
        if not value
    ]
    if missing:
        raise SettingsError(f"schedule triggers need the environment variables {', '.join(missing)}")
    schedule = scheduler_expression(trigger.schedule, now=now)
    definition: CreateScheduleInputTypeDef = {
        "Name": trigger.schedule_name or trigger.id,
        "GroupName": settings.schedule_group,
        "Description": f"Switchboard trigger '{trigger.name}' of App {trigger.app_id}",
        "ScheduleExpression": schedule.expression,
        "ScheduleExpressionTimezone": schedule.timezone,
        "State": "ENABLED" if trigger.enabled else "DISABLED",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        # A one-time schedule stays after it fires, so its trigger can still be read, disabled and deleted.
        "ActionAfterCompletion": "NONE",
        "Target": {
            "Arn": settings.trigger_function_arn,
            "RoleArn": settings.scheduler_role_arn,
            "Input": target_input(trigger.id),
            "RetryPolicy": {
                "MaximumRetryAttempts": MAX_RETRY_ATTEMPTS,
                "MaximumEventAgeInSeconds": MAX_EVENT_AGE_SECONDS,
            },
            "DeadLetterConfig": {"Arn": settings.trigger_dlq_arn},
        },
    }
    if schedule.start_date is not None:
        definition["StartDate"] = schedule.start_date
    if schedule.end_date is not None:
        definition["EndDate"] = schedule.end_date
    return definition


def create_schedule(trigger: Trigger) -> None:
    definition = schedule_definition(trigger)
    with _translated(trigger):
        _scheduler().create_schedule(**definition)


def update_schedule(trigger: Trigger) -> None:
    """Make the schedule match the trigger; one that went missing is created again."""
    definition = schedule_definition(trigger)
    with _translated(trigger):
        try:
            _scheduler().update_schedule(**definition)
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            logger.warning(
                "the trigger's schedule was missing; creating it again", extra={"trigger_id": trigger.id}
            )
            _scheduler().create_schedule(**definition)


def delete_schedule(trigger: Trigger) -> None:
    """Delete the schedule; one that is already gone is fine."""
    with _translated(trigger):
        try:
            _scheduler().delete_schedule(
                Name=trigger.schedule_name or trigger.id, GroupName=get_settings().schedule_group
            )
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def _translated(trigger: Trigger) -> Iterator[None]:
    """Scheduler's errors as domain errors: 422 for a schedule it refuses, 503 for anything else."""
    try:
        yield
    except ClientError as error:
        code = _code(error)
        if code == "ValidationException":
            message = str(error.response.get("Error", {}).get("Message", "")) or "invalid schedule"
            raise ValidationFailed(
                f"EventBridge Scheduler refused the schedule: {message}",
                details=[problem(["config"], "schedule_refused", message)],
            ) from None
        logger.warning(
            "EventBridge Scheduler failed", extra={"trigger_id": trigger.id, "aws_error_code": code}
        )
        raise ServiceUnavailable(_UNAVAILABLE) from None
    except BotoCoreError:
        logger.warning("EventBridge Scheduler unreachable", extra={"trigger_id": trigger.id})
        raise ServiceUnavailable(_UNAVAILABLE) from None
