"""``agent``: a tool-calling loop over an ``openai`` connection.

Messages: the rendered ``instructions`` as the system message, the session history, then the agent's
inputs as one user message (a single input as its own text, several as a JSON object, none: no message).
Each tool is a node: its name is the node id, its description the node's, and each of its ``inputs``
is a parameter (a literal value is the default; ``null`` or a reference makes the parameter required
and typeless). A call runs the tool node with its own ``error_handling``; if it still fails, ``return``
hands the failure envelope to the model and ``raise`` fails the agent (``tool_failed``). A call to an
unknown tool or with arguments that are not a JSON object is answered with an error, for the model to fix.
Every model turn counts against ``max_loops``; a turn that still asks for tools on the last loop fails
the agent with ``max_loops_exceeded``. Cancellation is checked before every LLM request and tool call.
"""

from __future__ import annotations

import json
from typing import Any

from switchboard.engine.contracts import NodeError, Span
from switchboard.engine.errors import Canceled, StepError
from switchboard.engine.nodes import AgentNode, StepNode
from switchboard.engine.references import is_reference
from switchboard.engine.steps.base import Outcome, StepContext, failure_envelope
from switchboard.engine.steps.llm import ToolCall, chat, with_history
from switchboard.engine.tracing import error_data

_SCHEMA_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def run_agent(step: StepContext, node: AgentNode) -> dict[str, Any]:
    instructions = step.materialize(node.config.instructions, templated=True)
    messages = with_history([{"role": "system", "content": str(instructions)}], step.services.history)
    messages += _user_message(step.inputs)
    tools = {tool_id: step.services.nodes[tool_id] for tool_id in node.config.tools}
    schemas = [tool_schema(tool) for tool in tools.values() if isinstance(tool, StepNode)]
    steps: list[dict[str, Any]] = []
    usage: dict[str, int] = {}
    for loop in range(1, node.config.max_loops + 1):
        span = step.child_span("agent_loop", f"{node.id} loop {loop}", attributes={"agent.loop": loop})
        try:
            completion = chat(step, span, model=node.config.model, messages=messages, tools=schemas or None)
            for name, count in completion.usage.items():
                usage[name] = usage.get(name, 0) + count
            if not completion.tool_calls:
                step.services.tracer.end(span, "completed", outputs={"content": completion.content})
                return {"content": completion.content, "steps": steps, "usage": usage}
            if loop == node.config.max_loops:
                raise StepError(
                    "max_loops_exceeded",
                    f"the agent still called tools after {loop} model turns (max_loops)",
                    {"max_loops": loop},
                )
            messages.append(_assistant_turn(completion.content, completion.tool_calls))
            for call in completion.tool_calls:
                record, answer = _call_tool(step, span, tools, call)
                steps.append({"loop": loop, **record})
                messages.append({"role": "tool", "tool_call_id": call.id, "content": _as_text(answer)})
        except StepError as error:
            step.services.tracer.end(span, "failed", error=error.node_error())
            raise
        except Canceled:
            step.services.tracer.end(span, "canceled")
            raise
        step.services.tracer.end(
            span, "completed", attributes={"agent.tool_calls": len(completion.tool_calls)}
        )
    raise AssertionError("unreachable: the last loop returns or raises")


def tool_schema(tool: StepNode) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, default in tool.inputs.items():
        if default is None or is_reference(default):
            properties[name] = {}
            required.append(name)
            continue
        kind = next(json_type for python_type, json_type in _SCHEMA_TYPES if isinstance(default, python_type))
        properties[name] = {"type": kind, "default": default}
    return {
        "type": "function",
        "function": {
            "name": tool.id,
            "description": tool.description or f"the '{tool.id}' {tool.type} step",
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


def _call_tool(
    step: StepContext, parent: Span, tools: dict[str, Any], call: ToolCall
) -> tuple[dict[str, Any], Any]:
    """Run one requested call: its record for the agent's ``steps``, and the answer for the model."""
    step.services.check_canceled()
    arguments = _arguments(call.arguments)
    shown_arguments = arguments if arguments is not None else call.arguments
    event = {"node_id": step.owner_id, "tool": call.name, "call_id": call.id}
    step.emit("agent.tool_call.started", {**event, "arguments": shown_arguments})
    span = step.services.tracer.start(
        "tool_call",
        call.name,
        parent,
        inputs=shown_arguments,
        attributes={"tool.name": call.name, "tool.call_id": call.id},
    )
    tool = tools.get(call.name)
    if not isinstance(tool, StepNode):
        outcome = Outcome("failed", error=NodeError("unknown_tool", f"there is no tool named '{call.name}'"))
    elif arguments is None:
        outcome = Outcome(
            "failed", error=NodeError("invalid_tool_arguments", "arguments must be a JSON object")
        )
    else:
        outcome = step.services.run_tool(step, tool, arguments, span)
    step.services.tracer.end(span, outcome.status, outputs=outcome.output, error=outcome.error)
    record: dict[str, Any] = {"tool": call.name, "call_id": call.id, "arguments": shown_arguments}
    record["status"] = outcome.status
    if outcome.status == "completed":
        record["output"] = outcome.output
    elif outcome.error is not None:
        record["error"] = error_data(outcome.error)
    step.emit("agent.tool_call.completed", {**event, **{k: v for k, v in record.items() if k != "arguments"}})
    if outcome.status == "canceled":
        raise Canceled
    if outcome.error is None:
        return record, outcome.output
    if isinstance(tool, StepNode) and tool.error_handling.behavior == "raise":
        raise StepError(
            "tool_failed",
            f"tool '{call.name}' failed: {outcome.error.message}",
            {"tool": call.name, "error": error_data(outcome.error)},
            retryable=False,
        )
    return record, failure_envelope(outcome.error)


def _arguments(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _user_message(inputs: dict[str, Any]) -> list[dict[str, Any]]:
    if not inputs:
        return []
    content = next(iter(inputs.values())) if len(inputs) == 1 else inputs
    return [{"role": "user", "content": _as_text(content)}]


def _assistant_turn(content: str | None, calls: list[ToolCall]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": content,
        "tool_calls": [
            {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
            for call in calls
        ],
    }


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
