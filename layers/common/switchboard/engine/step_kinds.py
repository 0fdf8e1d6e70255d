"""The step-kind registry: for each node type of ``engine/nodes.py``, how the engine runs it.

A ``StepKind`` says, for one node class:

- ``work``: what running the node means (``engine/running.py`` holds one function per kind of work):
  ``input`` (the run input, defaults applied), ``output`` (the run's result, its mappings resolved),
  ``step`` (the node's ``attempt`` function, made with its retries by ``engine/attempts.py``) or
  ``human_input`` (a person is asked and the run waits for the answer);
- ``placement``: where it runs: ``first`` (before any other node), ``inline`` (on the engine's own thread:
  it only computes), ``inline_without_retries`` (inline unless it has retries: a backoff would hold the
  engine's thread) or ``superstep`` (handed to the driver with the other nodes of its superstep: in a durable
  run, a checkpointed step or a human input wait);
- ``chooses``: its output's ``next`` selects which of its branch targets run;
- ``run_output``: its output is the run's output.

**Adding a node kind is one registration** here (``register``), next to its model in ``engine/nodes.py``
and its step in ``engine/steps/``. A node class without a registration is refused by ``kind_of``
(``UnknownStepKind``), and a unit test fails for every node class of ``engine/nodes.py`` left out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from switchboard.engine.nodes import (
    AgentNode,
    ChoiceNode,
    HttpNode,
    HumanInputNode,
    InputNode,
    LlmNode,
    NodeBase,
    OutputNode,
    StepNode,
    TransformNode,
    ValidatorNode,
)
from switchboard.engine.steps.agent import run_agent
from switchboard.engine.steps.base import StepContext
from switchboard.engine.steps.choice import run_choice
from switchboard.engine.steps.http import run_http
from switchboard.engine.steps.llm import run_llm
from switchboard.engine.steps.transform import run_transform
from switchboard.engine.steps.validator import run_validator

Work = Literal["input", "output", "step", "human_input"]
Placement = Literal["first", "inline", "inline_without_retries", "superstep"]
Attempt = Callable[[StepContext, Any], Any]
"""One attempt of a step node: (the attempt's context, the node) → its output, or a ``StepError``."""


class UnknownStepKind(TypeError):
    """A node whose class has no registered step kind: the engine cannot run it."""


@dataclass(frozen=True)
class StepKind:
    node: type[NodeBase]
    work: Work
    placement: Placement = "superstep"
    attempt: Attempt | None = None
    """The step's one attempt (``work == "step"`` only)."""
    chooses: bool = False
    run_output: bool = False

    def runs_inline(self, node: NodeBase) -> bool:
        """The node runs on the engine's own thread rather than in a superstep."""
        if self.placement == "inline":
            return True
        retries = node.error_handling.retries if isinstance(node, StepNode) else 0
        return self.placement == "inline_without_retries" and not retries


_KINDS: dict[type[NodeBase], StepKind] = {}


def register(kind: StepKind) -> StepKind:
    """Register ``kind`` for its node class (once: a second registration of a class is a mistake)."""
    if kind.node in _KINDS:
        raise ValueError(f"a step kind is registered already for {kind.node.__name__}")
    if (kind.work == "step") != (kind.attempt is not None):
        raise ValueError(
            f"{kind.node.__name__}: a step kind has an attempt function, and only a step has one"
        )
    _KINDS[kind.node] = kind
    return kind


def kind_of(node: NodeBase) -> StepKind:
    """The registered kind of ``node``'s class, or ``UnknownStepKind``."""
    kind = _KINDS.get(type(node))
    if kind is None:
        raise UnknownStepKind(f"no step kind is registered for node type '{node.type}'")
    return kind


def registered() -> frozenset[type[NodeBase]]:
    """Every node class with a registered kind."""
    return frozenset(_KINDS)


register(StepKind(InputNode, work="input", placement="first"))
register(StepKind(OutputNode, work="output", placement="inline", run_output=True))
register(StepKind(TransformNode, work="step", placement="inline_without_retries", attempt=run_transform))
register(
    StepKind(ChoiceNode, work="step", placement="inline_without_retries", attempt=run_choice, chooses=True)
)
register(StepKind(ValidatorNode, work="step", placement="inline_without_retries", attempt=run_validator))
register(StepKind(HttpNode, work="step", attempt=run_http))
register(StepKind(LlmNode, work="step", attempt=run_llm))
register(StepKind(AgentNode, work="step", attempt=run_agent))
register(StepKind(HumanInputNode, work="human_input"))
