"""The workflow definition: requirements plus a DAG of typed nodes. See docs/workflow-definition.md.

``python -m switchboard.engine.definition [PATH]`` prints the JSON Schema, or writes it to PATH.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, JsonValue, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from switchboard.domain.connection_types import CONNECTION_TYPES, OAuth2Config
from switchboard.engine.nodes import (
    AgentNode,
    ConnectableNode,
    ConnectionRef,
    Identifier,
    InputNode,
    Node,
    OutputNode,
    StrictModel,
)

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
MAX_NODES = 1000
MAX_REQUIREMENTS = 50
MIN_LINK_AGE_SECONDS = 60
MAX_LINK_AGE_SECONDS = 10 * 365 * 86_400


def _known_connection_type(connection_type: str) -> str:
    if connection_type not in CONNECTION_TYPES:
        known = ", ".join(sorted(CONNECTION_TYPES))
        raise PydanticCustomError("unknown_connection_type", f"connection_type must be one of: {known}")
    return connection_type


class Requirement(StrictModel):
    """A connection each end user of an App links once, for themselves, before running it."""

    id: Identifier
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    type: Literal["connection"] = "connection"
    connection_type: Annotated[str, AfterValidator(_known_connection_type)] = Field(
        json_schema_extra={"enum": list[JsonValue](sorted(CONNECTION_TYPES))}
    )
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="Shown to the end user when asked to connect"
    )
    description: str = Field(default="", max_length=1000)
    max_age_seconds: int | None = Field(
        default=None,
        ge=MIN_LINK_AGE_SECONDS,
        le=MAX_LINK_AGE_SECONDS,
        description="A link older than this is expired and must be linked again; none: links do not age",
    )
    oauth2: OAuth2Config | None = Field(
        default=None,
        description="For connection_type oauth2 (and only then): the OAuth app, scopes and API base URL",
    )

    @model_validator(mode="after")
    def _oauth2_for_oauth2_only(self) -> Requirement:
        if self.connection_type == "oauth2" and self.oauth2 is None:
            raise PydanticCustomError(
                "missing_oauth2", "a requirement of connection_type oauth2 needs oauth2"
            )
        if self.connection_type != "oauth2" and self.oauth2 is not None:
            raise PydanticCustomError(
                "oauth2_not_allowed", "oauth2 is only for a requirement of connection_type oauth2"
            )
        return self


class WorkflowDefinition(StrictModel):
    """A Switchboard workflow: the connections end users must link, and a DAG of typed nodes."""

    requirements: list[Requirement] = Field(default_factory=list, max_length=MAX_REQUIREMENTS)
    nodes: list[Node] = Field(min_length=1, max_length=MAX_NODES)

    def node(self, node_id: str) -> Node | None:
        return next((node for node in self.nodes if node.id == node_id), None)

    def input_node(self) -> InputNode:
        """The input node of a validated definition (validation guarantees exactly one)."""
        return next(node for node in self.nodes if isinstance(node, InputNode))

    def output_node(self) -> OutputNode:
        """The output node of a validated definition (validation guarantees exactly one)."""
        return next(node for node in self.nodes if isinstance(node, OutputNode))

    def connection_refs(self) -> list[tuple[str, ConnectionRef]]:
        """Each node bound to a connection, in definition order, with how it names that connection."""
        return [
            (node.id, node.connection)
            for node in self.nodes
            if isinstance(node, ConnectableNode) and node.connection is not None
        ]

    def tool_node_ids(self) -> set[str]:
        """Nodes only an agent runs, when its model calls them; they are not scheduled by the DAG."""
        return {tool for node in self.nodes if isinstance(node, AgentNode) for tool in node.config.tools}


def json_schema() -> dict[str, Any]:
    return {"$schema": JSON_SCHEMA_DIALECT, **WorkflowDefinition.model_json_schema()}


def render_json_schema() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        Path(argv[1]).write_text(render_json_schema(), encoding="utf-8")
    else:
        sys.stdout.write(render_json_schema())


if __name__ == "__main__":
    main(sys.argv)
