"""Runs of one App, newest first, optionally filtered (gsi1 ``APP#<app>#RUNS``).

Filters are DynamoDB filter expressions, which apply after a page is read: a query may return fewer items
than asked even though more match further on. So a listing keeps reading until the page is full or the
partition ends (at most ``MAX_READS`` reads per request); the cursor is the key of the last item returned,
or where reading stopped, so no match is ever skipped or repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from switchboard import aws
from switchboard.domain.errors import BadRequest
from switchboard.domain.ids import iso
from switchboard.domain.runs import Run, RunStatus
from switchboard.store import keys
from switchboard.store.control import from_item
from switchboard.store.runs import runs_table
from switchboard.store.table import decode_cursor, encode_cursor, from_dynamo, translate_errors

MAX_READS = 10
READ_SIZE = 100
_CURSOR_ATTRIBUTES = ("pk", "sk", "gsi1pk", "gsi1sk")


@dataclass(frozen=True)
class RunFilter:
    status: RunStatus | None = None
    user_id: str | None = None
    session_id: str | None = None
    started_after: datetime | None = None
    started_before: datetime | None = None
    started_only: bool = False

    def expression(self) -> tuple[str | None, dict[str, Any]]:
        clauses: list[str] = []
        values: dict[str, Any] = {}
        for attribute, value in (
            ("#status", self.status.value if self.status else None),
            ("user_id", self.user_id),
            ("session_id", self.session_id),
        ):
            if value is not None:
                placeholder = f":{attribute.lstrip('#')}"
                clauses.append(f"{attribute} = {placeholder}")
                values[placeholder] = value
        if self.started_only or self.started_after or self.started_before:
            clauses.append("attribute_exists(started_at)")
        if self.started_after:
            clauses.append("started_at >= :after")
            values[":after"] = iso(self.started_after)
        if self.started_before:
            clauses.append("started_at <= :before")
            values[":before"] = iso(self.started_before)
        return (" AND ".join(clauses) or None), values


def list_runs(
    app_id: str, run_filter: RunFilter, limit: int, next_token: str | None
) -> tuple[list[Run], str | None]:
    partition = keys.app_runs(app_id)
    start: dict[str, Any] | None = decode_cursor(next_token, partition, index=True)
    key_condition = "gsi1pk = :partition"
    values: dict[str, Any] = {":partition": partition}
    if run_filter.started_before:
        # A run starts after it is created, so nothing created after the bound can have started before it.
        values[":until"] = keys.listing_until(run_filter.started_before)
        key_condition += " AND gsi1sk <= :until"
        if start and start.get("gsi1sk", "") > values[":until"]:
            raise BadRequest("next_token does not belong to these filters", code="invalid_cursor")
    filter_expression, filter_values = run_filter.expression()
    params: dict[str, Any] = {
        "IndexName": keys.GSI1,
        "KeyConditionExpression": key_condition,
        "ExpressionAttributeValues": {**values, **filter_values},
        "ScanIndexForward": False,
    }
    if filter_expression:
        params["FilterExpression"] = filter_expression
        if ":status" in filter_values:
            params["ExpressionAttributeNames"] = {"#status": "status"}
    found: list[dict[str, Any]] = []
    for _ in range(MAX_READS):
        page_size = limit - len(found) if not filter_expression else READ_SIZE
        request = {**params, "Limit": page_size, **({"ExclusiveStartKey": start} if start else {})}
        with translate_errors():
            response = aws.table(runs_table().name).query(**request)
        found.extend(from_dynamo(item) for item in response.get("Items", []))
        start = response.get("LastEvaluatedKey")
        if len(found) >= limit:
            more = len(found) > limit or start is not None
            found = found[:limit]
            start = {name: found[-1][name] for name in _CURSOR_ATTRIBUTES} if more else None
            break
        if not start:
            break
    return [from_item(Run, item) for item in found], encode_cursor(start)
