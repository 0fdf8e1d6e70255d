"""``switchboard local fire <trigger_id>``: fire a schedule trigger of the running local stack now.

Only the running server holds the (in-memory) data, so the command posts to its loopback-only control route
``POST /_local/triggers/<trigger_id>/fire`` with the control token kept in the state file, the way
``switchboard admin bootstrap --local-url`` does. The server fires the trigger's schedule at once, as
Scheduler would, and answers the event the trigger function recorded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from switchboard_cli.admin import post_to_local_stack
from switchboard_cli.local.stack import CONTROL_FIRE_PATH

_TRIGGER_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class FireError(Exception):
    """The trigger was not fired; the message says why, for a person."""


def fire_on_local(local_url: str, state_file: Path, trigger_id: str) -> dict[str, Any]:
    """The event the trigger function recorded for the firing."""
    if not local_url.startswith(("http://", "https://")):
        raise FireError(f"--url must be an http(s) URL, not {local_url!r}")
    if not _TRIGGER_ID.match(trigger_id):
        raise FireError(f"{trigger_id!r} is not a trigger id (trg-…)")
    body = post_to_local_stack(
        local_url, state_file, CONTROL_FIRE_PATH.format(trigger_id=trigger_id), {}, FireError
    )
    event: dict[str, Any] = body["data"]
    return event


def render(event: dict[str, Any], as_json: bool) -> str:
    if as_json:
        return json.dumps(event)
    lines = [f"Event {event['id']} of trigger {event['trigger_id']}: {event['status']}"]
    if event.get("run_id"):
        lines.append(f"  run     {event['run_id']}")
    if event.get("reason"):
        lines.append(f"  reason  {event['reason']}")
    lines.append(f"  at      {event['received_at']}")
    return "\n".join(lines)
