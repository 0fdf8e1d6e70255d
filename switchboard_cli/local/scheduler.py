"""EventBridge Scheduler on the local stack: the schedules in the template's schedule groups fire in-process.

Groups. Every ``AWS::Scheduler::ScheduleGroup`` of the template is created in moto under its ``Ref`` (what the
functions' environment holds, e.g. ``SCHEDULE_GROUP``); schedules are created in them through the ordinary
``scheduler`` client, as on AWS.

Firing. A daemon thread ticks every ``TICK_S``: it lists the schedules of each group, and for each ``ENABLED``
one asks ``switchboard.schedules.next_fire`` for its firings after the moment it last looked at it (the later
of the scheduler's start and the schedule's last modification, for one it has not looked at yet), within its
``StartDate``/``EndDate``, in its time zone, with its ``CreationDate`` as the anchor of a rate. A firing that
is due (at or before now) is sent like Scheduler sends it: the target's ``Input`` with its context attributes
(``<aws.scheduler.scheduled-time>``, ``<aws.scheduler.execution-id>``, ``<aws.scheduler.schedule-arn>``,
``<aws.scheduler.attempt-number>``) substituted, to the target function, through the same
``LocalFunction.call`` as the queue pollers. Caller rule: Scheduler invokes as the schedule's
``Target.RoleArn``, so the firing happens only when that role of the template has an IAM statement allowing
``lambda:InvokeFunction`` on the target (a missing grant fails locally as it would on AWS). A disabled
schedule never fires.

Not emulated: firings missed while the stack was stopped (none are caught up; several missed within one tick,
say while the machine slept, fire once, at the latest of them), ``FlexibleTimeWindow`` (every firing is on
time), ``ActionAfterCompletion``, the retry policy and the dead-letter queue (a failed invocation is reported
and dropped), and invoking any target other than a function of the stack.

``switchboard local fire <trigger_id>`` reaches ``fire_now`` through the stack's control route: the schedule
named after the trigger fires at once, whatever its state or timing (the trigger function still records a
disabled trigger's firing as ``skipped``), with ``scheduled-time`` the current instant to the millisecond.
"""

from __future__ import annotations

import json
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from switchboard import aws
from switchboard.schedules import next_fire
from switchboard_cli.local.invoker import function_id_from_name
from switchboard_cli.local.template import Template, references

SCHEDULE_GROUP = "AWS::Scheduler::ScheduleGroup"
IAM_ROLE = "AWS::IAM::Role"
TICK_S = 1.0
STOP_TIMEOUT_S = 2.0
MAX_CATCH_UP = 10_000
"""How many missed firings of one schedule a tick walks through to find the latest (a day is 1440 minutes)."""

Clock = Callable[[], datetime]
Invoke = Callable[[str, dict[str, Any]], Any]
"""(function logical id, event) → the function's result; raises when the function fails."""
InvokeGrants = Mapping[str, frozenset[str]]
"""Role ARN → the logical ids of the functions its IAM policies allow it to invoke."""


def utc_clock() -> datetime:
    return datetime.now(UTC)


def schedule_group_names(template: Template) -> list[str]:
    return [str(template.ref(logical_id)) for logical_id in template.resources_of_type(SCHEDULE_GROUP)]


def create_schedule_groups(template: Template) -> list[str]:
    """Create every schedule group of the template in moto, named by its ``Ref``."""
    names = schedule_group_names(template)
    client = aws.client("scheduler")
    for name in names:
        client.create_schedule_group(Name=name)
    return names


SCHEDULE = "AWS::Scheduler::Schedule"


