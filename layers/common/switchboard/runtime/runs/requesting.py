"""A caller's request for a new run, as the two routes that create one ask it: ``POST /v1/runs``
(``create_run``) and the direct invoke ``POST /`` (``invoke``). Each checks the request's options, starts the
run once per ``Idempotency-Key`` (``idempotency``) and decides the answer:

- 200 with the run once it has ended, 202 with it and ``Location`` while it has not (a sync run longer than
  the App's ``sync_wait_seconds``, a background run); a replay answers with the run as it is then;
- a streamed run: its stream from the first event (the route opens it; a replay streams only a run the
  caller may read);
- an async invoke: 202 ``{id, status: accepted}``; an invoke with ``error_on_node_failure`` whose run has a
  failed node: that error.

An anonymous caller's new run gets a run token; the first answer about it carries the token, once
(``Answer.run_token``); no replay does (it is not kept).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from switchboard.api.views.runs import AcceptedOut
from switchboard.auth import tokens
from switchboard.auth.principal import Principal
from switchboard.auth.tokens import IssuedRunToken
from switchboard.domain.errors import BadRequest, error_document
from switchboard.domain.models import App
from switchboard.domain.runs import TERMINAL, Run, RunSource
from switchboard.runtime.runs import idempotency
from switchboard.runtime.runs.creation import RunRequest
from switchboard.runtime.runs.idempotency import Outcome, StoredResponse
from switchboard.runtime.runs.ownership import caller_run
from switchboard.runtime.runs.queries import view
from switchboard.runtime.runs.sessions import canonical_id
from switchboard.runtime.runs.starting import RemainingTime, StartMode, failure_of, start
from switchboard.runtime.runs.uploads import FileReference, UploadedFile
from switchboard.runtime.webhooks.callbacks import validate_callbacks


@dataclass(frozen=True)
class Caller:
    """Who asks for the run, and how their request is answered."""

    principal: Principal | None
    run_token: str | None = field(default=None, repr=False)
    """The ``X-Run-Token`` sent: what lets an anonymous caller's retry read the run it replays."""
    idempotency_key: str | None = None
    runs_url: str = "/v1/runs"
    """Where the App's runs are polled, in the addressing form the request used (path or host)."""
    remaining: RemainingTime | None = None
    """The request's Lambda context: a sync wait never outlasts it."""


@dataclass(frozen=True)
class NewRun:
    """The options of ``POST /v1/runs``."""

    input: dict[str, Any]
    user_id: str | None = None
    session_id: str | None = None
    background: bool = False
    stream: bool = False


@dataclass(frozen=True)
class Invocation:
    """The options of a direct invoke (``POST /``)."""

    input: dict[str, Any]
    user_id: str | None = None
    stream: bool = False
    asynchronous: bool = False
    """``execution_mode: async``."""
    last_node_output: bool = False
    error_on_node_failure: bool = False
    files: Sequence[FileReference] = ()
    callbacks: Any = None
    """The callbacks as sent (``None``: none asked)."""
    uploads: Sequence[UploadedFile] = ()
    form_input: bool = False
    """The input came as multipart form fields."""


@dataclass(frozen=True)
class Answer:
    """What to answer: the response (a JSON document, or a run to stream), whether it is a replay, and the new
    run's token to show once."""

    response: StoredResponse
    replayed: bool
    run_token: str | None = field(default=None, repr=False)


