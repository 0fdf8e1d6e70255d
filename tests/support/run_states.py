"""Runs in a given state for tests, made the way production makes them: created by the one run creation use
case, started by the executor's claim, ended by the one end of a run (which writes the terminal event)."""

from __future__ import annotations

from typing import Any

from switchboard.auth.principal import Principal
from switchboard.domain.ids import utcnow
from switchboard.domain.models import TokenKind
from switchboard.domain.runs import ACTIVE, Run, RunEvent, RunStatus
from switchboard.runtime.runs.creation import RunRequest, create
from switchboard.runtime.runs.ending import end_run
from switchboard.store import apps, runs

EXECUTION = "arn:aws:lambda:us-east-1:123456789012:durable-execution:ExecutorFunction:test:1"


TESTER = Principal(kind=TokenKind.pat, token_id="test")
"""Who creates the tests' runs: a builder's kind of principal, which may act for any user_id."""


def created_run(app_id: str, run_input: dict[str, Any] | None = None, **request: Any) -> Run:
    app = apps.get_app(app_id)
    assert app is not None, app_id
    return create(app, RunRequest(input=run_input or {"question": "hi"}, **request), TESTER)


def started_run(app_id: str, run_input: dict[str, Any] | None = None, **request: Any) -> Run:
    claimed, run = runs.claim(created_run(app_id, run_input, **request).id, utcnow(), EXECUTION)
    assert claimed
    assert run is not None
    return run


def with_events(run: Run, *event_types: str) -> list[RunEvent]:
    """Store events of the given types after the run's last one; the stored events."""
    first = runs.last_event_sequence(run.id) + 1
    events = [
        RunEvent(
            id=f"evt-{sequence}",
            run_id=run.id,
            type=event_type,
            sequence=sequence,
            timestamp=utcnow(),
            data={"n": sequence},
        )
        for sequence, event_type in enumerate(event_types, start=first)
    ]
    runs.write_events(runs.event_item(event, run.expires_at) for event in events)
    return events


def ended_run(run: Run, status: RunStatus, **result: Any) -> Run:
    """End the run (its terminal event included) from whatever unfinished state it is in."""
    return end_run(run, status, result=result, from_statuses=ACTIVE)
