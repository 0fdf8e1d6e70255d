"""Runs of one App, newest first, optionally filtered (gsi1 ``APP#<app>#RUNS#<shard>``, merged).

Filters are DynamoDB filter expressions, which apply after a page is read: a query may return fewer items
than asked even though more match further on. So a listing keeps reading until the page is full or the
shards end (a bounded number of reads per request, see ``store.sharded``); the cursor is the position of the
last item returned, or where reading stopped, so no match is ever skipped or repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from switchboard.domain.ids import iso
from switchboard.domain.runs import Run, RunStatus
from switchboard.store import keys
from switchboard.store.control import from_item
from switchboard.store.runs import runs_table
from switchboard.store.sharded import ShardedListing, read_newest_first


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
    # A run starts after it is created: nothing created after ``started_before`` started before it.
    until = run_filter.started_before
    filter_expression, filter_values = run_filter.expression()
    listing = ShardedListing(
        table=runs_table().name,
        name=keys.app_runs(app_id),
        partitions=keys.app_run_partitions(app_id),
        shape=keys.RUN_LISTING_POSITION,
        high=keys.listing_until(until) if until else "\uffff",
        index=keys.GSI1,
        filter_expression=filter_expression,
        filter_names={"#status": "status"} if ":status" in filter_values else {},
        filter_values=filter_values,
    )
    found, cursor = read_newest_first(listing, limit, next_token)
    return [from_item(Run, item) for item in found], cursor
