"""Idempotency records, one per (App, ``Idempotency-Key``), in the idempotency table; TTL on ``expiration``.

A request claims its key with a conditional put (the key is free, expired, or held by an abandoned claim whose
lease ran out), then either completes the record with the response to replay or deletes it when the request
failed before it changed anything. The stored body is gzip-compressed JSON.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from typing import Any

from switchboard import aws
from switchboard.domain.errors import Conflict
from switchboard.settings import get_settings
from switchboard.store import keys
from switchboard.store.table import Table, delete_op, put_op, translate_errors

IN_PROGRESS = "in_progress"
COMPLETED = "completed"
MAX_STORED_BODY_BYTES = 350_000
"""Compressed; keeps a record under DynamoDB's 400 KB item size."""

_FREE = (
    "attribute_not_exists(id) OR expiration < :now OR (#status = :in_progress AND lease_expiration < :now)"
)
_HELD_BY = "#status = :in_progress AND fingerprint = :fingerprint"


class ResponseTooLarge(ValueError):
    """The response cannot be stored for replay."""


@dataclass(frozen=True)
class IdempotencyRecord:
    status: str
    fingerprint: str
    response: dict[str, Any] | None
    """``{"status", "headers", "body", "stream_run_id"}`` once completed."""


def _table() -> Table:
    return Table(get_settings().idempotency_table)


def claim(
    app_id: str, key: str, fingerprint: str, *, now: int, expiration: int, lease_expiration: int
) -> IdempotencyRecord | None:
    """Claim the key for this request: None when claimed, otherwise the record currently holding it."""
    record_key = keys.idempotency_record(app_id, key)
    item = {
        **record_key,
        "status": IN_PROGRESS,
        "fingerprint": fingerprint,
        "expiration": expiration,
        "lease_expiration": lease_expiration,
    }
    for _ in range(3):
        try:
            _table().write(
                put_op(_table().name, item, _FREE, {":now": now, ":in_progress": IN_PROGRESS}),
                "the idempotency key is in use",
            )
            return None
        except Conflict:
            current = _table().get(record_key)
        if current is not None:
            return _record(current)
    raise Conflict("the idempotency key is in use; retry", code="idempotency_key_in_progress")


def complete(app_id: str, key: str, fingerprint: str, response: dict[str, Any]) -> None:
    """Store the response to replay. Raises ``ResponseTooLarge`` when it cannot be stored."""
    body = gzip.compress(json.dumps(response.get("body"), separators=(",", ":")).encode())
    if len(body) > MAX_STORED_BODY_BYTES:
        raise ResponseTooLarge(f"the response body is {len(body)} bytes compressed")
    stored = {
        "status": response["status"],
        "headers": dict(response.get("headers") or {}),
        "stream_run_id": response.get("stream_run_id"),
        "run_id": response.get("run_id"),
    }
    with translate_errors("the idempotency key is no longer held by this request"):
        aws.table(_table().name).update_item(
            Key=keys.idempotency_record(app_id, key),
            UpdateExpression="SET #status = :completed, #response = :response, body = :body "
            "REMOVE lease_expiration",
            ConditionExpression=_HELD_BY,
            ExpressionAttributeNames={"#status": "status", "#response": "response"},
            ExpressionAttributeValues={
                ":completed": COMPLETED,
                ":response": stored,
                ":body": body,
                ":in_progress": IN_PROGRESS,
                ":fingerprint": fingerprint,
            },
        )


def release(app_id: str, key: str, fingerprint: str) -> None:
    """Free a key whose request changed nothing, so the client may retry with it."""
    try:
        _table().write(
            delete_op(
                _table().name,
                keys.idempotency_record(app_id, key),
                _HELD_BY,
                {":in_progress": IN_PROGRESS, ":fingerprint": fingerprint},
            )
        )
    except Conflict:
        return


def _record(item: dict[str, Any]) -> IdempotencyRecord:
    response: dict[str, Any] | None = None
    if item.get("status") == COMPLETED:
        raw = item.get("body")
        payload = getattr(raw, "value", raw)  # boto3 wraps binary attributes in Binary
        body = json.loads(gzip.decompress(payload)) if isinstance(payload, bytes | bytearray) else None
        response = {**dict(item.get("response") or {}), "body": body}
    return IdempotencyRecord(
        status=str(item.get("status")), fingerprint=str(item.get("fingerprint")), response=response
    )
