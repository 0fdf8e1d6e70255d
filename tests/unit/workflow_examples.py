"""A valid workflow definition using every node type, and helpers to break it and read the problems."""

from __future__ import annotations

from typing import Any

import pytest

from switchboard.domain.errors import ValidationFailed
from switchboard.engine.validation import validate_definition

SHARED = "con-openai0shared"
PROJECT = {SHARED: "openai", "con-pg0": "postgres", "con-web0": "http"}


def full_definition() -> dict[str, Any]:
    """Every node type once or more; the index of each node is the comment after it."""
    return {
        "requirements": [
            {"id": "crm", "name": "CRM", "connection_type": "http_api_key", "title": "Connect your CRM"}
        ],
        "nodes": [
            {  # 0
                "id": "in",
                "type": "input",
                "fields": [
                    {"name": "question", "type": "string", "required": True},
                    {"name": "limit", "type": "integer", "default": 5},
                ],
            },
            {  # 1
                "id": "lookup",
                "type": "http",
                "depends": ["in"],
                "connection": {"requirement": "crm"},
                "config": {"path": "/contacts", "params": {"q": "$.input.question", "n": "$.input.limit"}},
                "error_handling": {"timeout_seconds": 10, "retries": 2, "behavior": "return"},
            },
            {  # 2
                "id": "check",
                "type": "validator",
                "depends": ["lookup"],
                "config": {"input": "$.lookup.output.body", "json_schema": {"type": "object"}},
            },
            {  # 3
                "id": "route",
                "type": "choice",
                "depends": ["check"],
                "inputs": {"contacts": "$.check.output.items"},
                "config": {
                    "branches": [{"when": "length(contacts) > `0`", "next": ["answer"]}],
                    "default": ["sorry"],
                },
            },
            {  # 4
                "id": "answer",
                "type": "agent",
                "depends": ["route"],
                "connection": {"connection_id": SHARED},
                "inputs": {"contacts": "$.lookup.output.body.items[0]"},
                "config": {"model": "gpt-4o-mini", "instructions": "Help.", "tools": ["search", "summarize"]},
            },
            {"id": "search", "type": "http", "config": {"url": "https://search.example.com"}},  # 5
            {  # 6
                "id": "summarize",
                "type": "llm",
                "connection": {"connection_id": SHARED},
                "config": {
                    "model": "gpt-4o-mini",
                    "messages": [{"role": "user", "content": "Sum up {{ text }}"}],
                },
            },
            {"id": "sorry", "type": "transform", "depends": ["route"], "config": {"template": "Sorry."}},  # 7
            {  # 8
                "id": "pick",
                "type": "transform",
                "depends": ["answer", "sorry"],
                "inputs": {"a": "$.answer.output.content", "b": "$.sorry.output"},
                "config": {"jmespath": "a || b"},
            },
            {
                "id": "out",
                "type": "output",
                "depends": ["pick"],
                "mappings": {"answer": "$.pick.output"},
            },  # 9
        ],
    }


def node(definition: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in definition["nodes"] if n["id"] == node_id)


def details_of(raw: object, project: dict[str, str] = PROJECT) -> list[dict[str, Any]]:
    with pytest.raises(ValidationFailed) as caught:
        validate_definition(raw, project_connections=project)
    assert caught.value.status == 422
    assert caught.value.message == "invalid workflow definition"
    details: list[dict[str, Any]] = caught.value.details
    assert all(set(detail) == {"loc", "code", "message"} for detail in details)
    return details


def codes(details: list[dict[str, Any]]) -> list[tuple[list[str | int], str]]:
    return [(detail["loc"], detail["code"]) for detail in details]


def at(path: str) -> list[str | int]:
    """``"nodes/2/config"`` -> ``["nodes", 2, "config"]``."""
    return [int(part) if part.isdigit() else part for part in path.split("/")] if path else []