def create_template_schedules(template: Template) -> list[str]:
    """Create the template's own schedules (``AWS::Scheduler::Schedule``) that are not there yet (a restored
    state file already holds them), named by their logical id, in their groups."""
    client = aws.client("scheduler")
    created = []
    for logical_id, resource in template.resources_of_type(SCHEDULE).items():
        properties = template.resolve(resource.get("Properties", {}))
        group = str(properties.get("GroupName") or "default")
        try:
            client.get_schedule(Name=logical_id, GroupName=group)
            continue
        except client.exceptions.ResourceNotFoundException:
            pass
        target = {
            key: properties["Target"][key]
            for key in ("Arn", "RoleArn", "Input")
            if key in properties["Target"]
        }
        client.create_schedule(
            Name=logical_id,
            GroupName=group,
            ScheduleExpression=str(properties["ScheduleExpression"]),
            FlexibleTimeWindow={"Mode": "OFF"},
            Target=target,
            State=str(properties.get("State") or "ENABLED"),
        )
        created.append(logical_id)
    return created


def invoke_grants(template: Template) -> dict[str, frozenset[str]]:
    """Which functions each role of the template may invoke through its inline policies (Allow statements
    naming ``lambda:InvokeFunction`` or ``lambda:*``), keyed by the role's ARN."""
    functions = set(template.resources_of_type("AWS::Serverless::Function", "AWS::Lambda::Function"))
    grants: dict[str, frozenset[str]] = {}
    for logical_id, role in template.resources_of_type(IAM_ROLE).items():
        allowed: set[str] = set()
        for policy in (role.get("Properties") or {}).get("Policies") or []:
            for statement in _statements(policy.get("PolicyDocument") or {}):
                if statement.get("Effect") == "Allow" and _invokes(statement.get("Action")):
                    allowed |= references(statement.get("Resource")) & functions
        grants[template.get_att(logical_id, "Arn")] = frozenset(allowed)
    return grants


def _statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document.get("Statement") or []
    return [statements] if isinstance(statements, Mapping) else list(statements)


def _invokes(actions: Any) -> bool:
    listed = [actions] if isinstance(actions, str) else list(actions or [])
    return any(action in ("lambda:InvokeFunction", "lambda:*", "*") for action in listed)


def scheduler_time(moment: datetime) -> str:
    """``<aws.scheduler.scheduled-time>`` as Scheduler writes it: ISO 8601 in UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def target_event(schedule: Mapping[str, Any], scheduled_time: str) -> dict[str, Any]:
    """The target's input with Scheduler's context attributes substituted, as the event the function gets."""
    text = str(schedule.get("Target", {}).get("Input") or "{}")
    for attribute, value in (
        ("scheduled-time", scheduled_time),
        ("execution-id", str(uuid.uuid4())),
        ("schedule-arn", str(schedule.get("Arn", ""))),
        ("attempt-number", "1"),
    ):
        text = text.replace(f"<aws.scheduler.{attribute}>", value)
    event = json.loads(text)
    if not isinstance(event, dict):
        raise ValueError("the schedule's target input is not a JSON object")
    return event


def due_firing(schedule: Mapping[str, Any], after: datetime, now: datetime) -> datetime | None:
    """The latest firing of the schedule in ``(after, now]``, or None when none is due."""
    expression = str(schedule["ScheduleExpression"])
    timezone = str(schedule.get("ScheduleExpressionTimezone") or "UTC")
    window: dict[str, datetime | None] = {
        "start": schedule.get("StartDate"),
        "end": schedule.get("EndDate"),
        "anchor": schedule.get("CreationDate"),
    }
    latest: datetime | None = None
    moment = after
    for _ in range(MAX_CATCH_UP):
        following = next_fire(expression, timezone, moment, **window)
        if following is None or following > now:
            break
        latest = moment = following
    return latest


@dataclass(frozen=True)
class Firing:
    """One firing sent (or refused): which schedule, when it was due, what the target answered."""

    schedule_arn: str
    function_id: str
    scheduled_time: str
    event: dict[str, Any]
    result: Any = None
    error: str | None = None


class ScheduleNotFound(LookupError):
    """No schedule of that name in the stack's groups."""


