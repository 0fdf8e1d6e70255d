"""Schedule triggers without AWS: standard cron converted to EventBridge Scheduler's form, rate and at
expressions, a schedule trigger's config, and the next firing time for the local stack's scheduler."""

from switchboard.schedules.config import (
    ScheduleConfig,
    SchedulerSchedule,
    parse_schedule_config,
    scheduler_expression,
)
from switchboard.schedules.cron import scheduler_cron
from switchboard.schedules.expressions import at_expression, rate_expression
from switchboard.schedules.matcher import next_fire

__all__ = [
    "ScheduleConfig",
    "SchedulerSchedule",
    "at_expression",
    "next_fire",
    "parse_schedule_config",
    "rate_expression",
    "scheduler_cron",
    "scheduler_expression",
]
