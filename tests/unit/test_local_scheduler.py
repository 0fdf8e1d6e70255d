"""The local stack's scheduler: when a schedule is due, what it sends, to whom, and under which caller rule.

Schedules live in moto; time is a clock the tests move, so no test waits for a minute to pass.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from switchboard import aws
from switchboard_cli.local import environment
from switchboard_cli.local.scheduler import (
    LocalScheduler,
    ScheduleNotFound,
    create_schedule_groups,
    due_firing,
    invoke_grants,
    scheduler_time,
    target_event,
)
from switchboard_cli.local.state import SchedulerPersister
from switchboard_cli.local.template import Template

ROOT = Path(__file__).resolve().parents[2]
GROUP = "TriggerScheduleGroup"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:TriggerFunction"
ROLE_ARN = "arn:aws:iam::123456789012:role/SchedulerRole"
INPUT = (
    '{"trigger_id": "trg-abc", "scheduled_time": "<aws.scheduler.scheduled-time>", '
    '"execution_id": "<aws.scheduler.execution-id>"}'
)


@dataclass
class FakeClock:
    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Recorder:
    """Stands in for the trigger function: records each event it is invoked with."""

    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def __call__(self, function_id: str, event: dict[str, Any]) -> Any:
        self.calls.append((function_id, event))
        return {"event": {"id": "tev-1", "status": "accepted"}}


@pytest.fixture
def scheduler_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in (*environment.FAKE_CREDENTIALS, "AWS_DEFAULT_REGION"):
        monkeypatch.setenv(name, "us-east-1" if "REGION" in name else "testing")
    with mock_aws():
        aws.reset()
        client = aws.client("scheduler")
        client.create_schedule_group(Name=GROUP)
        yield client
    aws.reset()


def create(client: Any, name: str, expression: str, *, state: str = "ENABLED", **extra: Any) -> None:
    client.create_schedule(
        Name=name,
        GroupName=GROUP,
        ScheduleExpression=expression,
        ScheduleExpressionTimezone=extra.pop("timezone", "UTC"),
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": FUNCTION_ARN, "RoleArn": extra.pop("role", ROLE_ARN), "Input": INPUT},
        State=state,
        **extra,
    )


def scheduler(clock: FakeClock, invoke: Recorder, grants: dict[str, frozenset[str]] | None = None) -> Any:
    return LocalScheduler(
        [GROUP], invoke, grants if grants is not None else {ROLE_ARN: frozenset({"TriggerFunction"})}, clock
    )


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_a_minutely_cron_is_due_at_the_first_whole_minute_after_the_last_look() -> None:
    # Given a schedule that fires every minute
    schedule = {"ScheduleExpression": "cron(* * * * ? *)", "ScheduleExpressionTimezone": "UTC"}
    # When the scheduler looks at it across a minute boundary, and within one minute
    due = due_firing(schedule, at("2030-01-01T12:00:30"), at("2030-01-01T12:01:10"))
    not_yet = due_firing(schedule, at("2030-01-01T12:00:30"), at("2030-01-01T12:00:59"))
    # Then the boundary is due, and nothing before it
    assert due == at("2030-01-01T12:01:00")
    assert not_yet is None


def test_several_missed_firings_are_due_once_at_the_latest() -> None:
    # Given a schedule every five minutes and a look after a long pause (a machine asleep)
    schedule = {"ScheduleExpression": "cron(0/5 * * * ? *)", "ScheduleExpressionTimezone": "UTC"}
    # When it is evaluated
    due = due_firing(schedule, at("2030-01-01T12:00:00"), at("2030-01-01T13:02:00"))
    # Then one firing is due: the latest one
    assert due == at("2030-01-01T13:00:00")


def test_a_cron_is_read_on_the_wall_clock_of_its_time_zone() -> None:
    # Given a daily 09:00 schedule in Berlin (UTC+1 in January)
    schedule = {"ScheduleExpression": "cron(0 9 * * ? *)", "ScheduleExpressionTimezone": "Europe/Berlin"}
    # When the scheduler looks at it around 08:00 UTC
    due = due_firing(schedule, at("2030-01-15T07:59:00"), at("2030-01-15T08:00:30"))
    # Then it is due at 08:00 UTC
    assert due == at("2030-01-15T08:00:00")


def test_a_rate_counts_from_its_creation_and_respects_its_end() -> None:
    # Given a 10-minute rate created at 12:03 that ends at 12:20
    schedule = {
        "ScheduleExpression": "rate(10 minutes)",
        "CreationDate": at("2030-01-01T12:03:00"),
        "EndDate": at("2030-01-01T12:20:00"),
    }
    # When it is evaluated after its first firing, and after its end
    due = due_firing(schedule, at("2030-01-01T12:05:00"), at("2030-01-01T12:14:00"))
    ended = due_firing(schedule, at("2030-01-01T12:14:00"), at("2030-01-01T12:40:00"))
    # Then it fires at creation + 10 minutes, and never after its end
    assert due == at("2030-01-01T12:13:00")
    assert ended is None


def test_the_target_input_gets_the_context_attributes_substituted() -> None:
    # Given a schedule whose input names Scheduler's context attributes
    schedule = {"Arn": "arn:aws:scheduler:us-east-1:1:schedule/g/trg-abc", "Target": {"Input": INPUT}}
    # When the event for one firing is built
    event = target_event(schedule, scheduler_time(at("2030-01-01T12:01:00")))
    # Then the firing time is Scheduler's format and the execution id a fresh value
    assert event["trigger_id"] == "trg-abc"
    assert event["scheduled_time"] == "2030-01-01T12:01:00Z"
    assert event["execution_id"]
    assert "<aws.scheduler" not in event["execution_id"]


def test_an_enabled_schedule_fires_the_target_once_its_minute_comes(scheduler_api: Any) -> None:
    # Given a minutely schedule and a scheduler that has just looked at it
    create(scheduler_api, "trg-abc", "cron(* * * * ? *)")
    clock = FakeClock(datetime.now(UTC))
    invoke = Recorder()
    local = scheduler(clock, invoke)
    assert local.tick() == []
    # When a minute passes, and the scheduler looks again twice
    clock.advance(60)
    firings = local.tick()
    again = local.tick()
    # Then the trigger function got exactly one firing, with the schedule's input substituted
    assert [f.function_id for f in firings] == ["TriggerFunction"]
    assert again == []
    assert firings[0].error is None
    ((function_id, event),) = invoke.calls
    assert function_id == "TriggerFunction"
    assert event["trigger_id"] == "trg-abc"
    boundary = (clock.now.replace(second=0, microsecond=0)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert event["scheduled_time"] == boundary == firings[0].scheduled_time
    assert event["execution_id"]
    assert not event["execution_id"].startswith("<")


def test_a_disabled_schedule_never_fires(scheduler_api: Any) -> None:
    # Given a disabled minutely schedule
    create(scheduler_api, "trg-off", "cron(* * * * ? *)", state="DISABLED")
    clock = FakeClock(datetime.now(UTC))
    invoke = Recorder()
    local = scheduler(clock, invoke)
    # When minutes pass
    for _ in range(3):
        clock.advance(60)
        local.tick()
    # Then nothing was invoked
    assert invoke.calls == []


def test_a_schedule_whose_role_may_not_invoke_the_target_does_not_fire_it(scheduler_api: Any) -> None:
    # Given a minutely schedule running as a role without lambda:InvokeFunction on the target
    create(scheduler_api, "trg-abc", "cron(* * * * ? *)", role="arn:aws:iam::123456789012:role/Other")
    clock = FakeClock(datetime.now(UTC))
    invoke = Recorder()
    local = scheduler(clock, invoke)
    local.tick()
    # When its minute comes
    clock.advance(60)
    (firing,) = local.tick()
    # Then the target is never invoked and the firing says why
    assert invoke.calls == []
    assert firing.error is not None
    assert "may not invoke TriggerFunction" in firing.error


def test_fire_now_fires_a_schedule_at_once_even_when_disabled(scheduler_api: Any) -> None:
    # Given a disabled schedule (the trigger function decides what a disabled trigger's firing means)
    create(scheduler_api, "trg-abc", "cron(0 3 * * ? *)", state="DISABLED")
    clock = FakeClock(datetime(2030, 1, 1, 12, 0, 7, 250_000, tzinfo=UTC))
    invoke = Recorder()
    # When it is fired now
    firing = scheduler(clock, invoke).fire_now("trg-abc")
    # Then the target got it at once, stamped with the current instant
    assert firing.result == {"event": {"id": "tev-1", "status": "accepted"}}
    assert invoke.calls[0][1]["scheduled_time"] == "2030-01-01T12:00:07.250Z"


def test_fire_now_of_an_unknown_schedule_is_refused(scheduler_api: Any) -> None:
    # Given no schedule named trg-none
    local = scheduler(FakeClock(datetime.now(UTC)), Recorder())
    # When / Then firing it is refused
    with pytest.raises(ScheduleNotFound):
        local.fire_now("trg-none")


def test_the_template_lets_only_the_scheduler_role_invoke_the_trigger_function_and_the_sweep() -> None:
    # Given the real template
    template = Template.from_file(ROOT / "template.yaml")
    # When the roles' invoke grants are read
    grants = invoke_grants(template)
    # Then the Scheduler role may invoke the trigger function and the dispatcher (the sweep), and only they
    assert grants[ROLE_ARN] == frozenset({"TriggerFunction", "DispatcherFunction"})
    assert all("TriggerFunction" not in functions for role, functions in grants.items() if role != ROLE_ARN)


def test_schedule_groups_come_from_the_template(scheduler_api: Any) -> None:
    # Given the real template and a fresh moto (the fixture's group removed)
    scheduler_api.delete_schedule_group(Name=GROUP)
    # When its schedule groups are created
    names = create_schedule_groups(Template.from_file(ROOT / "template.yaml"))
    # Then the trigger schedule group exists under its Ref
    listed = {group["Name"] for group in scheduler_api.list_schedule_groups()["ScheduleGroups"]}
    assert names == [GROUP]
    assert GROUP in listed


def test_schedules_survive_the_state_file_with_their_creation_date(scheduler_api: Any) -> None:
    # Given a rate schedule whose start date is by now long past
    create(scheduler_api, "trg-rate", "rate(5 minutes)", StartDate=datetime.now(UTC) + timedelta(seconds=5))
    before = scheduler_api.get_schedule(GroupName=GROUP, Name="trg-rate")
    dumped = json.loads(json.dumps(SchedulerPersister().dump()))
    scheduler_api.delete_schedule(GroupName=GROUP, Name="trg-rate")
    # When the dump is restored
    SchedulerPersister().restore(dumped)
    # Then the schedule is back exactly as it was, creation date (a rate's anchor) included
    after = scheduler_api.get_schedule(GroupName=GROUP, Name="trg-rate")
    for name in (
        "ScheduleExpression",
        "State",
        "Target",
        "StartDate",
        "CreationDate",
        "LastModificationDate",
    ):
        assert after[name] == before[name], name
