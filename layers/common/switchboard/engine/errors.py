"""How a step fails: a typed ``StepError`` (it becomes the node's ``NodeError``), or ``Canceled``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from switchboard.engine.contracts import NodeError


class StepError(Exception):
    """A node attempt failed. ``retryable=False`` for failures another attempt cannot fix (a template
    error, a rejected credential, a value that does not validate): retrying them only burns the backoff.
    """

    def __init__(
        self, type_: str, message: str, details: Mapping[str, Any] | None = None, *, retryable: bool = True
    ) -> None:
        super().__init__(message)
        self.type = type_
        self.message = message
        self.details = dict(details) if details else None
        self.retryable = retryable

    def node_error(self) -> NodeError:
        # Imported here: the node work processes raise StepError without loading the definition models.
        from switchboard.engine.contracts import NodeError

        return NodeError(type=self.type, message=self.message, details=self.details)


class Canceled(Exception):
    """Cancellation was requested at a checkpoint: the step stops before its next request."""
