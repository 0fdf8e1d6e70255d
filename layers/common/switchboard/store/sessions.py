"""Session turns: what each completed run of a session was asked and answered, oldest first."""

from __future__ import annotations

from typing import Any

from switchboard.domain.runs import Run
from switchboard.store import keys
from switchboard.store.runs import runs_table
from switchboard.store.table import put_op

MAX_TURNS = 50


def record_turn(run: Run, output: Any) -> None:
    assert run.session_id is not None
    item = {
        **keys.session_turn(run.app_id, run.session_id, run.created_at, run.id),
        "run_id": run.id,
        "user_id": run.user_id,
        "input": run.input,
        "output": output,
        "expires_at": run.expires_at,
    }
    runs_table().write(put_op(runs_table().name, item))


def turns(app_id: str, session_id: str) -> list[dict[str, Any]]:
    partition, prefix = keys.session_turns_prefix(app_id, session_id)
    page = runs_table().query(partition, prefix=prefix, limit=MAX_TURNS, newest_first=True)
    return list(reversed(page.items))
