"""Direct invoke (``POST /``) through the Apps handler on moto: per-node and last-node output, node failures,
async runs with callbacks, multipart files stored in S3, idempotency and validation."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from switchboard import aws
from switchboard.runtime.runs.uploads import MAX_UPLOAD_BYTES
from switchboard.settings import get_settings
from switchboard.store import runs
from tests.integration.apps_runtime import FILES_BUCKET, Runtime, app_runtime, new_app
from tests.integration.conftest import Reply, World
from tests.support.multipart import CONTENT_TYPE, multipart


@pytest.fixture
def rt(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    with app_runtime(world, monkeypatch) as runtime:
        yield runtime


def _error(reply: Reply, status: int, code: str) -> dict[str, Any]:
    assert (reply.status, reply.body["error"]["code"]) == (status, code), reply.body
    return reply.body["error"]  # type: ignore[no-any-return]


def _invoke(rt: Runtime, body: dict[str, Any], **kwargs: Any) -> Reply:
    return rt.call("POST", "/", body=body, **kwargs)


MULTIPART = {"content-type": CONTENT_TYPE}


# --------------------------------------------------------------------------------------------- sync


@pytest.mark.parametrize("form", ["path", "host"])
def test_a_sync_invoke_answers_with_every_nodes_result(rt: Runtime, form: str) -> None:
    # Given the deployed App
    # When it is invoked synchronously, in either addressing form
    reply = _invoke(rt, {"input": {"question": "hey"}}, form=form)
    # Then 200 with the completed run and every node's result
    assert reply.status == 200, reply.body
    run = reply.body["data"]
    assert run["status"] == "completed"
    assert set(run["output"]) == {"start", "shout", "check", "finish"}
    assert run["output"]["shout"] == {"status": "completed", "output": "hey!", "error": None}
    assert run["output"]["finish"]["output"] == {"answer": "hey!", "file": None, "files": None}


def test_last_node_output_answers_with_the_output_nodes_value(rt: Runtime) -> None:
    # Given the deployed App
    # When it is invoked asking for the last node's output only
    reply = _invoke(rt, {"input": {"question": "hey"}, "last_node_output": True})
    # Then the output is the output node's value
    assert reply.body["data"]["output"] == {"answer": "hey!", "file": None, "files": None}


def test_error_on_node_failure_turns_a_failed_node_into_502(rt: Runtime) -> None:
    # Given an input the check node rejects
    failing = {"input": {"question": "xx"}}
    # When invoked without the flag
    plain = _invoke(rt, failing)
    # Then 200 with the failed run
    assert plain.status == 200
    assert plain.body["data"]["status"] == "failed"
    assert plain.body["data"]["output"]["check"]["status"] == "failed"
    # When invoked with it, then 502 node_failed naming the failed node and the run
    error = _error(_invoke(rt, {**failing, "error_on_node_failure": True}), 502, "node_failed")
    assert [n["node"] for n in error["details"]["failed_nodes"]] == ["check"]
    assert error["details"]["failed_nodes"][0]["error"]["type"] == "validation_failed"
    run = runs.get_run(error["details"]["run_id"])
    assert run is not None
    assert run.status.value == "failed"
    # And a run without a failed node answers 200 as usual
    assert _invoke(rt, {"input": {"question": "ok"}, "error_on_node_failure": True}).status == 200


# -------------------------------------------------------------------------------------------- async


@pytest.mark.parametrize(("form", "prefix"), [("path", "/apps/{app}"), ("host", "")])
def test_async_is_accepted_and_runs_in_the_background(rt: Runtime, form: str, prefix: str) -> None:
    # Given the deployed App
    # When it is invoked asynchronously
    reply = _invoke(rt, {"input": {"question": "bg"}, "execution_mode": "async"}, form=form)
    # Then 202 accepted with the run's Location, the run is queued, and the dispatcher completes it
    assert reply.status == 202, reply.body
    run_id = reply.body["data"]["id"]
    assert reply.body == {"data": {"id": run_id, "status": "accepted"}}
    assert reply.headers["location"] == prefix.format(app=rt.app_id) + f"/v1/runs/{run_id}"
    assert rt.queued_run_ids() == [run_id]
    rt.drain()
    assert rt.call("GET", f"/v1/runs/{run_id}", form=form).body["data"]["status"] == "completed"


def test_callbacks_are_kept_on_async_runs_only(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given loopback callbacks allowed and a callback with a bearer token
    monkeypatch.setenv("ALLOW_LOOPBACK_CALLBACKS", "true")
    get_settings.cache_clear()
    callback = {"url": "http://127.0.0.1:9/hook", "auth": {"type": "bearer", "token": "cb-token"}}
    # When it comes with a sync, an oversized, a refused and an async invoke
    # Then with sync: 400
    _error(_invoke(rt, {"input": {"question": "q"}, "callbacks": [callback]}), 400, "callbacks_need_async")
    # More than five: 422
    too_many = {"input": {"question": "q"}, "execution_mode": "async", "callbacks": [callback] * 6}
    _error(_invoke(rt, too_many), 422, "validation_failed")
    # A URL that may not be called: 422 naming it
    refused = {"input": {"question": "q"}, "execution_mode": "async", "callbacks": [{"url": "ftp://x"}]}
    assert _error(_invoke(rt, refused), 422, "validation_failed")["details"][0]["loc"] == [
        "callbacks",
        0,
        "url",
    ]
    # With async: accepted, and the run record holds them (never shown by the API)
    reply = _invoke(rt, {"input": {"question": "q"}, "execution_mode": "async", "callbacks": [callback]})
    assert reply.status == 202, reply.body
    run = runs.get_run(reply.body["data"]["id"])
    assert run is not None
    assert run.callbacks == [{"url": callback["url"], "auth": {"type": "bearer", "token": "cb-token"}}]
    shown = rt.call("GET", f"/v1/runs/{run.id}")
    assert "cb-token" not in shown.raw


# -------------------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"input": {"question": "q"}, "session_id": "u-1"}, 422, "validation_failed"),
        ({"input": {"question": "q"}, "user_id": ""}, 422, "validation_failed"),
        ({"input": {"question": "q"}, "stream": True, "execution_mode": "async"}, 400, "invalid_options"),
        ({"question": "q"}, 422, "validation_failed"),
        ({"input": {"question": "q"}, "execution_mode": "later"}, 422, "validation_failed"),
        ({"input": {"question": 1}}, 422, "validation_failed"),
    ],
)
def test_invalid_invocations(rt: Runtime, body: dict[str, Any], status: int, code: str) -> None:
    # Given the deployed App
    # When an invalid invocation is sent
    # Then it is refused with its code, and nothing was invoked
    _error(_invoke(rt, body), status, code)
    assert rt.invoker.calls == []


def test_other_content_types_are_415(rt: Runtime) -> None:
    # Given the deployed App
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        # When it is invoked with a body that is neither JSON nor multipart
        reply = rt.call("POST", "/", raw_body="input=x", headers={"content-type": content_type})
        # Then 415
        _error(reply, 415, "unsupported_media_type")


def test_an_app_without_deployment_is_409(rt: Runtime) -> None:
    # Given an App with no deployment
    # When it is invoked
    # Then 409 app_not_deployed
    _error(rt.call("POST", "/", app_id=new_app(rt.world), body={"input": {}}), 409, "app_not_deployed")


# -------------------------------------------------------------------------------------- multipart


def test_a_multipart_file_reaches_the_run_as_a_stored_reference(rt: Runtime) -> None:
    # Given a multipart body with binary files, one of them named like a field of the input
    content = b"%PDF-1.7\r\n\x00\x01binary\r\n--not-a-boundary\xff"
    body = multipart(
        [
            ("input", None, "application/json", json.dumps({"question": "read it"}).encode()),
            ("last_node_output", None, None, b"true"),
            ("doc", "../Résumé 2024.pdf", "application/pdf", content),
            ("extra", "notes.txt", "text/plain", b"more"),
        ]
    )
    # When the App is invoked with files
    reply = rt.call("POST", "/", raw_body=body, headers=MULTIPART)
    # Then the run completed with the file's reference in the input field of its name (others in files)
    assert reply.status == 200, reply.body
    run = reply.body["data"]
    assert run["output"]["answer"] == "read it!", reply.body
    assert run["output"]["file"] == "../Résumé 2024.pdf"
    doc = run["input"]["doc"]
    prefix = f"apps/{rt.app_id}/runs/{run['id']}/files/"
    assert doc == {
        "name": "../Résumé 2024.pdf",
        "content_type": "application/pdf",
        "size": len(content),
        "bucket": FILES_BUCKET,
        "key": prefix + "1-Resume_2024.pdf",
    }
    assert [f["key"] for f in run["input"]["files"]] == [prefix + "2-notes.txt"]
    # And the bytes are in S3, exactly
    stored = aws.client("s3").get_object(Bucket=FILES_BUCKET, Key=doc["key"])
    assert stored["Body"].read() == content
    assert stored["ContentType"] == "application/pdf"


def test_form_fields_become_the_input_and_options_keep_their_names(rt: Runtime) -> None:
    # Given plain form fields: two of the input and one option
    body = multipart(
        [
            ("question", None, None, "déjà".encode()),
            ("count", None, None, b"3"),
            ("execution_mode", None, None, b"async"),
        ]
    )
    # When the App is invoked with them
    reply = rt.call("POST", "/", raw_body=body, headers=MULTIPART)
    # Then the option applies (async) and the fields are the typed input
    assert reply.status == 202, reply.body
    run = runs.get_run(reply.body["data"]["id"])
    assert run is not None
    assert run.input == {"question": "déjà", "count": 3}
    # And a field that does not convert to its type is 422 naming it
    bad = multipart([("question", None, None, b"q"), ("count", None, None, b"three")])
    assert _error(rt.call("POST", "/", raw_body=bad, headers=MULTIPART), 422, "validation_failed")[
        "details"
    ] == [{"loc": ["input", "count"], "code": "invalid_type", "message": "must be of type integer"}]


def test_multipart_limits_and_malformed_bodies(rt: Runtime) -> None:
    # Given multipart bodies too big, without parts, with an unknown field and with malformed JSON
    oversized = multipart([("doc", "big.bin", "application/octet-stream", b"\x00" * (MAX_UPLOAD_BYTES + 1))])
    # When each is sent
    # Then each is refused with its own code
    _error(rt.call("POST", "/", raw_body=oversized, headers=MULTIPART), 413, "payload_too_large")
    _error(rt.call("POST", "/", raw_body=b"no parts here", headers=MULTIPART), 400, "malformed_multipart")
    unknown = multipart([("input", None, None, b'{"question": "q"}'), ("surprise", None, None, b"1")])
    assert _error(rt.call("POST", "/", raw_body=unknown, headers=MULTIPART), 422, "validation_failed")[
        "details"
    ] == [{"loc": ["surprise"], "code": "extra_forbidden", "message": "Extra inputs are not permitted"}]
    bad_json = multipart([("input", None, None, b"{")])
    _error(rt.call("POST", "/", raw_body=bad_json, headers=MULTIPART), 400, "malformed_json")
    # A file reference to another App's file is refused
    foreign = {
        "name": "a.txt",
        "content_type": "text/plain",
        "size": 1,
        "bucket": FILES_BUCKET,
        "key": "apps/app-other/runs/run-x/files/1-a.txt",
    }
    error = _error(_invoke(rt, {"input": {"question": "q"}, "files": [foreign]}), 422, "validation_failed")
    assert error["details"][0]["loc"] == ["files", 0]


def test_a_multipart_invoke_is_idempotent_by_content(rt: Runtime) -> None:
    # Given a multipart body with a file and an idempotency key
    headers = {**MULTIPART, "Idempotency-Key": "upload-1"}
    body = multipart([("question", None, None, b"q"), ("doc", "a.txt", "text/plain", b"one")])
    # When it is sent twice
    first = rt.call("POST", "/", raw_body=body, headers=headers)
    second = rt.call("POST", "/", raw_body=body, headers=headers)
    # Then the second answer is the first; a file with other bytes under the same key is 409
    assert first.status == second.status == 200
    assert first.body == second.body
    changed = multipart([("question", None, None, b"q"), ("doc", "a.txt", "text/plain", b"two")])
    _error(rt.call("POST", "/", raw_body=changed, headers=headers), 409, "idempotency_key_reused")


def test_async_invoke_is_idempotent(rt: Runtime) -> None:
    # Given an async invoke and an idempotency key
    body = {"input": {"question": "q"}, "execution_mode": "async"}
    headers = {"Idempotency-Key": "async-1"}
    # When it is sent twice
    first = _invoke(rt, body, headers=headers)
    second = _invoke(rt, body, headers=headers)
    # Then the second answer is the first and one run is queued
    assert (first.status, first.body, first.headers["location"]) == (
        second.status,
        second.body,
        second.headers["location"],
    )
    assert len(rt.queued_run_ids()) == 1
    # The same key on the other creating route is another request
    _error(
        rt.call("POST", "/v1/runs", body={"input": {"question": "q"}}, headers=headers),
        409,
        "idempotency_key_reused",
    )


def test_a_streamed_invoke_answers_with_the_runs_events(rt: Runtime) -> None:
    # Given the deployed App
    # When it is invoked with stream
    reply = _invoke(rt, {"input": {"question": "s"}, "stream": True})
    # Then the answer is the run's event stream, to run.completed
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert "event: run.completed" in reply.raw


def test_who_may_invoke(rt: Runtime) -> None:
    # Given the private App
    body = {"input": {"question": "q"}}
    # When it is invoked without a key, with a PAT, and (once public) without a key
    # Then 401, 403, and 200
    _error(_invoke(rt, body, token=None), 401, "missing_token")
    _error(_invoke(rt, body, token=rt.world.admin.token), 403, "wrong_token_type")
    rt.world.call("PATCH", f"/v1/apps/{rt.app_id}", token=rt.world.admin.token, body={"access": "public"})
    assert _invoke(rt, body, token=None).status == 200
