"""The management API's views of what an App did: runs, traces (span tree and credential resolutions) and
sessions with their messages, for project viewers and up, invisible to everyone else."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from switchboard.domain.ids import iso, utcnow
from switchboard.runtime.identity.bootstrap import bootstrap_admin
from tests.integration.apps_runtime import Runtime, access_key, app_runtime, deploy, new_app
from tests.integration.conftest import World
from tests.support.fakes import HttpTarget, Reply


@pytest.fixture
def rt(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with app_runtime(world, monkeypatch) as runtime:
        yield runtime


def _run(rt: Runtime, question: str, **fields: Any) -> dict[str, Any]:
    reply = rt.call("POST", "/v1/runs", body={"input": {"question": question}, **fields})
    assert reply.status in (200, 202), reply.body
    return reply.body["data"]  # type: ignore[no-any-return]


def _get(rt: Runtime, path: str, token: str | None = None, **query: str) -> Any:
    reply = rt.world.call(
        "GET", f"/v1/apps/{rt.app_id}{path}", token=token or rt.world.admin.token, query=query
    )
    assert reply.status == 200, reply.body
    return reply.body


def test_runs_are_listed_and_read_like_on_the_apps_api(rt: Runtime) -> None:
    # Given a completed run of u-1 and a failed run of u-2, created through the Apps API
    first = _run(rt, "a", user_id="u-1")
    second = _run(rt, "xx", user_id="u-2")
    # When the management API lists and reads the App's runs, whole and filtered
    listed = _get(rt, "/runs")
    # Then they are newest first, each as the Apps API answered it, and the status, user and limit filters
    # apply
    assert [r["id"] for r in listed["data"]] == [second["id"], first["id"]]
    assert listed["data"][1] == first
    assert _get(rt, "/runs", status="failed")["data"] == [second]
    assert _get(rt, "/runs", user_id="u-1", limit="1") == {"data": [first], "next_token": None}
    assert _get(rt, f"/runs/{first['id']}")["data"] == first


def test_a_trace_is_the_span_tree_with_the_credential_resolutions(rt: Runtime) -> None:
    # Given a version whose http node uses the shared connection, and a run of it
    with HttpTarget() as target:
        target.respond("/echo", Reply(body={"ok": True}))
        rt.world.call(
            "PATCH",
            f"/v1/connections/{rt.world.connection_id}",
            token=rt.world.admin.token,
            body={"config": {"url": target.url, "api_key": "trace-SECRET-key"}},
        )
        deploy(rt.world, _http_definition(rt.world.connection_id))
        run = _run(rt, "traced")
    assert run["status"] == "completed", run
    # When the App's traces are listed / Then the run's summary is there, with its token usage
    summaries = _get(rt, "/traces")["data"]
    assert summaries == [
        {
            "id": run["id"],
            "run_id": run["id"],
            "status": "completed",
            "started_at": run["started_at"],
            "ended_at": run["ended_at"],
            "input": {"question": "traced"},
            "output": run["output"],
            "usage": {},
        }
    ]
    # When the trace is read / Then spans nest under their parents, and each credential is accounted for
    trace = _get(rt, f"/traces/{run['id']}")["data"]
    assert [span["kind"] for span in trace["spans"]] == ["run"]
    nodes = trace["spans"][0]["children"]
    assert [span["name"] for span in nodes if span["kind"] == "node"] == ["start", "call", "finish"]
    call = next(span for span in nodes if span["name"] == "call")
    assert [child["kind"] for child in call["children"]] == ["attempt"]
    assert all(child["parent_id"] == call["id"] for child in call["children"])
    assert trace["credential_resolutions"] == [
        {
            "reference": f"connection:{rt.world.connection_id}",
            "kind": "connection",
            "id": rt.world.connection_id,
            "secret_version": trace["credential_resolutions"][0]["secret_version"],
            "status": "active",
            "cached": False,
            "refreshed": False,
        }
    ]
    assert "trace-SECRET-key" not in str(trace)


def _http_definition(connection_id: str) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "start", "type": "input", "fields": [{"name": "question", "type": "string"}]},
            {
                "id": "call",
                "type": "http",
                "depends": ["start"],
                "connection": {"connection_id": connection_id},
                "config": {"method": "POST", "path": "/echo", "body": {"q": "$.input.question"}},
            },
            {
                "id": "finish",
                "type": "output",
                "depends": ["call"],
                "mappings": {"status": "$.call.output.status"},
            },
        ]
    }


def test_traces_filter_on_time_and_status(rt: Runtime) -> None:
    # Given a completed run, a failed run and a queued background run, all within a two-second window
    before = utcnow() - timedelta(seconds=1)
    ok = _run(rt, "ok")
    failed = _run(rt, "xx")
    queued = _run(rt, "later", background=True)
    after = utcnow() + timedelta(seconds=1)
    # When the App's traces are listed, whole and filtered by status, start time and limit
    ids = [t["id"] for t in _get(rt, "/traces")["data"]]
    # Then only the two runs that started have traces, newest first, and each filter keeps the right ones
    assert ids == [failed["id"], ok["id"]], "a run that has not started has no trace yet"
    assert [t["id"] for t in _get(rt, "/traces", status="failed")["data"]] == [failed["id"]]
    assert len(_get(rt, "/traces", started_after=iso(before), started_before=iso(after))["data"]) == 2
    assert _get(rt, "/traces", started_after=iso(after))["data"] == []
    assert _get(rt, "/traces", started_before=iso(before))["data"] == []
    assert [t["id"] for t in _get(rt, "/traces", limit="1")["data"]] == [failed["id"]]
    # And the queued run's trace is 404
    reply = rt.world.call("GET", f"/v1/apps/{rt.app_id}/traces/{queued['id']}", token=rt.world.admin.token)
    assert (reply.status, reply.body["error"]["code"]) == (404, "not_found")


def test_sessions_and_their_messages(rt: Runtime) -> None:
    # Given two runs of u-1 in one session and a run of u-2 in another
    session = str(uuid.uuid4())
    first = _run(rt, "hello", user_id="u-1", session_id=session)
    second = _run(rt, "again", user_id="u-1", session_id=session)
    other = str(uuid.uuid4())
    _run(rt, "elsewhere", user_id="u-2", session_id=other)
    # When the App's sessions and the first session's messages are listed
    listed = _get(rt, "/sessions")["data"]
    # Then the sessions are newest first, u-1's counting two runs and its first and last run times
    assert [s["id"] for s in listed] == [other, session]
    mine = listed[1]
    assert (mine["user_id"], mine["run_count"], mine["active_run_id"]) == ("u-1", 2, None)
    assert mine["created_at"] == first["created_at"]
    assert mine["last_run_at"] == second["created_at"]
    # And its messages are each run's question and answer, in order
    messages = _get(rt, f"/sessions/{session}/messages")
    assert [(m["run_id"], m["role"], m["content"]) for m in messages["data"]] == [
        (first["id"], "user", {"question": "hello"}),
        (first["id"], "assistant", first["output"]),
        (second["id"], "user", {"question": "again"}),
        (second["id"], "assistant", second["output"]),
    ]
    # And the session id is read in any case, and a page of limit 1 holds the first run's two messages and
    # a cursor
    paged = _get(rt, f"/sessions/{session.upper()}/messages", limit="1")
    assert [m["run_id"] for m in paged["data"]] == [first["id"]] * 2
    # And its cursor gives the second run's two messages, the last page
    rest = _get(rt, f"/sessions/{session}/messages", limit="1", next_token=paged["next_token"])
    assert [m["run_id"] for m in rest["data"]] == [second["id"]] * 2
    assert rest["next_token"] is None


def test_unknown_or_foreign_things_are_404(rt: Runtime) -> None:
    # Given a run of another App of the project
    other_app = new_app(rt.world, deploy_version=2)
    foreign_run = rt.call("POST", "/v1/runs", app_id=other_app, body={"input": {"question": "q"}}).body[
        "data"
    ]
    # When the App's run, trace and session messages are read with ids it does not hold
    # Then each is 404 not_found
    for path in [
        f"/runs/{foreign_run['id']}",
        "/runs/run-unknown",
        f"/traces/{foreign_run['id']}",
        f"/sessions/{uuid.uuid4()}/messages",
    ]:
        reply = rt.world.call("GET", f"/v1/apps/{rt.app_id}{path}", token=rt.world.admin.token)
        assert (reply.status, reply.body["error"]["code"]) == (404, "not_found"), path
    # And a session id that is not a UUID is 400 invalid_session_id
    reply = rt.world.call(
        "GET", f"/v1/apps/{rt.app_id}/sessions/not-a-uuid/messages", token=rt.world.admin.token
    )
    assert (reply.status, reply.body["error"]["code"]) == (400, "invalid_session_id")


ROUTES = [
    "/runs",
    "/runs/{run}",
    "/traces",
    "/traces/{run}",
    "/sessions",
    "/sessions/{session}/messages",
]


def test_who_may_see_an_apps_runs(rt: Runtime, management: Any) -> None:
    # Given a run of u-1 in a session; a project viewer, an org member outside the project, an admin of
    # another org, an access key and no token at all
    session = str(uuid.uuid4())
    run = _run(rt, "seen", user_id="u-1", session_id=session)
    world = rt.world
    paths = [f"/v1/apps/{rt.app_id}" + r.format(run=run["id"], session=session) for r in ROUTES]
    viewer = world.token_for("viewer@example.com", project_role="viewer")
    outsider = world.token_for("outsider@example.com")
    stranger = bootstrap_admin("stranger@example.org", "Elsewhere").token
    cases = [
        (None, 401, "missing_token"),
        (access_key(world), 403, "wrong_token_type"),
        (stranger, 404, "not_found"),
        (outsider, 404, "not_found"),
    ]
    # When each reads every runs, traces and sessions view of the App
    # Then the viewer sees each, and the others are refused with their own status and code
    for path in paths:
        # A project viewer sees everything
        assert world.call("GET", path, token=viewer).status == 200, path
        for token, status, code in cases:
            reply = world.call("GET", path, token=token)
            assert (reply.status, reply.body["error"]["code"]) == (status, code), (path, token)
