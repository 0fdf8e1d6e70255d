"""The step node types: each turns a node's resolved inputs and config into its output, or a StepError."""

from __future__ import annotations

from typing import Any

from switchboard.engine.nodes import (
    AgentNode,
    ChoiceNode,
    HttpNode,
    LlmNode,
    TransformNode,
    ValidatorNode,
)
from switchboard.engine.steps.agent import run_agent
from switchboard.engine.steps.base import Outcome, Services, StepContext, failure_envelope
from switchboard.engine.steps.choice import run_choice
from switchboard.engine.steps.http import run_http
from switchboard.engine.steps.llm import run_llm
from switchboard.engine.steps.transform import run_transform
from switchboard.engine.steps.validator import run_validator

__all__ = ["Outcome", "Services", "StepContext", "failure_envelope", "run_step"]


def run_step(step: StepContext) -> Any:
    """One attempt of the step's node."""
    node = step.node
    if isinstance(node, TransformNode):
        return run_transform(step, node)
    if isinstance(node, HttpNode):
        return run_http(step, node)
    if isinstance(node, LlmNode):
        return run_llm(step, node)
    if isinstance(node, AgentNode):
        return run_agent(step, node)
    if isinstance(node, ChoiceNode):
        return run_choice(step, node)
    if isinstance(node, ValidatorNode):
        return run_validator(step, node)
    raise TypeError(f"not a step node type: {node.type}")