class LocalScheduler:
    """The schedules of ``groups`` firing into ``invoke``; ``tick`` is one look at them (the thread calls it
    every ``tick_s``, tests call it with a clock of their own)."""

    def __init__(
        self,
        groups: Sequence[str],
        invoke: Invoke,
        grants: InvokeGrants,
        clock: Clock = utc_clock,
        tick_s: float = TICK_S,
        on_fire: Callable[[Firing], None] | None = None,
    ) -> None:
        self.groups = list(groups)
        self._invoke = invoke
        self._grants = grants
        self._clock = clock
        self.tick_s = tick_s
        self._on_fire = on_fire
        self._started_at = clock()
        self._looked_at: dict[str, datetime] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="switchboard-local-scheduler", daemon=True)

    def start(self) -> None:
        self._started_at = self._clock()
        self._thread.start()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> bool:
        """Stop ticking; False when the thread was still inside a firing when the time was up."""
        self._stop.set()
        if not self._thread.is_alive():
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self.tick_s):
            try:
                self.tick()
            except Exception:
                _log(f"the scheduler's tick failed:\n{traceback.format_exc()}")

    def tick(self) -> list[Firing]:
        now = self._clock()
        firings: list[Firing] = []
        for schedule in self._schedules():
            arn = str(schedule["Arn"])
            modified: datetime = schedule.get("LastModificationDate") or self._started_at
            after = max(self._looked_at.get(arn, self._started_at), modified)
            self._looked_at[arn] = max(after, now)
            if schedule.get("State") != "ENABLED":
                continue
            try:
                due = due_firing(schedule, after, now)
            except Exception as error:
                _log(f"Scheduler {schedule.get('Name')}: cannot evaluate its expression: {error}")
                continue
            if due is not None:
                firings.append(self._fire(schedule, scheduler_time(due)))
        return firings

    def fire_now(self, name: str) -> Firing:
        """Fire the schedule called ``name`` at once (``switchboard local fire``)."""
        client = aws.client("scheduler")
        for group in self.groups:
            try:
                schedule = client.get_schedule(GroupName=group, Name=name)
            except client.exceptions.ResourceNotFoundException:
                continue
            moment = self._clock().astimezone(UTC)
            return self._fire(schedule, moment.isoformat(timespec="milliseconds").replace("+00:00", "Z"))
        raise ScheduleNotFound(f"no schedule named {name} in {', '.join(self.groups) or 'no group'}")

    def _schedules(self) -> Iterable[Mapping[str, Any]]:
        client = aws.client("scheduler")
        for group in self.groups:
            for page in client.get_paginator("list_schedules").paginate(GroupName=group):
                for summary in page.get("Schedules", []):
                    try:
                        yield client.get_schedule(GroupName=group, Name=summary["Name"])
                    except client.exceptions.ResourceNotFoundException:
                        continue

    def _fire(self, schedule: Mapping[str, Any], scheduled_time: str) -> Firing:
        target = schedule.get("Target") or {}
        arn = str(schedule.get("Arn", ""))
        function_id = function_id_from_name(str(target.get("Arn", "")))
        event: dict[str, Any] = {}
        try:
            event = target_event(schedule, scheduled_time)
            role = str(target.get("RoleArn", ""))
            if function_id not in self._grants.get(role, frozenset()):
                raise PermissionError(f"the schedule's role {role or '(none)'} may not invoke {function_id}")
            firing = Firing(arn, function_id, scheduled_time, event, result=self._invoke(function_id, event))
        except Exception as error:
            firing = Firing(arn, function_id, scheduled_time, event, error=f"{type(error).__name__}: {error}")
        outcome = f"failed ({firing.error})" if firing.error else "done"
        _log(f"Scheduler {schedule.get('Name')} at {scheduled_time} -> {function_id}: {outcome}")
        if self._on_fire is not None:
            self._on_fire(firing)
        return firing


def _log(message: str) -> None:
    sys.stderr.write(f"[switchboard local] {message}\n")
