"""Sessions: runs that share a ``session_id`` form a conversation.

A session belongs to the ``user_id`` of its first run (another user → 403 ``session_forbidden``) and runs one
run at a time (a second while one is unfinished → 409 ``session_busy``). Each completed run adds a turn; agent
and LLM nodes get the earlier turns as history.
"""

from __future__ import annotations

import uuid
from typing import Any

from switchboard.api.views.runs import MessageOut, SessionOut
from switchboard.domain.errors import BadRequest, Conflict, Forbidden, NotFound
from switchboard.domain.ids import utcnow
from switchboard.domain.runs import TERMINAL, Run
from switchboard.store import keys, runs, sessions


def canonical_id(session_id: str) -> str:
    """A session ID is a UUID, compared in its canonical lower-case form; anything else is 400."""
    try:
        return str(uuid.UUID(session_id))
    except ValueError:
        raise BadRequest("session_id must be a UUID", code="invalid_session_id") from None


def create_run(run: Run) -> None:
    """Store a new run; when it names a session, it joins the session in the same transaction."""
    if run.session_id is None:
        runs.create_run(run)
        return
    for attempt in range(2):
        try:
            sessions.create_run_in_session(run)
            return
        except Conflict:
            if not _freed_stale_session(run, repair=attempt == 0):
                raise
    raise Conflict("the session has an unfinished run", code="session_busy")


def _freed_stale_session(run: Run, *, repair: bool) -> bool:
    """Explain why the run could not join its session; True when a stale active run was cleared (retry)."""
    assert run.session_id is not None
    session = sessions.get_session(run.app_id, run.session_id)
    if session is None:
        return repair
    if session.get("owner", "") != sessions.owner_of(run):
        raise Forbidden("the session belongs to another user", code="session_forbidden")
    active_id = session.get("active_run_id")
    if active_id and repair:
        # A run that ended without freeing its session (its executor stopped in between) does not block it.
        active = runs.get_run(str(active_id))
        if active is None or active.status in TERMINAL:
            sessions.clear_active_run(run.app_id, run.session_id, str(active_id), utcnow())
            return True
    raise Conflict(
        "the session has an unfinished run", code="session_busy", details={"active_run_id": active_id}
    )


def run_finished(run: Run) -> Run:
    """Free the run's session (a no-op for runs outside a session, or when it is not the active run)."""
    if run.session_id is not None:
        sessions.clear_active_run(run.app_id, run.session_id, run.id, run.ended_at or utcnow())
    return run


def list_sessions(app_id: str, limit: int, next_token: str | None) -> tuple[list[SessionOut], str | None]:
    page = sessions.list_sessions(app_id, limit, next_token)
    return [SessionOut.of(item) for item in page.items], page.next_token


def messages(
    app_id: str, session_id: str, limit: int, next_token: str | None
) -> tuple[list[MessageOut], str | None]:
    """The session's turns as messages, oldest first: each turn is the user's input and the answer."""
    session_id = canonical_id(session_id)
    if sessions.get_session(app_id, session_id) is None:
        raise NotFound("session not found")
    page = sessions.turns_page(app_id, session_id, limit, next_token)
    found: list[MessageOut] = []
    for turn in page.items:
        # ISO text, which the model parses
        asked: Any = turn.get("created_at") or keys.session_turn_created_at(turn["sk"])
        found.append(
            MessageOut(run_id=turn["run_id"], role="user", content=turn.get("input"), created_at=asked)
        )
        found.append(
            MessageOut(
                run_id=turn["run_id"],
                role="assistant",
                content=turn.get("output"),
                created_at=turn.get("answered_at") or asked,
            )
        )
    return found, page.next_token
