"""Workflow definitions the measures run (plain JSON, as a builder would save them)."""

from __future__ import annotations

from typing import Any

Definition = dict[str, Any]

REQUIREMENT_ID = "crm"
NO_OP = "x"
"""The JMESPath of every no-op transform: its one input, unchanged."""


def _input(fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"id": "start", "type": "input", "fields": fields or []}


def _noop(node_id: str, source: str, depends: list[str]) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": "transform",
        "depends": depends,
        "inputs": {"x": source},
        "config": {"jmespath": NO_OP},
    }


def chain(length: int) -> Definition:
    """input → ``length`` no-op transforms in sequence, each reading the previous output → output."""
    nodes: list[dict[str, Any]] = [_input([{"name": "x", "type": "integer", "default": 0}])]
    previous, source = "start", "$.input.x"
    for index in range(length):
        node_id = f"n{index}"
        nodes.append(_noop(node_id, source, [previous]))
        previous, source = node_id, f"$.{node_id}.output"
    nodes.append({"id": "finish", "type": "output", "depends": [previous], "mappings": {"x": source}})
    return {"nodes": nodes}


def fan_out(width: int) -> Definition:
    """input → ``width`` no-op transforms in parallel, all reading the input → one join output node."""
    nodes: list[dict[str, Any]] = [_input([{"name": "x", "type": "integer", "default": 0}])]
    ids = [f"n{index}" for index in range(width)]
    nodes += [_noop(node_id, "$.input.x", ["start"]) for node_id in ids]
    nodes.append({"id": "finish", "type": "output", "depends": ids, "mappings": {"x": f"$.{ids[-1]}.output"}})
    return {"nodes": nodes}


def http_fan_out(
    count: int, *, path: str, connection_id: str | None = None, url: str | None = None
) -> Definition:
    """input → ``count`` parallel GETs → output. With ``connection_id``, the first half of the nodes use
    that shared connection and the rest the end user's requirement; with ``url``, no connection."""
    nodes: list[dict[str, Any]] = [_input()]
    ids = [f"call_{index}" for index in range(count)]
    shared = (count + 1) // 2
    for index, node_id in enumerate(ids):
        node: dict[str, Any] = {"id": node_id, "type": "http", "depends": ["start"]}
        if connection_id is None:
            node["config"] = {"method": "GET", "url": url, "path": path}
        else:
            ref = {"connection_id": connection_id} if index < shared else {"requirement": REQUIREMENT_ID}
            node["connection"] = ref
            node["config"] = {"method": "GET", "path": path}
        nodes.append(node)
    mappings = {node_id: f"$.{node_id}.output.status" for node_id in ids}
    nodes.append({"id": "finish", "type": "output", "depends": ids, "mappings": mappings})
    requirements = []
    if connection_id is not None and count > shared:
        requirements.append(
            {
                "id": REQUIREMENT_ID,
                "name": "CRM",
                "type": "connection",
                "connection_type": "http_api_key",
                "title": "Connect your CRM",
            }
        )
    return {"requirements": requirements, "nodes": nodes}


def http_chain(count: int, *, path: str, connection_id: str) -> Definition:
    """input → ``count`` GETs in sequence, each after the previous (every one a checkpointed step of its
    own superstep) → output, all through the shared connection."""
    nodes: list[dict[str, Any]] = [_input()]
    previous = "start"
    for index in range(count):
        node_id = f"call_{index}"
        nodes.append(
            {
                "id": node_id,
                "type": "http",
                "depends": [previous],
                "connection": {"connection_id": connection_id},
                "config": {"method": "GET", "path": path},
            }
        )
        previous = node_id
    nodes.append(
        {
            "id": "finish",
            "type": "output",
            "depends": [previous],
            "mappings": {"last": f"$.{previous}.output.status"},
        }
    )
    return {"nodes": nodes}
