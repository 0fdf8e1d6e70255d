"""A connection owns its routing and auth headers (``engine.owned_headers``): with a connection, neither node
config nor run input (nor so an agent's model, through tool inputs) can set ``Host``, its auth header, its own
headers, ``Cookie``, forwarding, proxy or hop-by-hop headers. A referenced attempt fails the node with
``header_not_allowed`` before anything is sent; ordinary headers still pass."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.fakes import Completion, FakeOpenAI, HttpTarget, Reply
from tests.unit.engine.harness import (
    API_KEY,
    CRM_KEY,
    HEADER_SECRET,
    OPENAI,
    PLAIN_HTTP,
    api_key_credential,
    http_credential,
    openai_credential,
    output,
    run,
    serialized,
    workflow,
)

HEADERS_INPUT = {"id": "in", "type": "input", "fields": [{"name": "headers", "type": "object"}]}


def _call(connection: str) -> dict[str, Any]:
    return {
        "id": "call",
        "type": "http",
        "connection": {"connection_id": connection},
        "config": {"path": "/contacts"},
        "inputs": {"headers": "$.input.headers"},
    }


def test_a_host_from_the_run_input_never_reaches_the_target(target: HttpTarget) -> None:
    # Given an api-key connection to the target, and a workflow mapping the run input's headers onto its node
    target.respond("/contacts", Reply(body={"items": []}))
    definition = workflow(HEADERS_INPUT, _call(API_KEY), output(s="$.call.output.status"))

    # When the caller sets Host (to steer the key to a virtual host of their choosing)
    result, sink = run(
        definition, {"headers": {"Host": "attacker.example"}}, credentials=[api_key_credential(target)]
    )

    # Then the node failed header_not_allowed, naming the header, and the target received nothing
    assert result.status == "failed"
    error = result.nodes["call"].error
    assert error is not None
    assert (error.type, error.details) == ("header_not_allowed", {"header": "Host"})
    assert target.requests == []
    assert CRM_KEY not in serialized(result, sink)


@pytest.mark.parametrize(
    "name",
    [
        "authorization",
        "Cookie",
        "Forwarded",
        "X-Forwarded-Host",
        "X-Forwarded-For",
        "Proxy-Authorization",
        "Connection",
        "Transfer-Encoding",
        "X-Api-Key",
    ],
)
def test_headers_the_connection_owns_cannot_come_from_the_run_input(target: HttpTarget, name: str) -> None:
    # Given an api-key connection that sends its key in X-Api-Key
    target.respond("/contacts", Reply(body={}))
    definition = workflow(HEADERS_INPUT, _call(API_KEY), output(s="$.call.output.status"))
    credential = api_key_credential(target, header="X-Api-Key", scheme="")

    # When the run input tries to set one of the headers the connection owns
    result, _ = run(definition, {"headers": {name: "mine"}}, credentials=[credential])

    # Then the node fails before sending
    error = result.nodes["call"].error
    assert error is not None
    assert error.type == "header_not_allowed"
    assert target.requests == []


def test_an_http_connection_owns_the_headers_it_sets(target: HttpTarget) -> None:
    # Given an http connection that sends a secret X-Conn header
    target.respond("/contacts", Reply(body={}))
    definition = workflow(HEADERS_INPUT, _call(PLAIN_HTTP), output(s="$.call.output.status"))
    credential = http_credential(target, headers={"X-Conn": HEADER_SECRET})

    # When the run input tries to replace it / Then the node fails and nothing is sent
    result, _ = run(definition, {"headers": {"x-conn": "other"}}, credentials=[credential])
    error = result.nodes["call"].error
    assert error is not None
    assert error.type == "header_not_allowed"
    assert target.requests == []


def test_ordinary_headers_from_the_run_input_still_pass_next_to_the_connection_key(
    target: HttpTarget,
) -> None:
    # Given the same api-key connection and workflow
    target.respond("/contacts", Reply(body={"items": []}))
    definition = workflow(HEADERS_INPUT, _call(API_KEY), output(s="$.call.output.status"))

    # When the run input sets headers the connection does not own
    result, _ = run(
        definition,
        {"headers": {"X-Request-Id": "req-7", "Accept-Language": "fr"}},
        credentials=[api_key_credential(target)],
    )

    # Then they were sent, with the connection's own key and Host
    assert result.status == "completed", result.error
    assert result.output == {"s": 200}
    [request] = target.requests_to("/contacts")
    assert request.headers["x-request-id"] == "req-7"
    assert request.headers["accept-language"] == "fr"
    assert request.headers["authorization"] == f"Bearer {CRM_KEY}"
    assert request.headers["host"] == target.url.removeprefix("http://")


def test_without_a_connection_the_node_may_set_authorization_itself(target: HttpTarget) -> None:
    # Given a node without a connection (no credential of the platform's to protect)
    target.respond("/plain", Reply(body={}))
    node = {
        "id": "call",
        "type": "http",
        "config": {"url": f"{target.url}/plain"},
        "inputs": {"headers": "$.input.headers"},
    }
    definition = workflow(HEADERS_INPUT, node, output(s="$.call.output.status"))

    # When the run input sets Authorization / Then it is sent as given
    result, _ = run(definition, {"headers": {"Authorization": "Token caller-own"}})
    assert result.status == "completed", result.error
    assert target.requests_to("/plain")[0].headers["authorization"] == "Token caller-own"


def test_a_model_cannot_set_host_through_a_tool_call(llm: FakeOpenAI, target: HttpTarget) -> None:
    # Given an agent whose tool is an http node on the api-key connection, taking headers from its arguments,
    # and a model (prompt-injected) that asks for a Host of its choosing
    target.respond("/contacts", Reply(body={"items": []}))
    llm.script(
        Completion(tool_calls=[{"name": "crm", "arguments": {"headers": {"Host": "attacker.example"}}}]),
        Completion(content="done"),
    )
    agent = {
        "id": "agent",
        "type": "agent",
        "connection": {"connection_id": OPENAI},
        "config": {"model": "gpt-test", "instructions": "Help.", "tools": ["crm"]},
    }
    tool = {
        "id": "crm",
        "type": "http",
        "description": "Look up contacts",
        "connection": {"connection_id": API_KEY},
        "inputs": {"headers": {}},
        "config": {"path": "/contacts"},
        "error_handling": {"behavior": "return"},
    }
    definition = workflow(HEADERS_INPUT, agent, tool, output(a="$.agent.output.content"))

    # When it runs
    result, _ = run(
        definition, {"headers": {}}, credentials=[openai_credential(llm), api_key_credential(target)]
    )

    # Then the tool call failed header_not_allowed (the model saw the error), and the CRM received nothing
    assert result.output == {"a": "done"}
    tool_message = llm.bodies()[1]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert '"type": "header_not_allowed"' in tool_message["content"]
    assert target.requests == []
