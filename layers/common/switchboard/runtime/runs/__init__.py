"""Runs: one lifecycle, one package.

A run is created by ``creation.create`` (every entry point: direct invoke, the runs API, sessions,
triggers), started by ``starting`` (its durable execution, named after it: sync requests wait a bounded time,
background runs go through the run queue), executed by the executor's durable ``program`` (checkpointed
node by node, waits for human input with no compute), and ended by ``ending.end_run``, the one end of every
terminal path (completed, failed, canceled, deadline, interruption, input timeout). ``cancel`` and
``answers`` are what a caller does to a running run, ``ownership`` which caller may; the ``sweeper``
finishes what nothing else will; ``queries``, ``events`` and ``streams`` are how a run is read;
``artifacts`` keeps its big values in S3; ``idempotency`` makes its creation happen once per key;
``requesting`` is what the two routes that create a run ask: the option rules, the start, the answer.

The names below are the package's face; each loads its module on first use, so a function importing one
never loads the package's other modules. (No name of the face is the name of a module of the package: an
imported module would shadow it.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchboard.runtime import lazy_face

if TYPE_CHECKING:
    from switchboard.runtime.runs.answers import answer
    from switchboard.runtime.runs.canceling import cancel
    from switchboard.runtime.runs.creation import RunRequest, create
    from switchboard.runtime.runs.dispatch import (
        QueueBatch,
        QueueMessage,
        SweepRequest,
        handle_invocation,
        handle_message,
        handle_record,
        handle_sweep,
    )
    from switchboard.runtime.runs.ending import end_run
    from switchboard.runtime.runs.idempotency import REPLAYED_HEADER, Outcome, StoredResponse
    from switchboard.runtime.runs.inputs import deployed_input_schema
    from switchboard.runtime.runs.ownership import RUN_TOKEN_HEADER, caller_run
    from switchboard.runtime.runs.program import run_program
    from switchboard.runtime.runs.queries import (
        list_events,
        list_runs,
        list_traces,
        run_deliveries,
        run_of_app,
        trace,
        view,
    )
    from switchboard.runtime.runs.requesting import Answer, Caller, Invocation, NewRun, create_run, invoke
    from switchboard.runtime.runs.starting import (
        StartMode,
        enqueue,
        failure_of,
        launch,
        start,
        start_execution,
        wait,
    )
    from switchboard.runtime.runs.streams import OPENAPI_EVENT_STREAM
    from switchboard.runtime.runs.sweeper import sweep
    from switchboard.runtime.runs.uploads import (
        MAX_FILES,
        MAX_UPLOAD_BYTES,
        MULTIPART,
        FileReference,
        check_upload_size,
        media_type,
    )

_HOMES = {
    "answer": "answers",
    "cancel": "canceling",
    "RunRequest": "creation",
    "create": "creation",
    "QueueBatch": "dispatch",
    "QueueMessage": "dispatch",
    "SweepRequest": "dispatch",
    "handle_invocation": "dispatch",
    "handle_message": "dispatch",
    "handle_record": "dispatch",
    "handle_sweep": "dispatch",
    "end_run": "ending",
    "Outcome": "idempotency",
    "REPLAYED_HEADER": "idempotency",
    "StoredResponse": "idempotency",
    "deployed_input_schema": "inputs",
    "RUN_TOKEN_HEADER": "ownership",
    "caller_run": "ownership",
    "run_program": "program",
    "list_events": "queries",
    "list_runs": "queries",
    "list_traces": "queries",
    "run_deliveries": "queries",
    "run_of_app": "queries",
    "trace": "queries",
    "view": "queries",
    "Answer": "requesting",
    "Caller": "requesting",
    "Invocation": "requesting",
    "NewRun": "requesting",
    "create_run": "requesting",
    "invoke": "requesting",
    "StartMode": "starting",
    "enqueue": "starting",
    "failure_of": "starting",
    "launch": "starting",
    "start": "starting",
    "start_execution": "starting",
    "wait": "starting",
    "OPENAPI_EVENT_STREAM": "streams",
    "sweep": "sweeper",
    "FileReference": "uploads",
    "MAX_FILES": "uploads",
    "MAX_UPLOAD_BYTES": "uploads",
    "MULTIPART": "uploads",
    "check_upload_size": "uploads",
    "media_type": "uploads",
}

__all__ = [
    "MAX_FILES",
    "MAX_UPLOAD_BYTES",
    "MULTIPART",
    "OPENAPI_EVENT_STREAM",
    "REPLAYED_HEADER",
    "RUN_TOKEN_HEADER",
    "Answer",
    "Caller",
    "FileReference",
    "Invocation",
    "NewRun",
    "Outcome",
    "QueueBatch",
    "QueueMessage",
    "RunRequest",
    "StartMode",
    "StoredResponse",
    "SweepRequest",
    "answer",
    "caller_run",
    "cancel",
    "check_upload_size",
    "create",
    "create_run",
    "deployed_input_schema",
    "end_run",
    "enqueue",
    "failure_of",
    "handle_invocation",
    "handle_message",
    "handle_record",
    "handle_sweep",
    "invoke",
    "launch",
    "list_events",
    "list_runs",
    "list_traces",
    "media_type",
    "run_deliveries",
    "run_of_app",
    "run_program",
    "start",
    "start_execution",
    "sweep",
    "trace",
    "view",
    "wait",
]

__getattr__ = lazy_face(__name__, _HOMES)
