"""``switchboard local fire <trigger_id>``: fire a schedule trigger of the running local stack now.

Only the running server holds the (in-memory) data, so the command posts to its loopback-only control route
``POST /_local/triggers/<trigger_id>/fire`` with the control token kept in the state file, the way
``switchboard admin bootstrap --local-url`` does. The server fires the trigger's schedule at once, as
Scheduler would, and answers the event the trigger function recorded.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from switchboard_cli.local.stack import CONTROL_FIRE_PATH, CONTROL_TOKEN_HEADER

_TRIGGER_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class FireError(Exception):
    """The trigger was not fired; the message says why, for a person."""


def fire_on_local(local_url: str, state_file: Path, trigger_id: str) -> dict[str, Any]:
    """The event the trigger function recorded for the firing."""
    if not local_url.startswith(("http://", "https://")):
        raise FireError(f"--url must be an http(s) URL, not {local_url!r}")
    if not _TRIGGER_ID.match(trigger_id):
        raise FireError(f"{trigger_id!r} is not a trigger id (trg-…)")
    try:
        control_token = json.loads(state_file.read_text(encoding="utf-8"))["control_token"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise FireError(f"cannot read the control token from {state_file}: {error}") from error
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        local_url.rstrip("/") + CONTROL_FIRE_PATH.format(trigger_id=trigger_id),
        data=b"{}",
        headers={"Content-Type": "application/json", CONTROL_TOKEN_HEADER: control_token},
        method="POST",
    )
    # The local stack is on this machine: never send its control token through a proxy.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=60) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as error:
        raise FireError(_describe_http_error(error)) from error
    except (urllib.error.URLError, OSError) as error:
        raise FireError(
            f"cannot reach the local stack at {local_url} ({error}); is `switchboard local serve` running?"
        ) from error
    event: dict[str, Any] = body["data"]
    return event


def _describe_http_error(error: urllib.error.HTTPError) -> str:
    try:
        document: Any = json.loads(error.read())
    except ValueError:
        document = {}
    message = (document.get("error") or {}).get("message") or document.get("message") or error.reason
    if error.code == 403:
        return (
            "the local stack refused the control token: is --state-file the file the server was started with?"
        )
    return f"the local stack answered {error.code}: {message}"


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
