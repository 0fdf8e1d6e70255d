"""The sweeper on moto: every minute it finds the unfinished runs that are due (the gsi2 index) and moves
each on, so none stays unfinished for good: an unstarted run is started (or given up on after 15 minutes),
a run cancelled before it started ends canceled, and a run past its deadline whose executor is gone ends
``deadline_exceeded``. Each ends with exactly one terminal event."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest

from switchboard.domain.ids import utcnow
from switchboard.domain.runs import RunStatus
from switchboard.invoker import InvokeThrottled
from switchboard.runtime.runs import sweeper as sweeper_module
from switchboard.runtime.runs.sweeper import sweep
from switchboard.store import runs
from tests.integration.apps_runtime import Runtime, app_runtime
from tests.integration.conftest import World
from tests.support.invokers import wait_for_run
from tests.support.run_states import created_run, started_run
from tests.support.stack import LambdaContextStub, load_function

TERMINAL_EVENTS = ("run.completed", "run.failed", "run.canceled")


@pytest.fixture
def rt(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with app_runtime(world, monkeypatch) as runtime:
        yield runtime


def _terminal_events(run_id: str) -> list[str]:
    return [event.type for event in runs.list_events(run_id, 0, 100) if event.type in TERMINAL_EVENTS]


def test_a_run_nobody_started_is_started_by_the_sweeper(rt: Runtime) -> None:
    # Given a created run whose start was lost (no execution, no queue message)
    run = created_run(rt.app_id, {"question": "lost"})
    # When the sweeper runs before it is due / Then nothing happens
    assert sweep(utcnow()) == {}
    # When it runs a couple of minutes later / Then it starts the run, which completes once
    assert sweep(utcnow() + timedelta(minutes=2)) == {"started": 1}
    assert rt.invoker.started == [run.id]
    finished = wait_for_run(run.id)
    assert finished.status is RunStatus.completed
    assert _terminal_events(run.id) == ["run.completed"]
    # And a later sweep leaves it alone
    assert sweep(utcnow() + timedelta(minutes=3)) == {}


def test_a_run_cancelled_before_any_start_is_ended_canceled(rt: Runtime) -> None:
    # Given a created run whose cancel was requested before it started
    run = created_run(rt.app_id)
    assert runs.request_cancel(run.id, utcnow()) is not None
    # When the sweeper runs two minutes later / Then it ends the run canceled
    assert sweep(utcnow() + timedelta(minutes=2)) == {"canceled": 1}
    # And the run never started, its only terminal event is run.canceled, and no execution was started
    ended = runs.get_run(run.id)
    assert ended is not None
    assert (ended.status, ended.started_at) == (RunStatus.canceled, None)
    assert _terminal_events(run.id) == ["run.canceled"]
    assert rt.invoker.started == []


def test_a_throttled_start_is_tried_again_and_a_run_never_started_is_given_up_after_15_minutes(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a created run, and an executor that cannot be started (throttled)
    run = created_run(rt.app_id)

    def throttled(*_: object) -> str:
        raise InvokeThrottled("the executor cannot be started now")

    with monkeypatch.context() as patched:
        patched.setattr(rt.invoker, "start_execution", throttled)
        # When the executor cannot be started / Then the run stays created, for the next sweep
        assert sweep(utcnow() + timedelta(minutes=2)) == {"start_throttled": 1}
        assert runs.get_run(run.id).status is RunStatus.created  # type: ignore[union-attr]
        # When it still has not started 15 minutes after its creation / Then it ends failed not_started
        assert sweep(utcnow() + timedelta(minutes=16)) == {"not_started": 1}
    ended = runs.get_run(run.id)
    assert ended is not None
    assert ended.status is RunStatus.failed
    assert ended.error is not None
    assert ended.error["type"] == "not_started"
    assert _terminal_events(run.id) == ["run.failed"]


def test_a_run_past_its_deadline_whose_executor_is_gone_ends_deadline_exceeded(rt: Runtime) -> None:
    # Given a started run in a session whose execution never ends (its executor is gone)
    session = str(uuid.uuid4())
    run = started_run(rt.app_id, user_id="u-1", session_id=session)
    assert run.deadline_at is not None
    # When the sweeper runs within the deadline's grace / Then it leaves the run alone
    assert sweep(run.deadline_at + timedelta(seconds=30)) == {}
    # When it runs after the grace / Then the run ends failed deadline_exceeded, once, and frees its session
    assert sweep(run.deadline_at + timedelta(minutes=3)) == {"deadline_exceeded": 1}
    ended = runs.get_run(run.id)
    assert ended is not None
    assert ended.status is RunStatus.failed
    assert ended.error is not None
    assert ended.error["type"] == "deadline_exceeded"
    assert _terminal_events(run.id) == ["run.failed"]
    reply = rt.call(
        "POST", "/v1/runs", body={"input": {"question": "next"}, "user_id": "u-1", "session_id": session}
    )
    assert reply.status == 200, reply.body


def test_the_sweep_schedule_invokes_the_dispatcher(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a run whose start was lost, and the clock two minutes later
    run = created_run(rt.app_id)
    later = utcnow() + timedelta(minutes=2)
    monkeypatch.setattr(sweeper_module, "utcnow", lambda: later)
    # When the schedule's event reaches the dispatcher
    result = load_function("dispatcher").lambda_handler({"sweep": True}, LambdaContextStub())
    # Then it swept: the run was started, and completes
    assert result == {"swept": {"started": 1}}
    assert wait_for_run(run.id).status is RunStatus.completed
