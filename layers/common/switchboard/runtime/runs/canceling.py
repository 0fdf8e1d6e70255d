"""Cancelling a run, truthfully, whatever its state.

- ``created``: it ends ``canceled`` at once (``ending.end_run``); an execution that starts it later finds it
  ended and does nothing.
- ``started``: the request is recorded; the executor reads it at its next checkpoint (before the next node,
  LLM request, tool call or retry; at most a second while one runs), and ends the run ``canceled``. A
  request already in flight finishes first (within its node's ``timeout_seconds``).
- ``awaiting_input``: its open input requests are answered with a cancellation, which wakes the execution up
  at once, and it ends the run ``canceled``.
- ended: nothing changes.

Each way there is exactly one ``run.canceled`` event, the run's terminal one. The answer is the run as it is
now (still ``started`` while the executor gets to its checkpoint).
"""

from __future__ import annotations

from switchboard.domain.ids import utcnow
from switchboard.domain.runs import TERMINAL, Run, RunStatus
from switchboard.invoker import CallbackClosed, get_invoker
from switchboard.observability import logger
from switchboard.runtime.runs.ending import end_run
from switchboard.runtime.runs.program_contract import CANCELED_CALLBACK
from switchboard.runtime.runs.queries import run_of_app
from switchboard.store import runs


def cancel(app_id: str, run_id: str) -> Run:
    run = run_of_app(app_id, run_id)
    if run.status in TERMINAL:
        return run
    requested = runs.request_cancel(run.id, utcnow())
    if requested is None:
        return run_of_app(app_id, run_id)
    if requested.status is RunStatus.created:
        return end_run(requested, RunStatus.canceled, from_statuses={RunStatus.created})
    if requested.status is RunStatus.awaiting_input:
        wake_up(requested, CANCELED_CALLBACK, "the run was canceled")
    return requested


def wake_up(run: Run, error_type: str, message: str) -> None:
    """Fail the run's open input requests' callbacks with ``error_type``: its execution resumes."""
    for request in run.input_requests.values():
        if request.get("state") != "open" or not request.get("callback_id"):
            continue
        try:
            get_invoker().fail_callback(str(request["callback_id"]), error_type, message)
        except CallbackClosed:
            logger.info(
                "an input request had already closed", extra={"run_id": run.id, "request": request["id"]}
            )
