"""GET /v1/runs/{id}/stream on the Apps handler (moto): replay, resume, ownership and who may stream."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from switchboard.domain.runs import Run, RunEvent, RunStatus
from switchboard.runtime.runs.streams import frame
from switchboard.store import runs
from tests.integration.conftest import Reply, World, mint_pat
from tests.support.run_states import ended_run, started_run, with_events
from tests.support.stack import LambdaContextStub, http_event, load_function


class Apps:
    def __init__(self, world: World) -> None:
        self.world = world
        self.handler = load_function("apps").lambda_handler
        self.deploy(world.app_id)
        self.key = self.access_key()

    def deploy(self, app_id: str) -> None:
        self.world.builder.deploy(app_id)

    def access_key(self, org_id: str | None = None, project_id: str | None = None, token: str = "") -> str:
        maker = replace(
            self.world.builder, token=token or self.world.admin.token, org_id=org_id or self.world.org_id
        )
        return maker.access_key("stream", project_id=project_id).token

    def stream(
        self,
        run_id: str,
        *,
        app_id: str | None = None,
        token: str | None = "key",  # noqa: S107 - "key" means this App's access key
        query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        app_id = app_id or self.world.app_id
        proxy = f"v1/runs/{run_id}/stream"
        event = http_event(
            "GET",
            f"/apps/{app_id}/{proxy}",
            token=self.key if token == "key" else token,
            query=query,
            headers=headers,
            route_key="ANY /apps/{app_id}/{proxy+}",
            path_parameters={"app_id": app_id, "proxy": proxy},
        )
        result: dict[str, Any] = self.handler(event, LambdaContextStub())
        headers_out = {name.lower(): value for name, value in (result.get("headers") or {}).items()}
        raw = result.get("body") or ""
        body = json.loads(raw) if headers_out.get("content-type") == "application/json" else raw
        return Reply(result["statusCode"], headers_out, body, raw)


def finished_run(app_id: str, *event_types: str) -> tuple[Run, list[RunEvent]]:
    """A run of the App that already ran, with its stored events: those given, then its terminal one."""
    run = started_run(app_id)
    with_events(run, *event_types)
    run = ended_run(run, RunStatus.completed, output={"answer": "hi!"})
    return run, runs.list_events(run.id)


def sse(*events: RunEvent) -> str:
    return "".join(frame(event).decode() for event in events)


EVENT_TYPES = ("run.started", "node.started", "node.completed")
"""Each finished run's stored events are these, then run.completed (its end writes it)."""


@pytest.fixture
def apps(world: World) -> Apps:
    return Apps(world)


def test_a_finished_run_is_streamed_whole_and_the_response_ends(apps: Apps):
    # Given a finished run of the App
    run, events = finished_run(apps.world.app_id, *EVENT_TYPES)

    # When its stream is requested with the App's access key
    reply = apps.stream(run.id)

    # Then every stored event comes back, in order, as SSE, in one buffered body
    assert reply.status == 200
    assert reply.headers["content-type"] == "text/event-stream"
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["x-accel-buffering"] == "no"
    assert reply.body == sse(*events)


def test_after_sequence_sends_only_the_later_events(apps: Apps):
    # Given a finished run with four stored events
    run, events = finished_run(apps.world.app_id, *EVENT_TYPES)

    # When its stream is requested after sequence 2
    reply = apps.stream(run.id, query={"after_sequence": "2"})

    # Then only the events after the second come back
    assert (reply.status, reply.body) == (200, sse(*events[2:]))


def test_last_event_id_resumes_when_it_is_later_than_after_sequence(apps: Apps):
    # Given a finished run with four stored events
    run, events = finished_run(apps.world.app_id, *EVENT_TYPES)

    # When its stream is requested with a Last-Event-ID later, then earlier, than after_sequence
    later = apps.stream(run.id, query={"after_sequence": "1"}, headers={"last-event-id": "3"})
    earlier = apps.stream(run.id, query={"after_sequence": "2"}, headers={"last-event-id": "1"})

    # Then the later of the two cursors wins each time
    assert (later.status, later.body) == (200, sse(events[3]))
    assert (earlier.status, earlier.body) == (200, sse(*events[2:]))


def test_a_finished_run_with_nothing_after_the_cursor_is_204(apps: Apps):
    # Given a finished run with four stored events, the last one numbered 4
    run, _ = finished_run(apps.world.app_id, *EVENT_TYPES)

    # When its stream is requested after sequence 4
    reply = apps.stream(run.id, query={"after_sequence": "4"})

    # Then it is 204 with an empty body: nothing more will come
    assert (reply.status, reply.raw) == (204, "")


def test_a_run_of_another_app_is_not_found(apps: Apps):
    # Given a second App of the same project, with a finished run
    other = apps.world.call(
        "POST",
        "/v1/apps",
        token=apps.world.admin.token,
        body={"project_id": apps.world.project_id, "name": "Other", "workflow_id": apps.world.workflow_id},
    )
    assert other.status == 201, other.body
    other_id = other.body["data"]["id"]
    apps.deploy(other_id)
    run, _ = finished_run(other_id, *EVENT_TYPES)

    # When it is streamed through the first App, and an unknown run too
    through_first = apps.stream(run.id)
    unknown = apps.stream("run-AAAAAAAAAAAAAAAAAAAA")

    # Then both are 404 and nothing of the run is revealed
    for reply in (through_first, unknown):
        assert reply.status == 404
        assert reply.body["error"]["code"] == "not_found"
    # While through its own App it streams
    assert apps.stream(run.id, app_id=other_id).status == 200


@pytest.mark.parametrize(
    ("query", "headers"),
    [({"after_sequence": "-1"}, None), ({"after_sequence": "x"}, None), (None, {"last-event-id": "abc"})],
)
def test_a_malformed_cursor_is_422(apps: Apps, query: dict[str, str] | None, headers: dict[str, str] | None):
    # Given a finished run
    run, _ = finished_run(apps.world.app_id, *EVENT_TYPES)

    # When its stream is asked for after a negative or non-numeric sequence, or a non-numeric Last-Event-ID
    reply = apps.stream(run.id, query=query, headers=headers)

    # Then it is 422 validation_failed
    assert reply.status == 422
    assert reply.body["error"]["code"] == "validation_failed"


def test_who_may_stream_a_run(apps: Apps):
    # Given a run of the private App, and credentials of every wrong kind
    world = apps.world
    run, _ = finished_run(world.app_id, *EVENT_TYPES)
    other_project = world.call(
        "POST", "/v1/projects", token=world.admin.token, body={"org_id": world.org_id, "name": "Elsewhere"}
    ).body["data"]["id"]
    scoped_elsewhere = apps.access_key(project_id=other_project)
    scoped_here = apps.access_key(project_id=world.project_id)
    from switchboard.runtime.identity.bootstrap import bootstrap_admin

    stranger = bootstrap_admin("stranger@example.com", "Other Org")
    foreign_key = apps.access_key(org_id=stranger.org_id, token=stranger.token)
    pat = mint_pat(world.admin.user_id)

    # When each one asks for the stream / Then each is refused with the right status and code
    expectations = [
        (None, 401, "missing_token"),
        ("sb_ak_not-a-real-token", 401, None),
        (pat, 403, None),
        (scoped_elsewhere, 403, "wrong_project"),
        (foreign_key, 404, "not_found"),
    ]
    for token, status, code in expectations:
        reply = apps.stream(run.id, token=token)
        assert reply.status == status, (token, reply.body)
        if code:
            assert reply.body["error"]["code"] == code
    # And a key scoped to the App's project may
    assert apps.stream(run.id, token=scoped_here).status == 200
