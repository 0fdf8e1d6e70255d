"""Workflow versions are immutable, so a warm function keeps the ones it has read.

The engine's definition models are imported by the first request that reads a version, not at cold start.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from switchboard.domain.errors import NotFound
from switchboard.domain.models import WorkflowVersion
from switchboard.store import workflows

if TYPE_CHECKING:
    from switchboard.engine.definition import WorkflowDefinition


@lru_cache(maxsize=256)
def _cached(workflow_id: str, number: int) -> tuple[WorkflowVersion, WorkflowDefinition]:
    from switchboard.engine.definition import WorkflowDefinition

    version = workflows.get_version(workflow_id, number)
    if version is None:
        raise NotFound(f"workflow version {number} not found")
    return version, WorkflowDefinition.model_validate(version.definition)


def version_definition(workflow_id: str, number: int) -> tuple[WorkflowVersion, WorkflowDefinition]:
    return _cached(workflow_id, number)


def forget() -> None:
    _cached.cache_clear()
