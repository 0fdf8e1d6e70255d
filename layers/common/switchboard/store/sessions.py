"""Sessions and their turns, in the runs table.

A session item (``SESSION#<app>#<session>``/``SESSION``) records its owner (the ``user_id`` of its first run,
empty for anonymous runs) and the run currently using it. A run joins a session in the same transaction that
creates the run, on condition that the session is new, or has the same owner and no active run; the executor
clears ``active_run_id`` when that run finishes. Turns (``TURN#<created>#<run>``) hold what each completed
run was asked and answered, oldest first.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from switchboard.domain.errors import Conflict
from switchboard.domain.ids import iso, utcnow
from switchboard.domain.runs import Run
from switchboard.store import keys
from switchboard.store.runs import create_op, runs_table
from switchboard.store.table import Item, Page, put_op, update_op

MAX_TURNS = 50
MAX_TURN_VALUE_BYTES = 150_000

_JOIN = (
    "SET app_id = :app, session_id = :session, #owner = if_not_exists(#owner, :owner), "
    "created_at = if_not_exists(created_at, :now), active_run_id = :run, last_run_id = :run, "
    "last_run_at = :now, expires_at = :expires, gsi1pk = :gsi1pk, gsi1sk = :gsi1sk ADD run_count :one"
)
_JOINABLE = "attribute_not_exists(pk) OR (#owner = :owner AND attribute_not_exists(active_run_id))"


def owner_of(run: Run) -> str:
    return run.user_id or ""


def create_run_in_session(run: Run) -> None:
    """Create the run and make it the session's active run, atomically. Conflict when the session belongs
    to another user or already has an active run (the caller reads the session to tell which)."""
    assert run.session_id is not None
    table = runs_table().name
    index = keys.listing_index(keys.app_sessions(run.app_id), run.created_at, run.session_id)
    values: Item = {
        ":app": run.app_id,
        ":session": run.session_id,
        ":owner": owner_of(run),
        ":now": iso(run.created_at),
        ":run": run.id,
        ":expires": run.expires_at,
        ":gsi1pk": index["gsi1pk"],
        ":gsi1sk": index["gsi1sk"],
        ":one": 1,
    }
    runs_table().transact(
        [
            create_op(run),
            update_op(table, keys.session(run.app_id, run.session_id), _JOIN, _JOINABLE, values),
        ],
        "the session is not available",
    )


def get_session(app_id: str, session_id: str) -> Item | None:
    return runs_table().get(keys.session(app_id, session_id))


def clear_active_run(app_id: str, session_id: str, run_id: str, at: datetime) -> bool:
    """Free the session if ``run_id`` is its active run; False when it was not."""
    try:
        runs_table().write(
            update_op(
                runs_table().name,
                keys.session(app_id, session_id),
                "REMOVE active_run_id SET last_ended_at = :at",
                "active_run_id = :run",
                {":run": run_id, ":at": iso(at)},
            )
        )
    except Conflict:
        return False
    return True


def list_sessions(app_id: str, limit: int, next_token: str | None) -> Page:
    return runs_table().query(
        keys.app_sessions(app_id), index=keys.GSI1, limit=limit, next_token=next_token, newest_first=True
    )


def record_turn(run: Run, output: Any) -> None:
    assert run.session_id is not None
    item = {
        **keys.session_turn(run.app_id, run.session_id, run.created_at, run.id),
        "run_id": run.id,
        "user_id": run.user_id,
        "input": _bounded(run.input),
        "output": _bounded(output),
        "created_at": iso(run.created_at),
        "answered_at": iso(utcnow()),
        "expires_at": run.expires_at,
    }
    runs_table().write(put_op(runs_table().name, item))


def _bounded(value: Any) -> Any:
    """Keep a turn under DynamoDB's item size; the run record and its events keep the full values."""
    size = len(json.dumps(value, default=str).encode())
    return value if size <= MAX_TURN_VALUE_BYTES else {"truncated": True, "bytes": size}


def turns(app_id: str, session_id: str) -> list[dict[str, Any]]:
    """The latest turns, oldest first: the history an agent or LLM node gets."""
    partition, prefix = keys.session_turns_prefix(app_id, session_id)
    page = runs_table().query(partition, prefix=prefix, limit=MAX_TURNS, newest_first=True)
    return list(reversed(page.items))


def turns_page(app_id: str, session_id: str, limit: int, next_token: str | None) -> Page:
    """Every turn, oldest first, a page at a time."""
    partition, prefix = keys.session_turns_prefix(app_id, session_id)
    return runs_table().query(partition, prefix=prefix, limit=limit, next_token=next_token)
