"""The step-kind registry (``engine/step_kinds.py``): every node class of ``engine/nodes.py`` has its kind, a
node whose class has none is refused by name (by the registry, and by a run that meets one), a second
registration of a class is refused, and one registration is all a new kind needs for the engine to run it."""

from __future__ import annotations

import inspect
from typing import Any, Literal, get_args, get_origin

import pytest

from switchboard.engine import nodes
from switchboard.engine.definition import WorkflowDefinition
from switchboard.engine.nodes import AnyNode, HttpNode, NodeBase, StepNode
from switchboard.engine.step_kinds import StepKind, UnknownStepKind, kind_of, register, registered
from switchboard.engine.steps.base import StepContext
from switchboard.engine.steps.http import run_http
from tests.unit.engine.harness import INPUT, output, run, workflow


class _DelayNode(StepNode):
    """A node kind nobody registered."""

    type: Literal["delay"]


class _EchoNode(StepNode):
    """A new node kind, added by the one registration below."""

    type: Literal["echo"]


def _echo(step: StepContext, node: Any) -> Any:
    return {"echoed": step.inputs, "by": node.id}


register(StepKind(_EchoNode, work="step", attempt=_echo))


def _node_kinds_of_the_language() -> set[type[NodeBase]]:
    """Every concrete node class of ``engine/nodes.py``: a ``NodeBase`` whose ``type`` is one literal."""
    found: set[type[NodeBase]] = set()
    for _, member in inspect.getmembers(nodes, inspect.isclass):
        if not issubclass(member, NodeBase) or member.__module__ != nodes.__name__:
            continue
        annotation: Any = member.model_fields["type"].annotation
        if get_origin(annotation) is Literal:
            found.add(member)
    return found


def _definition_with(node: NodeBase) -> WorkflowDefinition:
    """A definition holding ``node``, which the language would refuse (so built without validation)."""
    valid = workflow(INPUT, output(x="$.input.question"))
    final = valid.output_node().model_copy(
        update={"depends": [node.id], "mappings": {"x": f"$.{node.id}.output"}}
    )
    nodes_of_run: list[Any] = [valid.input_node(), node, final]
    return WorkflowDefinition.model_construct(requirements=[], nodes=nodes_of_run)


def test_every_node_class_of_the_language_has_a_registered_kind() -> None:
    # Given every concrete node class defined in engine/nodes.py (a new one is found here without a change)
    kinds = _node_kinds_of_the_language()
    # When the registry is asked for their kinds
    missing = {kind.__name__ for kind in kinds - registered()}
    # Then none is missing, and they are exactly the node types a definition may hold
    assert missing == set()
    assert kinds == set(get_args(AnyNode))
    assert len(kinds) == len(nodes.NODE_TYPES) == 9


def test_a_node_whose_kind_is_not_registered_is_refused_by_name_and_a_registered_one_is_found() -> None:
    # Given a node of a class nobody registered, and an http node
    delay = _DelayNode.model_construct(id="wait", type="delay")
    http = HttpNode.model_validate({"id": "call", "type": "http", "config": {"url": "https://example.com"}})
    # When the registry is asked for their kinds
    with pytest.raises(UnknownStepKind) as refused:
        kind_of(delay)
    kind = kind_of(http)
    # Then the unknown kind is refused, naming its type; the http node is a checkpointed step run by run_http
    assert str(refused.value) == "no step kind is registered for node type 'delay'"
    assert (kind.work, kind.placement, kind.attempt) == ("step", "superstep", run_http)


def test_a_run_that_meets_an_unregistered_kind_fails_once_and_runs_nothing_after_it() -> None:
    # Given a definition holding a node of an unregistered kind between the input and the output
    definition = _definition_with(_DelayNode.model_construct(id="wait", type="delay", depends=["in"]))
    # When it runs
    result, sink = run(definition, {"question": "q"})
    # Then the run failed with an internal error and exactly one terminal event; the output never ran
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.type == "internal_error"
    assert [kind for kind in sink.types() if kind.startswith("run.")] == ["run.started", "run.failed"]
    assert result.nodes["in"].status == "completed"
    assert result.nodes["out"].status == "skipped"


def test_one_registration_is_all_a_new_kind_needs_to_run() -> None:
    # Given a node of a kind added by one registration (no other engine change), fed from the run input
    echo = _EchoNode.model_construct(id="echo", type="echo", depends=["in"], inputs={"q": "$.input.question"})
    definition = _definition_with(echo)
    # When it runs
    result, sink = run(definition, {"question": "hello"})
    # Then the engine ran it as a step, with its inputs, and handed its output on
    assert result.status == "completed"
    assert result.output == {"x": {"echoed": {"q": "hello"}, "by": "echo"}}
    assert (
        "node.completed",
        {"node_id": "echo", "output": {"echoed": {"q": "hello"}, "by": "echo"}},
    ) in sink.events


def test_a_second_registration_of_a_class_and_a_step_without_its_attempt_are_refused() -> None:
    # Given the registry with http registered
    before = registered()
    # When http is registered again, and a kind is registered as a step without an attempt function
    with pytest.raises(ValueError, match="registered already for HttpNode"):
        register(StepKind(HttpNode, work="step", attempt=run_http))
    with pytest.raises(ValueError, match="only a step has one"):
        register(StepKind(_DelayNode, work="step"))
    # Then neither changed the registry: http keeps its kind, and delay stays unknown
    assert registered() == before
    assert kind_of(HttpNode.model_validate({"id": "c", "type": "http"})).attempt is run_http
