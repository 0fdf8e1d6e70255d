"""The trigger function on moto, invoked as Scheduler invokes it: each firing is one recorded event, accepted
with the background run it started, skipped when the trigger is disabled, rejected with the reason when the
run use case refuses the run (the requirements pre-flight included); a firing delivered twice starts one run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from switchboard.domain.runs import Run, RunSource, RunStatus
from switchboard.domain.triggers import TriggerEventStatus
from switchboard.store import runs, trigger_events
from tests.integration.apps_runtime import deploy
from tests.integration.conftest import World
from tests.integration.links_world import links_world, requirement_definition
from tests.integration.trigger_world import TriggerWorld, trigger_world, with_trigger_function

SCHEDULED = "2030-05-01T09:00:00Z"


@pytest.fixture
def scene(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[TriggerWorld]:
    with trigger_world(world, monkeypatch) as built:
        yield built


def firing(trigger_id: str, scheduled_time: str = SCHEDULED, execution_id: str = "exec-1") -> dict[str, Any]:
    return {"trigger_id": trigger_id, "scheduled_time": scheduled_time, "execution_id": execution_id}


def test_a_firing_starts_a_background_run_and_records_it_accepted(scene: TriggerWorld) -> None:
    # Given an enabled schedule trigger with static input
    trigger = scene.trigger(input={"question": "daily digest"})
    # When Scheduler fires it
    answer = scene.fire(firing(trigger.id))
    # Then the event is accepted and names the run it queued, created by the trigger
    event = answer["event"]
    assert event["status"] == "accepted"
    assert event["reason"] is None
    assert scene.runtime.queued_run_ids() == [event["run_id"]]
    run = runs.get_run(event["run_id"])
    assert run is not None
    assert (run.mode, run.created_by, run.input, run.source) == (
        "background",
        f"trigger:{trigger.id}",
        {"question": "daily digest"},
        RunSource.schedule,
    )
    # And the run completes once the queue is drained
    scene.runtime.drain()
    finished = runs.get_run(event["run_id"])
    assert finished is not None
    assert finished.status is RunStatus.completed
    assert finished.output == {"answer": "daily digest!", "file": None, "files": None}


def test_the_recorded_event_keeps_the_firing_and_is_listed_newest_first(scene: TriggerWorld) -> None:
    # Given a trigger fired at two scheduled times
    trigger = scene.trigger(input={"question": "q"})
    first = scene.fire(firing(trigger.id, "2030-05-01T09:00:00Z", "exec-1"))["event"]
    second = scene.fire(firing(trigger.id, "2030-05-01T09:01:00Z", "exec-2"))["event"]
    # When its events are listed and one is read by id
    listed, next_token = trigger_events.list_events(trigger.id, limit=10, next_token=None)
    stored = trigger_events.get_event(trigger.id, first["id"])
    # Then the newest comes first, and the event holds the firing's payload and key
    assert [event.id for event in listed] == [second["id"], first["id"]]
    assert next_token is None
    assert stored is not None
    assert stored.payload == {"scheduled_time": "2030-05-01T09:00:00.000Z", "execution_id": "exec-1"}
    assert stored.firing_key == "schedule:2030-05-01T09:00:00.000Z"
    assert (stored.status, stored.run_id, stored.app_id) == (
        TriggerEventStatus.accepted,
        first["run_id"],
        scene.app_id,
    )


def test_a_disabled_trigger_records_its_firing_skipped_and_starts_nothing(scene: TriggerWorld) -> None:
    # Given a disabled trigger
    trigger = scene.trigger(input={"question": "q"}, enabled=False)
    # When Scheduler fires it
    event = scene.fire(firing(trigger.id))["event"]
    # Then the firing is recorded skipped and no run exists
    assert (event["status"], event["run_id"]) == ("skipped", None)
    assert event["reason"] == "the trigger is disabled"
    assert scene.runtime.queued_run_ids() == []


def test_a_firing_delivered_twice_starts_one_run(scene: TriggerWorld) -> None:
    # Given a trigger fired once
    trigger = scene.trigger(input={"question": "q"})
    first = scene.fire(firing(trigger.id, execution_id="exec-1"))["event"]
    # When Scheduler delivers the same firing again (a retry)
    again = scene.fire(firing(trigger.id, execution_id="exec-retry"))["event"]
    # Then the answer is the first event, and only one run was queued
    assert again == first
    assert scene.runtime.queued_run_ids() == [first["run_id"]]
    assert len(trigger_events.list_events(trigger.id, limit=10, next_token=None)[0]) == 1


def test_a_concurrent_duplicate_cancels_the_run_it_created(
    scene: TriggerWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a firing already recorded, and a second delivery that raced past the check for it
    trigger = scene.trigger(input={"question": "q"})
    first = scene.fire(firing(trigger.id))["event"]
    looked_up = trigger_events.firing_event
    missed: list[bool] = []

    def first_check_misses(trigger_id: str, firing_key: str) -> Any:
        if not missed:
            missed.append(True)
            return None
        return looked_up(trigger_id, firing_key)

    monkeypatch.setattr(trigger_events, "firing_event", first_check_misses)
    created: list[str] = []
    original = runs.create_run

    def recording(run: Run) -> None:
        created.append(run.id)
        original(run)

    monkeypatch.setattr(runs, "create_run", recording)
    # When the second delivery records its outcome
    answer = scene.fire(firing(trigger.id))["event"]
    # Then it answers with the first event, and the run it created is canceled, never queued
    assert answer["id"] == first["id"]
    (orphan,) = created
    canceled = runs.get_run(orphan)
    assert canceled is not None
    assert canceled.status is RunStatus.canceled
    assert canceled.error is not None
    assert canceled.error["type"] == "duplicate_firing"
    assert scene.runtime.queued_run_ids() == [first["run_id"]]


def test_the_input_transformer_maps_the_firing_over_the_static_input(scene: TriggerWorld) -> None:
    # Given a trigger whose transformer builds the question from the firing and the trigger's name
    trigger = scene.trigger(
        name="nightly",
        input={"question": "overridden", "count": 3},
        input_transformer="{question: join(' at ', [trigger.name, scheduled_time])}",
    )
    # When it fires
    event = scene.fire(firing(trigger.id))["event"]
    # Then the run's input is the static input with the transformed fields over it
    run = runs.get_run(event["run_id"])
    assert run is not None
    assert run.input == {"question": "nightly at 2030-05-01T09:00:00.000Z", "count": 3}


def test_a_transformer_that_yields_no_object_rejects_the_firing(scene: TriggerWorld) -> None:
    # Given a transformer that yields a string
    trigger = scene.trigger(input={"question": "q"}, input_transformer="scheduled_time")
    # When it fires
    event = scene.fire(firing(trigger.id))["event"]
    # Then the firing is rejected with the reason, and nothing runs
    assert (event["status"], event["run_id"]) == ("rejected", None)
    assert event["reason"] == (
        "invalid_transformed_input: input_transformer must yield a JSON object; it yielded a string"
    )
    assert scene.runtime.queued_run_ids() == []


def test_input_the_app_refuses_rejects_the_firing_with_the_reason(scene: TriggerWorld) -> None:
    # Given a trigger whose input lacks the App's required question
    trigger = scene.trigger(input={"count": 1})
    # When it fires
    event = scene.fire(firing(trigger.id))["event"]
    # Then the run use case's 422 is the reason, and nothing runs
    assert event["status"] == "rejected"
    assert event["reason"].startswith("validation_failed: ")
    assert scene.runtime.queued_run_ids() == []


def test_a_firing_of_a_trigger_that_no_longer_exists_is_refused(scene: TriggerWorld) -> None:
    # Given a trigger id that no trigger holds
    # When Scheduler fires a trigger id nothing holds
    answer = scene.fire(firing("trg-gone"))
    # Then the answer is a refusal, not an error Scheduler would retry
    assert answer == {
        "error": {"code": "not_found", "message": "trigger not found", "details": {"trigger_id": "trg-gone"}}
    }


def test_an_event_that_is_not_a_firing_is_refused(scene: TriggerWorld) -> None:
    # Given an event with a trigger id and a field a firing does not have
    # When the function gets something else
    answer = scene.fire({"trigger_id": "trg-x", "surprise": True})
    # Then it is refused as an invalid request
    assert answer["error"]["code"] == "invalid_request"


def test_a_trigger_acting_for_a_user_without_the_linked_requirement_is_rejected(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    with links_world(world, monkeypatch) as links:
        scene = with_trigger_function(links.runtime, monkeypatch)
        # Given an App whose workflow needs each user's CRM link, and triggers acting for two users
        unlinked = scene.trigger(input={"question": "q"}, user_id="user-42")
        linked = scene.trigger(input={"question": "q"}, user_id="user-43")
        links.link("user-43")
        # When both fire
        refused = scene.fire(firing(unlinked.id))["event"]
        accepted = scene.fire(firing(linked.id))["event"]
        # Then the user without the link is rejected by the pre-flight, naming the requirement, with no run
        assert (refused["status"], refused["run_id"]) == ("rejected", None)
        assert refused["reason"] == (
            "requirement_not_satisfied: the user has not linked every connection this App needs (crm)"
        )
        # And the linked user's run is started for them
        assert accepted["status"] == "accepted"
        assert scene.runtime.queued_run_ids() == [accepted["run_id"]]
        run = runs.get_run(accepted["run_id"])
        assert run is not None
        assert run.user_id == "user-43"


def test_a_trigger_without_user_id_is_rejected_by_an_app_with_requirements(scene: TriggerWorld) -> None:
    # Given an App whose workflow needs a user's link, and a trigger acting for nobody
    deploy(scene.world, requirement_definition())
    trigger = scene.trigger(input={"question": "q"})
    # When it fires
    event = scene.fire(firing(trigger.id))["event"]
    # Then the pre-flight asks for the user the run acts for
    assert event["status"] == "rejected"
    assert event["reason"].startswith("requirement_not_satisfied: this App's workflow has requirements")
    assert scene.runtime.queued_run_ids() == []
