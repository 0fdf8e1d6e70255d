"""The step node types: each turns a node's resolved inputs and config into its output, or a StepError.

Which function runs which node type is registered in ``engine/step_kinds.py``.
"""

from __future__ import annotations

from switchboard.engine.steps.base import Outcome, Services, StepContext, failure_envelope

__all__ = ["Outcome", "Services", "StepContext", "failure_envelope"]
