"""Answering a run's human input request: ``POST /v1/runs/{id}/input``.

The run must be ``awaiting_input`` (409 ``run_not_awaiting_input`` otherwise), the request open (422
``unknown_input_request`` for an id the run does not wait on) and the answer must fit it (422 with
details: ``engine.human_input.checked_answer``). The answer goes to the waiting execution's callback, which
wakes it up; two answers to one request race there, and the second is 409 ``input_closed``. The request
then records who answered and when, and a run with no other open request is ``started`` again.
"""

from __future__ import annotations

from typing import Any

from switchboard.domain.errors import Conflict, ValidationFailed, problem
from switchboard.domain.ids import utcnow
from switchboard.domain.runs import Run, RunStatus
from switchboard.engine.human_input import AnswerRefused, checked_answer
from switchboard.invoker import get_invoker
from switchboard.runtime.runs.queries import run_of_app
from switchboard.store import runs


def answer(app_id: str, run_id: str, document: dict[str, Any], by: str) -> Run:
    run = run_of_app(app_id, run_id)
    if run.status is not RunStatus.awaiting_input:
        raise Conflict(
            f"the run is {run.status.value}, not awaiting input",
            code="run_not_awaiting_input",
            details={"status": run.status.value},
        )
    data = document.get("data")
    request_id = data.get("request_id") if isinstance(data, dict) else None
    request = run.input_requests.get(request_id) if isinstance(request_id, str) else None
    if request is None or request.get("state") != "open":
        raise ValidationFailed(
            "the run does not wait on that input request",
            code="unknown_input_request",
            details=[problem(["data", "request_id"], "unknown_input_request", "not open")],
        )
    try:
        checked_answer(request, document)
    except AnswerRefused as refused:
        raise ValidationFailed(str(refused), details=refused.details) from None
    get_invoker().complete_callback(str(request["callback_id"]), document)
    others_open = any(
        other.get("state") == "open"
        for other_id, other in run.input_requests.items()
        if other_id != request_id
    )
    try:
        return runs.answer_input_request(run.id, str(request_id), utcnow(), by, last=not others_open)
    except Conflict:
        return run_of_app(app_id, run_id)
