"""Idempotent run creation: an ``Idempotency-Key`` makes a request happen once per App for 24 hours.

The same key with the same request never creates or runs anything again; the same key with another request
is 409 ``idempotency_key_reused``; while the first request is still being answered, another one with its key
is 409 ``idempotency_key_in_progress``. A request that fails before it creates anything frees its key, so the
client can correct it and retry with the same key.

The replay rule: an answer about a run (``StoredResponse.run_id``) is replayed as that run is *now* (the route
renders it again: 200 once it has ended, 202 with ``Location`` while it has not), so a sync request answered
202 and retried later gets the run's final state; a streamed answer is replayed as the run's stream from the
start; any other answer (an async invoke's 202 ``accepted``, an error) is replayed as it was (status, body,
``Location``). Every replay carries ``Idempotent-Replayed: true``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from switchboard.domain.errors import BadRequest, Conflict
from switchboard.domain.ids import utcnow
from switchboard.observability import logger
from switchboard.store import idempotency

RETENTION = timedelta(hours=24)
LEASE = timedelta(seconds=60)
"""How long a claim blocks its key when its request never finished (the Apps function times out at 29 s)."""
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY = re.compile(r"^[\x20-\x7e]{1,255}$")


@dataclass(frozen=True)
class StoredResponse:
    """A response as it is replayed. A streamed response is replayed as its run's stream from the start."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    stream_run_id: str | None = None
    run_id: str | None = None
    """The run the answer is about: a replay answers with it as it is then (see the module docstring)."""


@dataclass(frozen=True)
class Outcome:
    response: StoredResponse
    replayed: bool


def checked_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not _KEY.match(raw):
        raise BadRequest(
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
            code="invalid_idempotency_key",
        )
    return raw


def fingerprint(operation: str, request: Any) -> str:
    """What makes two requests "the same": the operation and the request, as canonical JSON."""
    canonical = json.dumps(
        {"operation": operation, "request": request}, sort_keys=True, separators=(",", ":"), default=str
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def once(
    app_id: str,
    key: str | None,
    request_fingerprint: str,
    produce: Callable[[], StoredResponse],
    about_run: Callable[[str], StoredResponse] | None = None,
) -> Outcome:
    """Answer with ``produce()`` the first time, and on a retry with its stored response, or, for an answer
    about a run, with ``about_run(run_id)``: the run as it is now."""
    if key is None:
        return Outcome(produce(), replayed=False)
    now = utcnow()
    held = idempotency.claim(
        app_id,
        key,
        request_fingerprint,
        now=int(now.timestamp()),
        expiration=int((now + RETENTION).timestamp()),
        lease_expiration=int((now + LEASE).timestamp()),
    )
    if held is not None:
        stored = _replay(held, request_fingerprint)
        if stored.run_id is not None and about_run is not None:
            fresh = about_run(stored.run_id)
            stored = StoredResponse(fresh.status, fresh.body, {**fresh.headers, REPLAYED_HEADER: "true"})
        return Outcome(stored, replayed=True)
    try:
        response = produce()
    except BaseException:
        idempotency.release(app_id, key, request_fingerprint)
        raise
    _store(app_id, key, request_fingerprint, response)
    return Outcome(response, replayed=False)


def _replay(held: idempotency.IdempotencyRecord, request_fingerprint: str) -> StoredResponse:
    if held.fingerprint != request_fingerprint:
        raise Conflict(
            "this Idempotency-Key was used with a different request", code="idempotency_key_reused"
        )
    if held.response is None:
        raise Conflict(
            "a request with this Idempotency-Key is still in progress; retry shortly",
            code="idempotency_key_in_progress",
        )
    stored = held.response
    return StoredResponse(
        status=int(stored["status"]),
        body=stored.get("body"),
        headers={**dict(stored.get("headers") or {}), REPLAYED_HEADER: "true"},
        stream_run_id=stored.get("stream_run_id"),
        run_id=stored.get("run_id"),
    )


def _store(app_id: str, key: str, request_fingerprint: str, response: StoredResponse) -> None:
    document = {
        "status": response.status,
        "body": response.body,
        "headers": dict(response.headers),
        "stream_run_id": response.stream_run_id,
        "run_id": response.run_id,
    }
    try:
        idempotency.complete(app_id, key, request_fingerprint, document)
    except idempotency.ResponseTooLarge:
        # The run exists and the client has its answer; only a retry's replay is lost, so free the key.
        logger.warning("idempotent response too large to store; key released", extra={"app_id": app_id})
        idempotency.release(app_id, key, request_fingerprint)
    except Conflict:
        logger.warning("idempotency claim lost before completion", extra={"app_id": app_id})
