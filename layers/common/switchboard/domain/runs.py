"""Runs, their events, and end-user links (the runtime plane's records)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RunStatus(StrEnum):
    created = "created"
    started = "started"
    completed = "completed"
    failed = "failed"
    canceled = "canceled"


TERMINAL = frozenset({RunStatus.completed, RunStatus.failed, RunStatus.canceled})


class Run(BaseModel):
    """A run is a record first (``created``), then executed; the executor is the only writer of its result."""

    model_config = ConfigDict(extra="ignore")

    id: str
    app_id: str
    org_id: str
    project_id: str
    workflow_id: str
    version: int
    requirement_ids: list[str] = Field(default_factory=list, description="Declared by the run's version")
    status: RunStatus = RunStatus.created
    mode: Literal["sync", "background"] = "sync"
    input: dict[str, Any] = Field(default_factory=dict)
    user_id: str | None = None
    session_id: str | None = None
    output: Any = None
    nodes: dict[str, Any] | None = Field(default=None, description="Per-node {status, output, error}")
    error: dict[str, Any] | None = None
    usage: dict[str, int] = Field(default_factory=dict)
    created_at: datetime
    created_by: str
    started_at: datetime | None = None
    ended_at: datetime | None = None
    cancel_requested_at: datetime | None = None
    callbacks: list[dict[str, Any]] | None = Field(
        default=None, description="Async runs only: where the result is delivered when the run ends"
    )
    expires_at: int = Field(description="Epoch seconds; DynamoDB TTL")


class RunEvent(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: str
    run_id: str
    type: str
    sequence: int
    timestamp: datetime
    data: dict[str, Any] = Field(default_factory=dict)


class LinkStatus(StrEnum):
    active = "active"
    expired = "expired"
    unauthorized = "unauthorized"
    revoked = "revoked"


class Link(BaseModel):
    """An end user's connection for one requirement of one App. Secret fields live in Secrets Manager."""

    model_config = ConfigDict(extra="ignore")

    id: str
    app_id: str
    org_id: str
    project_id: str
    user_id: str
    requirement_id: str
    connection_type: str
    status: LinkStatus
    status_reason: str | None = None
    status_changed_at: datetime
    config: dict[str, Any] = Field(default_factory=dict, description="Non-secret fields only")
    secret_fields: list[str] = Field(default_factory=list)
    secret_name: str
    secret_version: str | None = None
    linked_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revision: int = 1
