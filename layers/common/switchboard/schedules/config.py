"""A schedule trigger's config, validated, and exactly what Scheduler's ``CreateSchedule`` needs from it.

``{cron | rate | run_at, timezone, starts_at?, ends_at?}``: exactly one of a standard 5-field ``cron``, a
``rate`` such as ``"5 minutes"`` or a one-time ``run_at``; an IANA ``timezone`` (default UTC) in which the
cron and the wall-clock times are read. A datetime without an offset is a wall-clock time in that zone (at
its first occurrence when the fall-back repeats it; one the spring-forward skips is rejected); every datetime
is kept in UTC. A one-time schedule takes no ``starts_at`` or ``ends_at``, and ``starts_at`` comes before
``ends_at``.

The model checks what stays true of a stored config; ``parse_schedule_config`` also checks what must hold
when a config is submitted (``run_at`` and ``ends_at`` in the future).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, available_timezones

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from switchboard.domain.errors import ValidationFailed, problem, validation_details
from switchboard.domain.ids import utcnow
from switchboard.schedules.cron import scheduler_cron
from switchboard.schedules.expressions import at_expression, rate_expression, rate_period
from switchboard.schedules.matcher import existing_moment

_NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


@lru_cache(maxsize=1)
def zone_names() -> frozenset[str]:
    """The IANA names this Python knows (system database, else the ``tzdata`` package)."""
    return frozenset(available_timezones()) - _NOT_ZONES


class ScheduleConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The time zone comes first: the datetimes after it are read in it.
    timezone: str = "UTC"
    cron: str | None = None
    rate: str | None = None
    run_at: datetime | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None

    @field_validator("timezone")
    @classmethod
    def _iana_zone(cls, name: str) -> str:
        if name not in zone_names():
            raise PydanticCustomError(
                "unknown_timezone", f"'{name}' is not an IANA time zone name such as 'Europe/Berlin' or 'UTC'"
            )
        return name

    @field_validator("cron")
    @classmethod
    def _convertible_cron(cls, cron: str) -> str:
        try:
            scheduler_cron(cron)
        except ValidationFailed as error:
            raise PydanticCustomError("invalid_cron", error.message) from None
        return cron.strip()

    @field_validator("rate")
    @classmethod
    def _scheduler_rate(cls, rate: str) -> str:
        try:
            rate_expression(rate)
        except ValidationFailed as error:
            raise PydanticCustomError("invalid_rate", error.message) from None
        return rate.strip()

    @field_validator("run_at", "starts_at", "ends_at")
    @classmethod
    def _in_utc(cls, moment: datetime, info: ValidationInfo) -> datetime:
        """Kept in UTC: aware datetimes in a zone with daylight saving compare on its wall clock."""
        zone_name = info.data.get("timezone")
        if moment.tzinfo is not None:
            return moment.astimezone(UTC)
        if zone_name is None:
            return moment
        local = existing_moment(moment, ZoneInfo(zone_name))
        if local is None:
            raise PydanticCustomError(
                "nonexistent_time", f"{moment.isoformat()} does not exist in {zone_name}: the clocks skip it"
            )
        return local.astimezone(UTC)

    @field_validator("starts_at")
    @classmethod
    def _recurring_start(cls, starts_at: datetime, info: ValidationInfo) -> datetime:
        if info.data.get("run_at") is not None:
            raise PydanticCustomError("one_time_window", "a one-time schedule (run_at) takes no starts_at")
        return starts_at

    @field_validator("ends_at")
    @classmethod
    def _recurring_end(cls, ends_at: datetime, info: ValidationInfo) -> datetime:
        if info.data.get("run_at") is not None:
            raise PydanticCustomError("one_time_window", "a one-time schedule (run_at) takes no ends_at")
        starts_at: datetime | None = info.data.get("starts_at")
        # Both are in UTC unless the time zone was invalid, which is reported already.
        if starts_at is not None and None not in (starts_at.tzinfo, ends_at.tzinfo) and ends_at <= starts_at:
            raise PydanticCustomError("ends_before_start", "ends_at must be after starts_at")
        return ends_at

    @model_validator(mode="after")
    def _one_kind(self) -> ScheduleConfig:
        if sum(kind is not None for kind in (self.cron, self.rate, self.run_at)) != 1:
            raise PydanticCustomError("schedule_kind", "give exactly one of cron, rate and run_at")
        return self


def parse_schedule_config(
    raw: Any, *, now: datetime | None = None, location: tuple[str | int, ...] = ("config",)
) -> ScheduleConfig:
    """A submitted config, checked; raises ``ValidationFailed`` whose details are ``{"loc", "code",
    "message"}`` with ``loc`` under ``location``."""
    try:
        config = ScheduleConfig.model_validate(raw)
    except ValidationError as error:
        raise _invalid(validation_details(error, prefix=location)) from None
    current = now or utcnow()
    problems = [
        problem([*location, name], f"{name}_in_past", f"{name} must be in the future")
        for name, moment in (("run_at", config.run_at), ("ends_at", config.ends_at))
        if moment is not None and moment <= current
    ]
    if problems:
        raise _invalid(problems)
    return config


def _invalid(problems: list[dict[str, Any]]) -> ValidationFailed:
    reasons = "; ".join(f"{'.'.join(map(str, problem['loc']))}: {problem['message']}" for problem in problems)
    return ValidationFailed(f"the schedule is invalid: {reasons}", details=problems)


class SchedulerSchedule(NamedTuple):
    """``ScheduleExpression``, ``ScheduleExpressionTimezone``, ``StartDate`` and ``EndDate`` (UTC)."""

    expression: str
    timezone: str
    start_date: datetime | None
    end_date: datetime | None


def scheduler_expression(config: ScheduleConfig, *, now: datetime | None = None) -> SchedulerSchedule:
    """What ``CreateSchedule`` and ``UpdateSchedule`` need.

    Scheduler refuses a start date more than five minutes past, which updating an older schedule would send.
    A past start changes nothing for a cron schedule, so it is left out; a rate schedule's is moved to its
    next firing, which keeps the rate's phase.
    """
    zone = ZoneInfo(config.timezone)
    end_date = config.ends_at
    if config.run_at is not None:
        return SchedulerSchedule(at_expression(config.run_at, zone), config.timezone, None, None)
    current = now or utcnow()
    start = config.starts_at if config.starts_at is not None and config.starts_at > current else None
    if config.cron is not None:
        expression = scheduler_cron(config.cron)
    else:
        expression = rate_expression(config.rate or "")
        if config.starts_at is not None and start is None:
            start = _next_on_or_after(config.starts_at, rate_period(expression), current)
    return SchedulerSchedule(expression, config.timezone, start, end_date)


def _next_on_or_after(origin: datetime, period: timedelta, moment: datetime) -> datetime:
    return origin - ((origin - moment) // period) * period
