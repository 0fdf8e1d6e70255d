"""``human_input``: the run asks a person, waits, and goes on with their answer.

The node builds its request (``{id, type, prompt, params, editable_params, timeout_seconds}``: the prompt
rendered with the node's inputs, the params resolved), hands it to the driver's ``ask`` (the executor waits
on a durable callback, with no compute while it waits) and turns the answer into its output:

- approval ``{"type": "approval", "data": {"request_id", "approved": bool, "params"?: {...}}}`` →
  ``{"approved", "params"}``: the request's params with the edits applied (only ``editable_params`` may
  change);
- feedback ``{"type": "feedback", "data": {"request_id", "feedback": "..."}}`` → ``{"feedback"}``.

A rejected approval completes the node (``approved: false``), for a choice to act on. An unanswered request
fails the node with ``input_timeout`` when its time is up; that failure follows the node's error handling.
The request id is the node's id: a run asks each node's question once.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from switchboard.domain.errors import problem, validation_details
from switchboard.engine.bounded import pool
from switchboard.engine.contracts import Span
from switchboard.engine.drivers import Ask
from switchboard.engine.errors import Canceled, StepError
from switchboard.engine.mapping import materialize
from switchboard.engine.node_work import conclude, start_node
from switchboard.engine.nodes import HumanInputNode
from switchboard.engine.records import NodeRecord
from switchboard.engine.references import is_reference
from switchboard.engine.steps import Outcome, Services
from switchboard.engine.steps.base import timeout_error

MAX_FEEDBACK = 10_000


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    request_id: str = Field(min_length=1, max_length=64)


class ApprovalData(_Answer):
    approved: bool
    params: dict[str, Any] | None = Field(default=None, description="Edited values of editable_params")


class FeedbackData(_Answer):
    feedback: str = Field(min_length=1, max_length=MAX_FEEDBACK)


class InputAnswer(BaseModel):
    """What ``POST /v1/runs/{id}/input`` takes."""

    model_config = ConfigDict(extra="forbid", strict=True)

    type: Literal["approval", "feedback"]
    data: dict[str, Any]


class AnswerRefused(ValueError):
    """The answer does not fit the request; ``details`` name each problem (never the values)."""

    def __init__(self, message: str, details: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.details = details


def checked_answer(request: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """The answer as the node's output, or ``AnswerRefused``: the type must be the request's, the data
    must fit it, and only editable params may change."""
    try:
        parsed = InputAnswer.model_validate(answer)
    except ValidationError as error:
        raise _refused(error) from None
    if parsed.type != request["type"]:
        raise AnswerRefused(
            f"this request asks for {request['type']}",
            [problem(["type"], "wrong_type", f"expected {request['type']}")],
        )
    if parsed.type == "feedback":
        try:
            feedback = FeedbackData.model_validate(parsed.data)
        except ValidationError as error:
            raise _refused(error, ("data",)) from None
        return {"feedback": feedback.feedback}
    try:
        approval = ApprovalData.model_validate(parsed.data)
    except ValidationError as error:
        raise _refused(error, ("data",)) from None
    edits = approval.params or {}
    locked = sorted(set(edits) - set(request.get("editable_params") or []))
    if locked:
        details = [
            problem(["data", "params", name], "not_editable", "this param cannot be edited")
            for name in locked
        ]
        raise AnswerRefused("only editable_params may be changed", details)
    return {"approved": approval.approved, "params": {**(request.get("params") or {}), **edits}}


def _refused(error: ValidationError, prefix: tuple[str, ...] = ()) -> AnswerRefused:
    return AnswerRefused("the answer does not fit the request", validation_details(error, prefix=prefix))


def build_request(services: Services, node: HumanInputNode) -> dict[str, Any]:
    inputs = materialize(dict(node.inputs), services.state)
    config = node.config
    prompt = (
        services.state.resolve(config.prompt)
        if is_reference(config.prompt)
        else _render(node, config.prompt, inputs)
    )
    request: dict[str, Any] = services.redactor.value(
        {
            "id": node.id,
            "type": config.kind,
            "prompt": prompt if isinstance(prompt, str) else str(prompt),
            "params": materialize(dict(config.params), services.state),
            "editable_params": list(config.editable_params),
            "timeout_seconds": config.timeout_seconds,
        }
    )
    return request


def _render(node: HumanInputNode, prompt: str, inputs: dict[str, Any]) -> str:
    """The prompt rendered as a bounded task, within the node's ``timeout_seconds`` (``engine.bounded``)."""
    deadline = time.monotonic() + node.error_handling.timeout_seconds
    payload = {"source": prompt, "variables": inputs, "max_bytes": node.max_value_bytes}
    try:
        rendered: str = pool.compute("render", payload, deadline)
    except pool.TimedOut:
        raise timeout_error(node) from None
    return rendered


def run_human_input(
    services: Services, node: HumanInputNode, parent: Span, ask: Ask, *, interrupted: int = 0
) -> NodeRecord:
    span = start_node(services, node, parent, announce=interrupted == 0)
    try:
        request = build_request(services, node)
        services.tracer.annotate(span, {"input.request_id": request["id"], "input.type": request["type"]})
        services.check_canceled()
        answer = ask(request)
        output = checked_answer(request, answer)
        services.events.emit(
            "input.received", {"node_id": node.id, "request_id": request["id"], "type": request["type"]}
        )
        outcome = Outcome("completed", output=services.redactor.value(output))
    except StepError as error:
        outcome = Outcome("failed", error=error.node_error())
    except AnswerRefused as refused:
        outcome = Outcome(
            "failed",
            error=StepError("invalid_answer", str(refused), {"problems": refused.details}).node_error(),
        )
    except Canceled:
        outcome = Outcome("canceled")
    return conclude(services, node, span, outcome)
