"""``llm``: one chat completion through an ``openai`` connection (any OpenAI-compatible endpoint).

Messages are rendered with the node's inputs. In the DAG, the session history goes between the leading
system messages and the node's other messages; called as an agent's tool, the node sees no history (it
is a function of its arguments). With ``stream``, each content delta is emitted as ``llm.delta``.
Retries are the engine's (``max_retries=0``), and the client's timeout is the attempt's remaining time.
Each request has its own client (the key, base URL and cookie jar of one connection never serve another's
request): the guarded client of ``steps.outbound``, so the connection's ``base_url`` must pass the egress
guard (else ``egress_blocked``) and is connected to at the address that was checked.

The ``openai`` SDK is imported by the first LLM request, not with the engine: it is about half of the
executor's cold import, and a run without ``llm`` or ``agent`` nodes never needs it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from switchboard.egress import EgressRefused
from switchboard.engine.contracts import Credential, Span
from switchboard.engine.errors import StepError
from switchboard.engine.nodes import LlmNode
from switchboard.engine.steps.base import StepContext
from switchboard.engine.steps.outbound import blocked, guarded_client
from switchboard.engine.steps.tls import http_ssl_context

if TYPE_CHECKING:
    import openai

MAX_UPSTREAM_MESSAGE = 300


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str


@dataclass
class Completion:
    model: str
    content: str | None = None
    finish_reason: str | None = None
    usage: dict[str, int] = field(default_factory=dict)
    tool_calls: list[ToolCall] = field(default_factory=list)


def run_llm(step: StepContext, node: LlmNode) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {"role": message["role"], "content": step.materialize(message["content"], templated=True)}
        for message in node.config.model_dump()["messages"]
    ]
    if not step.as_tool:
        messages = with_history(messages, step.services.history)
    completion = chat(
        step,
        step.span,
        model=node.config.model,
        messages=messages,
        temperature=node.config.temperature,
        max_tokens=node.config.max_tokens,
        stream=node.config.stream,
    )
    return {
        "content": completion.content,
        "finish_reason": completion.finish_reason,
        "usage": completion.usage,
        "model": completion.model,
    }


def with_history(messages: list[dict[str, Any]], history: Any) -> list[dict[str, Any]]:
    leading = 0
    while leading < len(messages) and messages[leading]["role"] == "system":
        leading += 1
    earlier = [
        {"role": turn["role"], "content": turn.get("content") or ""} for turn in history if "role" in turn
    ]
    return [*messages[:leading], *earlier, *messages[leading:]]


def chat(
    step: StepContext,
    parent: Span,
    *,
    model: str,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    stream: bool = False,
) -> Completion:
    """One chat completion request, traced as an ``llm_request`` span; a cancellation checkpoint."""
    import openai

    step.services.check_canceled()
    connection = step.credential()
    if connection is None:
        raise StepError("missing_credential", f"node '{step.node.id}' has no connection", retryable=False)
    key, credential = connection
    request: dict[str, Any] = {"model": model, "messages": messages}
    if tools:
        request["tools"] = tools
    if temperature is not None:
        request["temperature"] = temperature
    if max_tokens is not None:
        request["max_tokens"] = max_tokens
    span = step.services.tracer.start(
        "llm_request",
        model,
        parent,
        inputs={"messages": messages, "tools": [tool["function"]["name"] for tool in tools or []]},
        attributes={"llm.model": model, "llm.stream": stream, "llm.messages": len(messages)},
    )
    try:
        with _client(step, credential, step.remaining()) as client:
            completion = _stream(step, client, request) if stream else _complete(client, request)
    except StepError as failed:
        step.services.tracer.end(span, "failed", error=failed.node_error())
        raise
    except (EgressRefused, openai.OpenAIError) as failure:
        error = _provider_error(step, key, failure)
        attributes = (
            {"http.status_code": failure.status_code} if isinstance(failure, openai.APIStatusError) else {}
        )
        step.services.tracer.end(span, "failed", error=error.node_error(), attributes=attributes)
        raise error from None
    step.services.tracer.end(
        span,
        "completed",
        outputs={"content": completion.content, "tool_calls": [call.name for call in completion.tool_calls]},
        usage=completion.usage,
        attributes={"llm.response_model": completion.model, "llm.finish_reason": completion.finish_reason},
    )
    return completion


def _client(step: StepContext, credential: Credential, timeout: float) -> openai.OpenAI:
    import openai

    config: Mapping[str, Any] = credential.config
    return openai.OpenAI(
        api_key=str(config.get("api_key", "")),
        base_url=str(config["base_url"]) if config.get("base_url") else None,
        organization=config.get("organization") or None,
        timeout=timeout,
        max_retries=0,
        # Closed with the OpenAI client. The SDK takes an ``httpx`` client as well as its own ``httpx2`` one
        # (openai 3 annotates only the latter), so one guarded transport serves every node.
        http_client=cast(Any, guarded_client(step.services.egress, http_ssl_context(), timeout)),
    )


def _complete(client: openai.OpenAI, request: dict[str, Any]) -> Completion:
    completions: Any = client.chat.completions
    response = completions.create(**request)
    choice = response.choices[0] if response.choices else None
    message = choice.message if choice is not None else None
    return Completion(
        model=response.model or request["model"],
        content=message.content if message is not None else None,
        finish_reason=choice.finish_reason if choice is not None else None,
        usage=_usage(response.usage),
        tool_calls=[
            ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments or "")
            for call in (message.tool_calls or [] if message is not None else [])
            if call.type == "function"
        ],
    )


def _stream(step: StepContext, client: openai.OpenAI, request: dict[str, Any]) -> Completion:
    completions: Any = client.chat.completions
    chunks = completions.create(**request, stream=True, stream_options={"include_usage": True})
    completion = Completion(model=request["model"])
    parts: list[str] = []
    try:
        for chunk in _until_deadline(step, chunks):
            completion.model = chunk.model or completion.model
            if chunk.usage is not None:
                completion.usage = _usage(chunk.usage)
            for choice in chunk.choices:
                delta = choice.delta.content if choice.delta is not None else None
                if delta:
                    parts.append(delta)
                    step.emit("llm.delta", {"node_id": step.owner_id, "delta": delta})
                completion.finish_reason = choice.finish_reason or completion.finish_reason
    finally:
        chunks.close()
    completion.content = "".join(parts)
    return completion


def _until_deadline(step: StepContext, chunks: Any) -> Iterator[Any]:
    """Each chunk read has the client's timeout; the attempt as a whole must also end on time."""
    for chunk in chunks:
        if time.monotonic() > step.deadline:
            step.remaining()
        yield chunk


def _usage(usage: Any) -> dict[str, int]:
    if usage is None:
        return {}
    names = ("prompt_tokens", "completion_tokens", "total_tokens")
    return {name: int(getattr(usage, name) or 0) for name in names}


def _provider_error(step: StepContext, key: str, failure: EgressRefused | openai.OpenAIError) -> StepError:
    import openai

    # The SDK passes the guard's refusal on as it is, or (older versions) wrapped as a connection error.
    refused = failure if isinstance(failure, EgressRefused) else failure.__cause__
    if isinstance(refused, EgressRefused):
        return blocked(refused, "the model provider request")
    if isinstance(failure, openai.APITimeoutError):
        return StepError("timeout", "the model provider did not answer within the node's timeout")
    if not isinstance(failure, openai.APIStatusError):
        return StepError("llm_error", f"the model provider request failed: {type(failure).__name__}")
    code = failure.status_code
    if code in {401, 403}:
        # The provider's own message may quote part of the key: it is not passed on.
        return step.unauthorized(key, code, "the model provider")
    detail = str(failure.message)[:MAX_UPSTREAM_MESSAGE]
    return StepError("llm_error", f"the model provider answered HTTP {code}: {detail}", {"status_code": code})
