"""The http step: three-layer request building, authentication, status handling, response formats."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from switchboard.engine.steps.outbound import GuardedTransport
from switchboard.engine.steps.tls import http_ssl_context
from tests.support.fakes import HttpTarget, Reply
from tests.unit.engine.harness import (
    API_KEY,
    CRM_KEY,
    HEADER_SECRET,
    INPUT,
    PLAIN_HTTP,
    api_key_credential,
    http_credential,
    output,
    run,
    workflow,
)


def _node(
    connection: str | None = None, config: dict[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    node: dict[str, Any] = {"id": "call", "type": "http", "config": config or {}, **fields}
    if connection is not None:
        node["connection"] = {"connection_id": connection}
    return node


def test_request_merges_connection_then_node_then_input(target: HttpTarget) -> None:
    # Given an http connection with a method, headers, params and data, a node adding to and overriding
    # them (but the connection's own headers), and run input overriding again through the node's
    # headers/params/body inputs
    target.respond("/v1/items/7", Reply(body={"saved": True}))
    credential = http_credential(
        target,
        method="PUT",
        headers={"X-Conn": HEADER_SECRET},
        params={"a": "conn", "b": "conn"},
        data={"one": "conn", "two": "conn"},
    )
    node = _node(
        PLAIN_HTTP,
        {
            "method": "POST",
            "path": "/v1/items/{{ item }}",
            "headers": {"x-shared": "node", "X-Node": "{{ item }}", "X-Kept": "node"},
            "params": {"b": "node", "c": "$.input.question"},
            "body": {"two": "node", "three": "node"},
        },
        inputs={
            "item": 7,
            "headers": {"X-Input": "input", "X-SHARED": "input"},
            "params": "$.input.extra_params",
            "body": {"three": "input"},
        },
    )
    fields = [{"name": "question"}, {"name": "extra_params", "type": "object"}]
    definition = workflow(
        {"id": "in", "type": "input", "fields": fields}, node, output(status="$.call.output.status")
    )

    # When it runs
    result, _ = run(definition, {"question": "q?", "extra_params": {"c": "input"}}, credentials=[credential])

    # Then each part was merged key by key, the most specific layer winning
    assert result.status == "completed", result.error
    assert result.output == {"status": 200}
    [request] = target.requests_to("/v1/items/7")
    assert request.method == "POST"
    assert request.query == {"a": ["conn"], "b": ["node"], "c": ["input"]}
    assert request.headers["x-conn"] == HEADER_SECRET
    assert request.headers["x-shared"] == "input"
    assert request.headers["x-kept"] == "node"
    assert request.headers["x-node"] == "7"
    assert request.headers["x-input"] == "input"
    assert request.json() == {"one": "conn", "two": "node", "three": "input"}


def test_the_connection_method_applies_when_the_node_sets_none(target: HttpTarget) -> None:
    # Given a connection whose method is DELETE and a node without one
    target.respond("/x", Reply(body={}))
    definition = workflow(INPUT, _node(PLAIN_HTTP, {"path": "/x"}), output(s="$.call.output.status"))

    # When it runs
    run(definition, credentials=[http_credential(target, method="DELETE")])

    # Then the request used it
    assert [request.method for request in target.requests_to("/x")] == ["DELETE"]


def test_an_api_key_connection_sends_a_bearer_header(target: HttpTarget) -> None:
    # Given an http_api_key connection with the default header and scheme
    target.respond("/contacts", Reply(body={"items": []}))
    definition = workflow(INPUT, _node(API_KEY, {"path": "/contacts"}), output(b="$.call.output.body"))

    # When it runs
    result, _ = run(definition, credentials=[api_key_credential(target)])

    # Then the key went as "Authorization: Bearer <key>", and the output has the documented shape
    assert result.output == {"b": {"items": []}}
    assert target.requests_to("/contacts")[0].headers["authorization"] == f"Bearer {CRM_KEY}"
    call = result.nodes["call"].output
    assert call["status"] == 200
    assert call["headers"]["content-type"] == "application/json"
    assert all(name == name.lower() for name in call["headers"])


def test_an_api_key_connection_can_name_its_header_and_scheme(target: HttpTarget) -> None:
    # Given a connection that sends its key in X-Api-Key with no scheme
    target.respond("/contacts", Reply(body={}))
    credential = api_key_credential(target, header="X-Api-Key", scheme="")
    definition = workflow(INPUT, _node(API_KEY, {"path": "/contacts"}), output(b="$.call.output.body"))

    # When it runs
    run(definition, credentials=[credential])

    # Then that header carries the bare key, and there is no Authorization header
    [request] = target.requests_to("/contacts")
    assert request.headers["x-api-key"] == CRM_KEY
    assert "authorization" not in request.headers


def test_401_and_403_through_a_connection_mark_it_unauthorized(target: HttpTarget) -> None:
    for status in (401, 403):
        # Given a target that rejects the connection's key
        target.respond("/contacts", Reply(status=status, body={"error": "bad key"}))
        definition = workflow(INPUT, _node(API_KEY, {"path": "/contacts"}), output(b="$.call.output"))

        # When it runs
        result, _ = run(definition, credentials=[api_key_credential(target)])

        # Then the node failed as connection_unauthorized and the failure is reported for the link
        error = result.nodes["call"].error
        assert error is not None
        assert error.type == "connection_unauthorized"
        assert error.details == {"credential_key": f"connection:{API_KEY}", "status_code": status}
        assert result.status == "failed"
        assert [(f.node_id, f.credential_key, f.status_code) for f in result.authorization_failures] == [
            ("call", f"connection:{API_KEY}", status)
        ]


def test_other_statuses_fail_with_http_error_unless_listed_as_success(target: HttpTarget) -> None:
    # Given a 404 target, a node with default success codes and one that accepts 404
    target.respond("/missing", Reply(status=404, text="not here"))
    url = f"{target.url}/missing"
    strict = workflow(INPUT, _node(None, {"url": url}), output(b="$.call.output"))
    lenient = workflow(
        INPUT, _node(None, {"url": url, "success_codes": [200, 404]}), output(b="$.call.output")
    )

    # When both run
    failed, _ = run(strict)
    accepted, _ = run(lenient)

    # Then the first fails with the status (no AuthorizationFailure without a connection) and the second
    # returns the text body
    error = failed.nodes["call"].error
    assert error is not None
    assert error.type == "http_error"
    assert error.details == {"status_code": 404, "body": "not here"}
    assert failed.authorization_failures == []
    assert accepted.output == {
        "b": {"status": 404, "headers": accepted.output["b"]["headers"], "body": "not here"}
    }


def test_response_formats(target: HttpTarget) -> None:
    # Given a JSON payload served as text/plain
    target.respond("/data", Reply(text='{"n": 1}'))
    url = f"{target.url}/data"

    def body(response_format: str) -> Any:
        node = _node(None, {"url": url, "response_format": response_format})
        result, _ = run(workflow(INPUT, node, output(b="$.call.output.body")))
        return result.output["b"] if result.output else result.nodes["call"].error

    # When it is read as auto, text and json
    # Then auto follows the Content-Type, json parses anyway, text keeps the text
    assert body("auto") == '{"n": 1}'
    assert body("text") == '{"n": 1}'
    assert body("json") == {"n": 1}


def test_invalid_json_fails_with_invalid_response(target: HttpTarget) -> None:
    # Given a target answering non-JSON to a node that expects JSON
    target.respond("/html", Reply(text="<html>"))
    node = _node(None, {"url": f"{target.url}/html", "response_format": "json"})

    # When it runs
    result, _ = run(workflow(INPUT, node, output(b="$.call.output")))

    # Then the node failed with invalid_response
    assert result.nodes["call"].error is not None
    assert result.nodes["call"].error.type == "invalid_response"


def test_a_path_cannot_leave_the_connections_origin(target: HttpTarget) -> None:
    # Given a path taken from run input that tries to turn the host into userinfo
    fields = [{"name": "path"}]
    node = _node(API_KEY, {"path": "$.input.path"})
    definition = workflow({"id": "in", "type": "input", "fields": fields}, node, output(b="$.call.output"))

    # When it runs
    result, _ = run(definition, {"path": "@evil.example/steal"}, credentials=[api_key_credential(target)])

    # Then no request left with the key: the path was kept on the connection's host
    assert all(request.path.startswith("/@evil.example") for request in target.requests)
    assert result.nodes["call"].error is not None
    assert result.nodes["call"].error.type == "http_error"


def test_a_missing_credential_fails_the_node_without_a_request(target: HttpTarget) -> None:
    # Given a node bound to a connection whose credential was not resolved
    definition = workflow(INPUT, _node(API_KEY, {"path": "/x"}), output(b="$.call.output"))

    # When it runs without credentials
    result, _ = run(definition)

    # Then it failed with missing_credential and nothing was sent
    assert result.nodes["call"].error is not None
    assert result.nodes["call"].error.type == "missing_credential"
    assert target.requests == []


def test_a_url_from_run_input_must_be_absolute_http() -> None:
    # Given a node without a connection whose url is taken from run input
    node = _node(None, {"url": "$.input.url"})
    fields = [{"name": "url"}]
    definition = workflow({"id": "in", "type": "input", "fields": fields}, node, output(b="$.call.output"))

    # When the input is not an http(s) URL
    result, _ = run(definition, {"url": "file:///etc/passwd"})

    # Then the node fails with invalid_url before any request
    assert result.nodes["call"].error is not None
    assert result.nodes["call"].error.type == "invalid_url"


def test_each_request_has_its_own_client_on_the_shared_ssl_context(
    target: HttpTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a target that sets a cookie, two requests to it one after the other, and a spy on the clients
    target.respond("/a", Reply(body={}, headers={"Set-Cookie": "session=first-caller"}))
    built: list[tuple[httpx.Client, dict[str, Any]]] = []
    real = httpx.Client

    def spy(**options: Any) -> httpx.Client:
        client = real(**options)
        built.append((client, options))
        return client

    monkeypatch.setattr(httpx, "Client", spy)
    first = _node(config={"url": f"{target.url}/a"}) | {"id": "first"}
    second = _node(config={"url": f"{target.url}/a"}) | {"id": "second", "depends": ["first"]}
    definition = workflow(INPUT, first, second, output(s="$.second.output.status"))

    # When it runs
    result, _ = run(definition)

    # Then each request had its own client (no cookie of the first reached the second), through the egress
    # guard, without redirects or proxies from the environment, and both used the process's one SSL context
    assert result.output == {"s": 200}
    assert len(built) == 2
    assert built[0][0] is not built[1][0]
    assert "cookie" not in target.requests_to("/a")[1].headers
    for _, options in built:
        assert isinstance(options["transport"], GuardedTransport)
        assert options["transport"].ssl_context is http_ssl_context()
        assert options["trust_env"] is False
        assert options["follow_redirects"] is False