def create_run(app: App, new: NewRun, caller: Caller, request: Mapping[str, Any]) -> Answer:
    """``POST /v1/runs`` of ``app``; ``request``: the body as sent, what makes a retry "the same request"."""
    if new.stream and new.background:
        raise BadRequest("stream and background cannot be combined", code="invalid_options")
    session_id = canonical_id(new.session_id) if new.session_id is not None else None
    issued = _issued(caller)
    run_request = RunRequest(
        input=new.input,
        user_id=new.user_id,
        session_id=session_id,
        run_token_hash=_hash(issued),
        source=RunSource.runs_api,
    )
    key = idempotency.checked_key(caller.idempotency_key)
    how: StartMode = "stream" if new.stream else "background" if new.background else "sync"

    def answer(run: Run) -> StoredResponse:
        data = {"data": view(run).model_dump(mode="json")}
        if run.status in TERMINAL:
            return StoredResponse(200, data, run_id=run.id)
        return StoredResponse(202, data, _location(caller, run), run_id=run.id)

    def produce() -> StoredResponse:
        run = start(app, run_request, caller.principal, how, caller.remaining)
        if how == "stream":
            return StoredResponse(200, stream_run_id=run.id)
        return answer(run)

    def replayed(run_id: str) -> StoredResponse:
        return answer(caller_run(app, run_id, caller.principal, caller.run_token))

    fingerprint = idempotency.fingerprint("POST /v1/runs", request)
    return _answer(app, caller, idempotency.once(app.id, key, fingerprint, produce, replayed), issued)


def invoke(app: App, invocation: Invocation, caller: Caller, request: Mapping[str, Any]) -> Answer:
    """A direct invoke of ``app``; ``request``: what identifies it for idempotency (the body as sent, and a
    multipart request's files by digest)."""
    if invocation.asynchronous and invocation.stream:
        raise BadRequest("stream needs execution_mode sync", code="invalid_options")
    if invocation.callbacks is not None and not invocation.asynchronous:
        raise BadRequest("callbacks need execution_mode async", code="callbacks_need_async")
    callbacks = validate_callbacks(invocation.callbacks) if invocation.callbacks is not None else None
    issued = _issued(caller)
    run_request = RunRequest(
        input=invocation.input,
        user_id=invocation.user_id,
        callbacks=[callback.stored() for callback in callbacks] if callbacks is not None else None,
        uploads=invocation.uploads,
        files=invocation.files,
        form_input=invocation.form_input,
        run_token_hash=_hash(issued),
    )
    key = idempotency.checked_key(caller.idempotency_key)
    how: StartMode = "stream" if invocation.stream else "background" if invocation.asynchronous else "sync"

    def shown(run: Run) -> dict[str, Any]:
        seen = view(run, invoked=True, last_node_output=invocation.last_node_output)
        return {"data": seen.model_dump(mode="json")}

    def answer(run: Run) -> StoredResponse:
        if run.status not in TERMINAL:
            return StoredResponse(202, shown(run), _location(caller, run), run_id=run.id)
        failure = failure_of(run) if invocation.error_on_node_failure else None
        if failure is not None:
            return StoredResponse(failure.status, error_document(failure))
        return StoredResponse(200, shown(run), run_id=run.id)

    def produce() -> StoredResponse:
        run = start(app, run_request, caller.principal, how, caller.remaining)
        if how == "stream":
            return StoredResponse(200, stream_run_id=run.id)
        if how == "background":
            accepted = {"data": AcceptedOut(id=run.id).model_dump(mode="json")}
            return StoredResponse(202, accepted, _location(caller, run))
        return answer(run)

    def replayed(run_id: str) -> StoredResponse:
        return answer(caller_run(app, run_id, caller.principal, caller.run_token))

    fingerprint = idempotency.fingerprint("POST /", request)
    return _answer(app, caller, idempotency.once(app.id, key, fingerprint, produce, replayed), issued)


def _issued(caller: Caller) -> IssuedRunToken | None:
    """A run token for the run an anonymous caller creates (its hash goes on the run); None with a key."""
    return tokens.issue_run_token() if caller.principal is None else None


def _hash(issued: IssuedRunToken | None) -> str | None:
    return issued.token_hash if issued is not None else None


def _location(caller: Caller, run: Run) -> dict[str, str]:
    return {"Location": f"{caller.runs_url}/{run.id}"}


def _answer(app: App, caller: Caller, outcome: Outcome, issued: IssuedRunToken | None) -> Answer:
    streamed = outcome.response.stream_run_id
    if outcome.replayed and streamed is not None:
        # A replayed stream starts nothing: it streams a run only to a caller who may read it.
        caller_run(app, streamed, caller.principal, caller.run_token)
    shown = issued.token if issued is not None and not outcome.replayed else None
    return Answer(outcome.response, outcome.replayed, shown)
