"""The llm step: rendered messages, session history, usage, streaming deltas, provider errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from switchboard.engine.contracts import Credential
from switchboard.engine.steps import llm as llm_step
from switchboard.engine.steps import outbound
from switchboard.engine.steps.outbound import GuardedTransport
from switchboard.engine.steps.tls import http_ssl_context
from tests.support.fakes import Completion, FakeOpenAI
from tests.unit.engine.harness import OPENAI, OPENAI_KEY, openai_credential, output, run, spans_of, workflow

INPUT = {"id": "in", "type": "input", "fields": [{"name": "question"}]}
HISTORY = [
    {"role": "user", "content": "earlier question"},
    {"role": "assistant", "content": "earlier answer"},
]


def _llm(**config: Any) -> dict[str, Any]:
    return {
        "id": "ask",
        "type": "llm",
        "connection": {"connection_id": OPENAI},
        "inputs": {"question": "$.input.question"},
        "config": {
            "model": "gpt-test",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Q: {{ question }}"},
            ],
            **config,
        },
    }


def test_a_completion_uses_the_connection_history_and_rendered_messages(llm: FakeOpenAI) -> None:
    # Given a scripted answer and a session with two earlier turns
    llm.script(Completion(content="Forty-two."))
    definition = workflow(INPUT, _llm(temperature=0.2, max_tokens=50), output(answer="$.ask.output.content"))

    # When the run asks the model
    result, _ = run(
        definition, {"question": "meaning?"}, credentials=[openai_credential(llm)], history=HISTORY
    )

    # Then the request carried the key, the history after the system message, and the rendered question
    assert result.status == "completed", result.error
    assert result.output == {"answer": "Forty-two."}
    [request] = llm.requests
    assert request.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    body = request.json()
    assert body["model"] == "gpt-test"
    assert body["temperature"] == 0.2
    assert body["max_tokens"] == 50
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        *HISTORY,
        {"role": "user", "content": "Q: meaning?"},
    ]


def test_the_output_and_usage_are_recorded(llm: FakeOpenAI) -> None:
    # Given a scripted answer with known usage
    usage = {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25}
    llm.script(Completion(content="ok", usage=usage))
    definition = workflow(INPUT, _llm(), output(answer="$.ask.output.content"))

    # When it runs
    result, _ = run(definition, {"question": "q"}, credentials=[openai_credential(llm)])

    # Then the node output has the documented fields, and usage is on the span and summed on the run
    assert result.nodes["ask"].output == {
        "content": "ok",
        "finish_reason": "stop",
        "usage": usage,
        "model": "gpt-test",
    }
    [request_span] = spans_of(result, "llm_request")
    assert request_span.usage == usage
    assert request_span.attributes["llm.model"] == "gpt-test"
    assert result.usage == usage


def test_streaming_emits_each_delta_and_still_reports_usage(llm: FakeOpenAI) -> None:
    # Given a streamed answer in three deltas
    usage = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
    llm.script(Completion(content="Hello brave world", deltas=["Hello", " brave", " world"], usage=usage))
    definition = workflow(INPUT, _llm(stream=True), output(answer="$.ask.output.content"))

    # When it runs
    result, sink = run(definition, {"question": "q"}, credentials=[openai_credential(llm)])

    # Then each delta was an llm.delta event between the node's start and completion, and usage arrived
    assert result.output == {"answer": "Hello brave world"}
    assert sink.of("llm.delta") == [
        {"node_id": "ask", "delta": "Hello"},
        {"node_id": "ask", "delta": " brave"},
        {"node_id": "ask", "delta": " world"},
    ]
    types = sink.types()
    assert types.index("llm.delta") > types.index("node.started")
    assert max(i for i, kind in enumerate(types) if kind == "llm.delta") < types.index("run.completed")
    assert llm.bodies()[0]["stream_options"] == {"include_usage": True}
    assert result.usage == usage
    assert result.nodes["ask"].output["finish_reason"] == "stop"


def test_a_provider_error_fails_with_llm_error_and_is_retried(llm: FakeOpenAI) -> None:
    # Given a provider that fails once with 500, then answers
    llm.script(Completion(status=500, message="overloaded"), Completion(content="fine"))
    definition = workflow(
        INPUT, _llm() | {"error_handling": {"retries": 1}}, output(a="$.ask.output.content")
    )

    # When it runs
    result, sink = run(definition, {"question": "q"}, credentials=[openai_credential(llm)])

    # Then the first attempt failed with llm_error and the retry succeeded
    assert result.output == {"a": "fine"}
    [retrying] = sink.of("node.retrying")
    assert retrying["error"]["type"] == "llm_error"
    assert retrying["error"]["details"] == {"status_code": 500}
    assert len(llm.requests) == 2


def test_a_rejected_key_marks_the_connection_unauthorized(llm: FakeOpenAI) -> None:
    # Given a provider that rejects the key (quoting part of it, as real providers do)
    llm.script(Completion(status=401, message=f"Incorrect API key provided: {OPENAI_KEY[:8]}***"))
    definition = workflow(INPUT, _llm() | {"error_handling": {"retries": 2}}, output(a="$.ask.output"))

    # When it runs
    result, _ = run(definition, {"question": "q"}, credentials=[openai_credential(llm)])

    # Then it failed once (no retry), as connection_unauthorized, without the provider's message
    error = result.nodes["ask"].error
    assert error is not None
    assert error.type == "connection_unauthorized"
    assert error.details == {"credential_key": f"connection:{OPENAI}", "status_code": 401}
    assert OPENAI_KEY[:8] not in error.message
    assert len(llm.requests) == 1
    assert [f.credential_key for f in result.authorization_failures] == [f"connection:{OPENAI}"]


def test_a_slow_provider_times_out(llm: FakeOpenAI) -> None:
    # Given a provider that answers after the node's 1 s timeout
    llm.script(Completion(content="late", delay_ms=2500))
    definition = workflow(
        INPUT, _llm() | {"error_handling": {"timeout_seconds": 1}}, output(a="$.ask.output")
    )

    # When it runs
    result, _ = run(definition, {"question": "q"}, credentials=[openai_credential(llm)])

    # Then the node failed with timeout
    assert result.nodes["ask"].error is not None
    assert result.nodes["ask"].error.type == "timeout"


def test_each_connection_sends_its_own_key_on_the_shared_ssl_context(
    llm: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given two parallel llm nodes on two connections (the project's and an end user's), and a spy on the
    # HTTP clients the SDK is given
    other_key = "sk-test-end-user-SECRET-9876543210"
    llm.script(Completion(content="one"), Completion(content="two"))
    built: list[httpx.Client] = []
    real = outbound.guarded_client

    def spy(*args: Any, **options: Any) -> httpx.Client:
        client = real(*args, **options)
        built.append(client)
        return client

    monkeypatch.setattr(llm_step, "guarded_client", spy)
    requirement = {
        "id": "mine",
        "name": "Mine",
        "connection_type": "openai",
        "title": "Your OpenAI key",
    }
    definition = workflow(
        INPUT,
        _llm(),
        _llm() | {"id": "ask_mine", "connection": {"requirement": "mine"}},
        output(a="$.ask.output.content", b="$.ask_mine.output.content"),
        requirements=[requirement],
    )
    mine = Credential(
        "requirement:mine", "openai", {"api_key": other_key, "base_url": llm.base_url}, (other_key,)
    )

    # When it runs
    result, _ = run(definition, {"question": "q"}, credentials=[openai_credential(llm), mine])

    # Then each request carried its own connection's key, through its own client, on one SSL context,
    # through the egress guard, following no redirect and no proxy from the environment
    assert result.status == "completed", result.error
    keys = sorted(request.headers["authorization"] for request in llm.requests)
    assert keys == sorted([f"Bearer {OPENAI_KEY}", f"Bearer {other_key}"])
    assert len(built) == 2
    assert built[0] is not built[1]
    for client in built:
        assert isinstance(client._transport, GuardedTransport)
        assert client._transport.ssl_context is http_ssl_context()
        assert (client.trust_env, client.follow_redirects) == (False, False)
