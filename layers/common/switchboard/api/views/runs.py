"""What the Apps API and the management API show of runs, events, traces and sessions.

Never shown: a run's callbacks (they may carry bearer tokens), its org/project bookkeeping, or anything the
trace redacted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from switchboard.domain.base import Model
from switchboard.domain.runs import Run, RunEvent, RunStatus


class NodeResultOut(Model):
    status: str = Field(description="completed, failed, skipped or canceled")
    output: Any = None
    error: dict[str, Any] | None = None


class InputRequestOut(Model):
    id: str = Field(description="The request's id (its human_input node's id): answer with it as request_id")
    type: Literal["approval", "feedback"]
    prompt: str
    params: dict[str, Any] = Field(default_factory=dict)
    editable_params: list[str] = Field(default_factory=list)
    state: Literal["open", "answered", "expired", "canceled"] = Field(
        description="open: waiting for POST /v1/runs/{id}/input; then how it closed"
    )
    timeout_seconds: int
    requested_at: datetime | None = None
    answered_at: datetime | None = None
    answered_by: str | None = None

    @classmethod
    def of(cls, request: dict[str, Any]) -> InputRequestOut:
        return cls.model_validate(
            {name: value for name, value in request.items() if name in cls.model_fields}
        )


class RunOut(Model):
    id: str
    app_id: str
    status: RunStatus
    input: dict[str, Any]
    output: Any = Field(
        description="The output node's value; on direct invoke, the per-node map unless last_node_output"
    )
    nodes: dict[str, Any] | None = Field(
        description="Per node: {status, output, error} (see NodeResultOut); null before the run ends"
    )
    error: dict[str, Any] | None
    user_id: str | None
    session_id: str | None
    version: int = Field(description="The workflow version the run is pinned to")
    mode: Literal["sync", "background"]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    cancel_requested_at: datetime | None = Field(
        description="Set once cancellation was requested; the run ends canceled at its next checkpoint"
    )
    usage: dict[str, int] = Field(description="Token usage summed over the run's LLM requests")
    deadline_at: datetime | None = Field(
        default=None,
        description="When the run must have ended: its creation plus the App's run_timeout_seconds",
    )
    input_requests: list[InputRequestOut] = Field(
        default_factory=list, description="Human input requests: the open ones while awaiting_input"
    )

    @classmethod
    def of(cls, run: Run) -> RunOut:
        return cls(
            id=run.id,
            app_id=run.app_id,
            status=run.status,
            input=run.input,
            output=run.output,
            nodes=run.nodes,
            error=run.error,
            user_id=run.user_id,
            session_id=run.session_id,
            version=run.version,
            mode=run.mode,
            created_at=run.created_at,
            started_at=run.started_at,
            ended_at=run.ended_at,
            cancel_requested_at=run.cancel_requested_at,
            usage=run.usage,
            deadline_at=run.deadline_at,
            input_requests=[InputRequestOut.of(request) for request in run.input_requests.values()],
        )

    @classmethod
    def invoked(cls, run: Run, last_node_output: bool) -> RunOut:
        """The direct-invoke shape: ``output`` is the per-node map, or the output node's value."""
        view = cls.of(run)
        return view if last_node_output else view.model_copy(update={"output": run.nodes or {}})


class AcceptedOut(Model):
    id: str = Field(description="The run's ID: poll GET /v1/runs/{id}")
    status: Literal["accepted"] = "accepted"


class EventOut(Model):
    id: str
    type: str
    sequence: int = Field(description="1, 2, 3 … in emit order; pass the last one as after_sequence")
    timestamp: datetime
    data: dict[str, Any]

    @classmethod
    def of(cls, event: RunEvent, data: dict[str, Any] | None = None) -> EventOut:
        """``data``: the event's data as shown (big parts referenced with download URLs)."""
        shown = event.data if data is None else data
        return cls(
            id=event.id, type=event.type, sequence=event.sequence, timestamp=event.timestamp, data=shown
        )


class TraceSummaryOut(Model):
    id: str = Field(description="The trace's ID: its run's ID")
    run_id: str
    status: RunStatus
    started_at: datetime | None
    ended_at: datetime | None
    input: dict[str, Any]
    output: Any
    usage: dict[str, int] = Field(description="Token usage")

    @classmethod
    def of(cls, run: Run) -> TraceSummaryOut:
        return cls(
            id=run.id,
            run_id=run.id,
            status=run.status,
            started_at=run.started_at,
            ended_at=run.ended_at,
            input=run.input,
            output=run.output,
            usage=run.usage,
        )


class SpanOut(Model):
    id: str
    parent_id: str | None
    kind: str = Field(description="run, node, attempt, agent_loop, tool_call or llm_request")
    name: str
    status: str
    started_at: datetime
    ended_at: datetime | None = None
    inputs: Any = None
    outputs: Any = None
    error: dict[str, Any] | None = None
    usage: dict[str, int] | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    children: list[SpanOut] = Field(default_factory=list)


class CredentialResolutionOut(Model):
    reference: str = Field(description="connection:<id> or requirement:<id>")
    kind: str = Field(description="connection or link")
    id: str = Field(description="The connection's or the end user's link's ID")
    secret_version: str | None
    status: str = Field(description="active, or expired: the OAuth link's grant was gone (link.expired)")
    cached: bool = False
    refreshed: bool = Field(
        default=False, description="An OAuth access token was refreshed for the run (never its value)"
    )


class TraceOut(TraceSummaryOut):
    version: int
    spans: list[SpanOut] = Field(description="The span tree: root spans with their children")
    credential_resolutions: list[CredentialResolutionOut]

    @classmethod
    def of_trace(cls, run: Run, document: dict[str, Any] | None) -> TraceOut:
        document = document or {}
        return cls(
            **TraceSummaryOut.of(run).model_dump(),
            version=run.version,
            spans=span_tree(document.get("spans") or []),
            credential_resolutions=[
                CredentialResolutionOut.model_validate(record)
                for record in document.get("credential_resolutions") or []
            ],
        )


def span_tree(spans: list[dict[str, Any]]) -> list[SpanOut]:
    """Nest flat spans under their parents, keeping each level in start order; orphans become roots."""
    nodes = {span["id"]: SpanOut.model_validate({**span, "children": []}) for span in spans}
    roots: list[SpanOut] = []
    for span in sorted(nodes.values(), key=lambda s: s.started_at):
        parent = nodes.get(span.parent_id) if span.parent_id else None
        (parent.children if parent is not None and parent is not span else roots).append(span)
    return roots


class SessionOut(Model):
    id: str
    user_id: str | None = Field(description="The owner: the user_id of the session's first run")
    active_run_id: str | None = Field(description="The unfinished run using the session, if any")
    run_count: int
    created_at: datetime
    last_run_at: datetime

    @classmethod
    def of(cls, item: dict[str, Any]) -> SessionOut:
        return cls(
            id=item["session_id"],
            user_id=item.get("owner") or None,
            active_run_id=item.get("active_run_id"),
            run_count=int(item.get("run_count", 0)),
            created_at=item["created_at"],
            last_run_at=item["last_run_at"],
        )


class MessageOut(Model):
    run_id: str
    role: Literal["user", "assistant"] = Field(description="user: the run's input; assistant: its output")
    content: Any = Field(description="The run input, or the run output, as JSON")
    created_at: datetime
