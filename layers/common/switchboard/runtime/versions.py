"""Workflow versions are immutable, so a warm function keeps the ones it has read."""

from __future__ import annotations

from functools import lru_cache

from switchboard.domain.errors import NotFound
from switchboard.domain.models import WorkflowVersion
from switchboard.engine.definition import WorkflowDefinition
from switchboard.store import workflows


@lru_cache(maxsize=256)
def _cached(workflow_id: str, number: int) -> tuple[WorkflowVersion, WorkflowDefinition]:
    version = workflows.get_version(workflow_id, number)
    if version is None:
        raise NotFound(f"workflow version {number} not found")
    return version, WorkflowDefinition.model_validate(version.definition)


def version_definition(workflow_id: str, number: int) -> tuple[WorkflowVersion, WorkflowDefinition]:
    return _cached(workflow_id, number)


def forget() -> None:
    _cached.cache_clear()
