"""Sharded listings on moto: an App's runs and a trigger's events are written over several partitions and
listed through the APIs newest first, merged across the shards (and the unsharded partition of entries
written before sharding): order, filters, limits and cursors hold across pages that cross shards, and a
tampered cursor is 400 ``invalid_cursor``."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchboard.domain.ids import new_id
from switchboard.domain.runs import Run, RunStatus
from switchboard.domain.triggers import TriggerEvent, TriggerEventStatus
from switchboard.store import keys, sharded, trigger_events
from switchboard.store import runs as store_runs
from switchboard.store.control import to_item
from switchboard.store.runs import runs_table
from switchboard.store.table import MAX_CURSOR_CHARS, delete_op, put_op
from tests.integration.apps_runtime import Runtime, app_runtime, new_app
from tests.integration.conftest import World, error_of

START = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


@pytest.fixture
def rt(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with app_runtime(world, monkeypatch) as runtime:
        yield runtime


def _run(world: World, app_id: str, n: int, *, unsharded: bool = False) -> Run:
    # Every third run shares its creation time with the one before: the run id breaks the tie.
    created = START + timedelta(seconds=n - n % 3 // 2)
    run = Run(
        id=new_id("run"),
        app_id=app_id,
        org_id=world.org_id,
        project_id=world.project_id,
        workflow_id=world.workflow_id,
        version=1,
        user_id=f"u-{n % 2}",
        status=RunStatus.failed if n % 5 == 0 else RunStatus.completed,
        input={"n": n},
        created_at=created,
        created_by="test",
        expires_at=int((datetime.now(UTC) + timedelta(days=1)).timestamp()),
    )
    if not unsharded:
        store_runs.create_run(run)
        return run
    # As a run was written before sharding: listed under the App's one partition.
    item = to_item(run, keys.run(run.id), keys.listing_index(keys.app_runs(app_id), created, run.id))
    runs_table().write(put_op(runs_table().name, item))
    return run


def _newest_first(runs: list[Run]) -> list[int]:
    ordered = sorted(runs, key=lambda run: (run.created_at, run.id), reverse=True)
    return [run.input["n"] for run in ordered]


def _all_pages(rt: Runtime, query: dict[str, str], limit: int) -> tuple[list[int], list[int]]:
    """Every run the listing gives, page by page, and the size of each page that had a next one."""
    seen: list[int] = []
    sizes: list[int] = []
    token: str | None = None
    for _ in range(200):
        reply = rt.call(
            "GET",
            "/v1/runs",
            query={**query, "limit": str(limit), **({"next_token": token} if token else {})},
        )
        assert reply.status == 200, reply.body
        assert len(reply.body["data"]) <= limit
        seen.extend(run["input"]["n"] for run in reply.body["data"])
        token = reply.body["next_token"]
        if token is None:
            return seen, sizes
        assert len(token) <= MAX_CURSOR_CHARS
        sizes.append(len(reply.body["data"]))
    raise AssertionError("the listing never ended")


@pytest.fixture
def spread(rt: Runtime) -> list[Run]:
    """40 runs written now (sharded) and 6 written before sharding, interleaved in time."""
    return [_run(rt.world, rt.app_id, n, unsharded=n % 8 == 3) for n in range(46)]


def test_runs_are_written_over_the_shards(rt: Runtime, spread: list[Run]) -> None:
    # Given runs created through the store / When their items are read back
    items = [runs_table().get(keys.run(run.id)) or {} for run in spread if run.input["n"] % 8 != 3]
    partitions = {item["gsi1pk"] for item in items}
    # Then each is listed in one of the App's run shards, and they spread over many of them
    assert all(p.removeprefix(f"APP#{rt.app_id}#RUNS#").isdigit() for p in partitions), partitions
    assert {int(p.rsplit("#", 1)[1]) for p in partitions} <= set(range(keys.RUN_SHARDS))
    assert len(partitions) >= keys.RUN_SHARDS // 2


@pytest.mark.parametrize("limit", [1, 7, 50])
def test_pages_cross_shards_newest_first_without_gaps_or_repeats(
    rt: Runtime, spread: list[Run], limit: int
) -> None:
    # Given runs spread over the shards and the unsharded partition
    # When every page is read
    seen, sizes = _all_pages(rt, {}, limit)
    # Then together they are every run once, newest first (ties by id), older runs among them; pages are full
    assert seen == _newest_first(spread)
    assert sizes == [limit] * ((len(spread) - 1) // limit)


def test_filters_hold_across_shards_and_pages(rt: Runtime, spread: list[Run]) -> None:
    # Given the same runs and a run of another App
    other = new_app(rt.world, deploy_version=2)
    _run(rt.world, other, 99)
    # When they are listed filtered, a few at a time / Then exactly the matching runs of this App come
    failed_u1 = [r for r in spread if r.status is RunStatus.failed and r.user_id == "u-1"]
    assert _all_pages(rt, {"status": "failed", "user_id": "u-1"}, 2)[0] == _newest_first(failed_u1)
    users = [r for r in spread if r.user_id == "u-0"]
    assert _all_pages(rt, {"user_id": "u-0"}, 4)[0] == _newest_first(users)


def test_a_listing_that_runs_out_of_reads_goes_on_where_it_stopped(
    rt: Runtime, spread: list[Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given reads of two items per query and one round of reads per request (17 queries for 17 partitions)
    monkeypatch.setattr(sharded, "READ_SIZE", 1)
    monkeypatch.setattr(sharded, "MAX_ROUNDS", 1)
    # When a filtered listing is followed to its end, 3 at a time (a request that runs out of reads returns
    # what it has, possibly a short or empty page, and a cursor where every shard was read to; how often that
    # happens depends on how the random run ids fell over the shards)
    failed = [r for r in spread if r.status is RunStatus.failed]
    seen, _ = _all_pages(rt, {"status": "failed"}, 3)
    # Then it is every match once, newest first: nothing skipped or repeated across the stops
    assert seen == _newest_first(failed)


def _forged(token: str, other_listing: str, shards: int) -> dict[str, str]:
    cursor = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))

    def encode(document: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")

    return {
        "another listing": encode({**cursor, "p": other_listing}),
        "a missing field": encode({k: v for k, v in cursor.items() if k != "d"}),
        "an extra field": encode({**cursor, "x": 1}),
        "a position of another shape": encode({**cursor, "b": "RUN#" + cursor["b"]}),
        "a position of another type": encode({**cursor, "b": 7}),
        "an empty position": encode({**cursor, "b": ""}),
        "a shard out of range": encode({**cursor, "d": [shards + 1]}),
        "a negative shard": encode({**cursor, "d": [-1]}),
        "shards out of order": encode({**cursor, "d": [3, 1]}),
        "a shard twice": encode({**cursor, "d": [1, 1]}),
        "a shard as text": encode({**cursor, "d": ["1"]}),
        "every shard finished": encode({**cursor, "d": list(range(shards + 1))}),
        "a cursor of the listing before sharding": encode(
            {"pk": "RUN#run-aaaaaaaaaaaaaaaaaaaa", "sk": "RUN", "gsi1pk": cursor["p"], "gsi1sk": cursor["b"]}
        ),
        "not a document": encode([cursor]),
        "not base64 JSON": "not-a-cursor!",
        "too long": "A" * (MAX_CURSOR_CHARS + 1),
    }


def test_a_tampered_cursor_is_400_next_to_the_real_one(rt: Runtime, spread: list[Run]) -> None:
    # Given a real cursor of the second page
    first = rt.call("GET", "/v1/runs", query={"limit": "5"})
    token = first.body["next_token"]
    # When it is passed back / Then it gives the next page
    second = rt.call("GET", "/v1/runs", query={"limit": "5", "next_token": token})
    assert second.status == 200, second.body
    assert [r["input"]["n"] for r in second.body["data"]] == _newest_first(spread)[5:10]
    # When it is changed in any way / Then it is 400 invalid_cursor
    other = keys.app_runs(new_app(rt.world, deploy_version=2))
    for why, forged in _forged(token, other, keys.RUN_SHARDS).items():
        reply = rt.call("GET", "/v1/runs", query={"limit": "5", "next_token": forged})
        assert reply.status == 400, why
        error_of(reply, 400, "invalid_cursor")


# ---------------------------------------------------------------- trigger events


def _trigger(world: World, name: str = "storm") -> str:
    body = {"name": name, "type": "webhook"}
    reply = world.call("POST", f"/v1/apps/{world.app_id}/triggers", token=world.admin.token, body=body)
    assert reply.status == 201, reply.body
    return str(reply.body["data"]["id"])


def _event(world: World, trigger_id: str, n: int, *, unsharded: bool = False) -> TriggerEvent:
    received = START + timedelta(seconds=n - n % 3 // 2)
    event = TriggerEvent(
        id=new_id("trigger_event"),
        trigger_id=trigger_id,
        app_id=world.app_id,
        received_at=received,
        firing_key=f"webhook:{n}",
        status=TriggerEventStatus.accepted,
        payload={"n": n},
    )
    trigger_events.record_event(event, int((datetime.now(UTC) + timedelta(days=1)).timestamp()))
    if unsharded:
        # As an event was recorded before sharding: moved to the trigger's one events partition.
        table = runs_table()
        key = keys.trigger_event(trigger_id, received, event.id)
        item = table.get(key) or {}
        table.write(
            put_op(table.name, {**item, **keys.unsharded_trigger_event(trigger_id, received, event.id)})
        )
        table.write(delete_op(table.name, key))
    return event


def test_trigger_events_are_sharded_listed_across_pages_and_read_by_id(world: World) -> None:
    # Given a trigger's events spread over the shards and some recorded before sharding
    trigger_id = _trigger(world)
    events = [_event(world, trigger_id, n, unsharded=n % 7 == 2) for n in range(30)]
    expected = [e.id for e in sorted(events, key=lambda e: (e.received_at, e.id), reverse=True)]
    base = f"/v1/apps/{world.app_id}/triggers/{trigger_id}/events"
    shards = {
        (runs_table().get(keys.trigger_event(trigger_id, e.received_at, e.id)) or {}).get("pk")
        for e in events
    }
    assert len(shards - {None}) >= keys.EVENT_SHARDS // 2

    # When every page of four is read
    seen: list[str] = []
    token: str | None = None
    first_token = ""
    while True:
        query = {"limit": "4", **({"next_token": token} if token else {})}
        reply = world.call("GET", base, token=world.admin.token, query=query)
        assert reply.status == 200, reply.body
        assert len(reply.body["data"]) <= 4
        seen.extend(e["id"] for e in reply.body["data"])
        token = reply.body["next_token"]
        first_token = first_token or token or ""
        if token is None:
            break
    # Then together they are every event once, newest first
    assert seen == expected

    # When an older (unsharded) and a newer event are read by id / Then each has its payload
    for event in (events[2], events[3]):
        one = world.call("GET", f"{base}/{event.id}", token=world.admin.token)
        assert one.status == 200, one.body
        assert one.body["data"]["payload"] == event.payload

    # When the cursor is tampered with or names another trigger / Then it is 400 invalid_cursor
    other = keys.trigger_events(_trigger(world, "another"))
    for why, cursor in _forged(first_token, other, keys.EVENT_SHARDS).items():
        reply = world.call("GET", base, token=world.admin.token, query={"next_token": cursor})
        assert reply.status == 400, why
        error_of(reply, 400, "invalid_cursor")
