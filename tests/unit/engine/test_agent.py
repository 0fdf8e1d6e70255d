"""The agent step: the tool-calling loop, tool schemas, history, max_loops, tool failures, its trace."""

from __future__ import annotations

from typing import Any

from tests.support.fakes import Completion, FakeOpenAI, HttpTarget, Reply
from tests.unit.engine.harness import OPENAI, openai_credential, output, run, spans_of, workflow

INPUT = {"id": "in", "type": "input", "fields": [{"name": "question"}]}


def _agent(tools: list[str], **config: Any) -> dict[str, Any]:
    return {
        "id": "agent",
        "type": "agent",
        "connection": {"connection_id": OPENAI},
        "inputs": {"question": "$.input.question"},
        "config": {
            "model": "gpt-test",
            "instructions": "Help with: {{ question }}",
            "tools": tools,
            **config,
        },
    }


def _search(target: HttpTarget, **fields: Any) -> dict[str, Any]:
    return {
        "id": "search",
        "type": "http",
        "description": "Search the catalog",
        "inputs": {"q": None, "limit": 3},
        "config": {"url": f"{target.url}/search", "params": {"q": "{{ q }}", "limit": "{{ limit }}"}},
        **fields,
    }


TOP = {
    "id": "top",
    "type": "transform",
    "description": "The first two items",
    "inputs": {"items": []},
    "config": {"jmespath": "items[:2]"},
}


def test_the_agent_calls_http_and_transform_tools_until_it_answers(
    llm: FakeOpenAI, target: HttpTarget
) -> None:
    # Given a model that calls search, then top, then answers; and a session history
    target.respond("/search", Reply(body={"items": ["a", "b", "c"]}))
    llm.script(
        Completion(tool_calls=[{"name": "search", "arguments": {"q": "lamps"}}]),
        Completion(tool_calls=[{"name": "top", "arguments": {"items": ["a", "b", "c"]}}]),
        Completion(content="Try a or b."),
    )
    history = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    definition = workflow(INPUT, _agent(["search", "top"]), _search(target), TOP, output(a="$.agent.output"))

    # When it runs
    result, sink = run(
        definition, {"question": "lamps?"}, credentials=[openai_credential(llm)], history=history
    )

    # Then the tools ran with the model's arguments (definition values as defaults) and the answer is out
    assert result.status == "completed", result.error
    answer = result.output["a"] if result.output else {}
    assert answer["content"] == "Try a or b."
    assert [(step["loop"], step["tool"], step["status"]) for step in answer["steps"]] == [
        (1, "search", "completed"),
        (2, "top", "completed"),
    ]
    assert answer["steps"][1]["output"] == ["a", "b"]
    assert target.requests_to("/search")[0].query == {"q": ["lamps"], "limit": ["3"]}
    assert result.nodes["search"].status == result.nodes["top"].status == "skipped"

    # And the model saw the instructions, the history, the input, the tools and each result
    first, _, last = llm.bodies()
    assert first["messages"] == [
        {"role": "system", "content": "Help with: lamps?"},
        *history,
        {"role": "user", "content": "lamps?"},
    ]
    assert {tool["function"]["name"]: tool["function"] for tool in first["tools"]}["search"] == {
        "name": "search",
        "description": "Search the catalog",
        "parameters": {
            "type": "object",
            "properties": {"q": {}, "limit": {"type": "integer", "default": 3}},
            "required": ["q"],
        },
    }
    tool_messages = [message for message in last["messages"] if message["role"] == "tool"]
    assert '"items": ["a", "b", "c"]' in tool_messages[0]["content"]
    assert tool_messages[1]["content"] == '["a", "b"]'

    # And each call was reported as events and spans under the loop that made it
    assert [(e["tool"], e["status"]) for e in sink.of("agent.tool_call.completed")] == [
        ("search", "completed"),
        ("top", "completed"),
    ]
    assert sink.of("agent.tool_call.started")[0]["arguments"] == {"q": "lamps"}
    loops = spans_of(result, "agent_loop")
    assert len(loops) == 3
    [search_call] = spans_of(result, "tool_call", "search")
    assert search_call.parent_id == loops[0].id
    assert len(spans_of(result, "llm_request")) == 3
    assert result.usage["total_tokens"] == 3 * 18


def test_max_loops_stops_an_agent_that_keeps_calling_tools(llm: FakeOpenAI) -> None:
    # Given a model that only ever calls tools, and max_loops 2
    call = Completion(tool_calls=[{"name": "top", "arguments": {}}])
    llm.script(call, call, call)
    definition = workflow(INPUT, _agent(["top"], max_loops=2), TOP, output(a="$.agent.output"))

    # When it runs
    result, _ = run(definition, {"question": "q"}, credentials=[openai_credential(llm)])

    # Then it made two model turns and failed with max_loops_exceeded
    error = result.nodes["agent"].error
    assert error is not None
    assert error.type == "max_loops_exceeded"
    assert len(llm.requests) == 2
    assert result.status == "failed"


def test_a_failing_tool_with_return_lets_the_model_see_the_error(llm: FakeOpenAI, target: HttpTarget) -> None:
    # Given a search tool (behavior return) whose target fails
    target.respond("/search", Reply(status=500, body={}))
    llm.script(
        Completion(tool_calls=[{"name": "search", "arguments": {"q": "x"}}]), Completion(content="Sorry.")
    )
    tool = _search(target, error_handling={"behavior": "return"})
    definition = workflow(INPUT, _agent(["search"]), tool, output(a="$.agent.output.content"))

    # When it runs
    result, _ = run(definition, {"question": "q"}, credentials=[openai_credential(llm)])

    # Then the model received the failure envelope and the agent completed
    assert result.output == {"a": "Sorry."}
    tool_message = llm.bodies()[1]["messages"][-1]
    assert tool_message["role"] == "tool"
    assert '"type": "http_error"' in tool_message["content"]


def test_a_failing_tool_with_raise_fails_the_agent(llm: FakeOpenAI, target: HttpTarget) -> None:
    # Given a search tool with the default behavior (raise) whose target fails
    target.respond("/search", Reply(status=500, body={}))
    llm.script(Completion(tool_calls=[{"name": "search", "arguments": {"q": "x"}}]))
    definition = workflow(INPUT, _agent(["search"]), _search(target), output(a="$.agent.output"))

    # When it runs
    result, _ = run(definition, {"question": "q"}, credentials=[openai_credential(llm)])

    # Then the agent failed with tool_failed naming the tool
    error = result.nodes["agent"].error
    assert error is not None
    assert error.type == "tool_failed"
    assert error.details is not None
    assert error.details["tool"] == "search"


def test_an_unknown_tool_or_bad_arguments_are_answered_for_the_model_to_fix(llm: FakeOpenAI) -> None:
    # Given a model that calls a tool that does not exist, then answers
    llm.script(Completion(tool_calls=[{"name": "nope", "arguments": {}}]), Completion(content="done"))
    definition = workflow(INPUT, _agent(["top"]), TOP, output(a="$.agent.output"))

    # When it runs
    result, _ = run(definition, {"question": "q"}, credentials=[openai_credential(llm)])

    # Then the agent completed; the model was told the tool is unknown
    assert result.output is not None
    assert result.output["a"]["content"] == "done"
    assert result.output["a"]["steps"][0]["error"]["type"] == "unknown_tool"
    assert "unknown_tool" in llm.bodies()[1]["messages"][-1]["content"]
