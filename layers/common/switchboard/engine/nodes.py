"""Node models of the workflow definition language: one model per node type, each with a typed config.

Structure only: every rule that needs more than one node (the graph, references, connections) lives in
``switchboard.engine.validation``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, Self, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from switchboard.engine import checks
from switchboard.engine.references import INPUT_ROOT

IDENTIFIER_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
CONNECTION_ID_PATTERN = r"^con-[a-z0-9]{1,64}$"
HEADER_NAME_PATTERN = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$"
MAX_TEXT = 100_000
MAX_HUMAN_WAIT_SECONDS = 86_400
DEFAULT_VALUE_BYTES = 1024 * 1024
MAX_VALUE_BYTES = 8 * 1024 * 1024


def _not_reserved(node_id: str) -> str:
    if node_id == INPUT_ROOT:
        raise PydanticCustomError("reserved_node_id", "'input' is reserved for run input references")
    return node_id


Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
NodeId = Annotated[Identifier, AfterValidator(_not_reserved)]
NodeIds = Annotated[list[Identifier], AfterValidator(checks.unique_items)]
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
ReferenceText = Annotated[str, StringConstraints(max_length=512), AfterValidator(checks.reference_string)]
JmespathText = Annotated[
    str, StringConstraints(min_length=1, max_length=4096), AfterValidator(checks.jmespath_expression)
]
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT)]


class StrictModel(BaseModel):
    """Definitions come from JSON: no coercion ("1" is not 1) and no unknown fields. Schemas are built on
    first use (a definition is validated), not at import."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)


def _exactly_one(model: BaseModel, *names: str) -> None:
    if sum(getattr(model, name) is not None for name in names) != 1:
        quoted = ", ".join(f"'{name}'" for name in names)
        raise PydanticCustomError("exactly_one_of", f"exactly one of {quoted} is required")


class ConnectionRef(StrictModel):
    """Exactly one of: a project connection shared by every run, or a requirement each end user links."""

    model_config = ConfigDict(
        json_schema_extra={"oneOf": [{"required": ["connection_id"]}, {"required": ["requirement"]}]}
    )

    connection_id: str | None = Field(default=None, pattern=CONNECTION_ID_PATTERN)
    requirement: Identifier | None = None

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        _exactly_one(self, "connection_id", "requirement")
        return self


class ErrorHandling(StrictModel):
    timeout_seconds: int = Field(default=30, ge=1, le=900, description="Per attempt")
    retries: int = Field(default=0, ge=0, le=10, description="Attempts after the first")
    backoff_seconds: float = Field(default=1.0, ge=0, le=300, description="Wait before the first retry")
    backoff_multiplier: float = Field(
        default=2.0, ge=1, le=10, description="Each later wait is multiplied by it"
    )
    behavior: Literal["raise", "return"] = Field(
        default="raise",
        description="raise: the run fails; return: the error becomes the node's output and the run goes on",
    )


class NodeBase(StrictModel):
    id: NodeId
    type: str
    description: str | None = Field(default=None, max_length=1000)

    accepted_connection_types: ClassVar[frozenset[str]] = frozenset()
    connection_required: ClassVar[bool] = False

    def dependency_ids(self) -> list[str]:
        return []


InputFieldType = Literal["string", "number", "integer", "boolean", "object", "array", "file"]


class InputField(StrictModel):
    name: Name
    type: InputFieldType = "string"
    required: bool = False
    description: str | None = Field(default=None, max_length=1000)
    default: Any = None

    @model_validator(mode="after")
    def _default_fits(self) -> Self:
        if self.default is None:
            return self
        if self.required:
            raise PydanticCustomError("default_on_required_field", "a required field cannot have a default")
        if not _fits(self.type, self.default):
            raise PydanticCustomError("default_type_mismatch", f"the default is not a valid '{self.type}'")
        return self


def _fits(field_type: str, value: object) -> bool:
    if isinstance(value, bool):
        return field_type == "boolean"
    expected: dict[str, type | tuple[type, ...]] = {
        "string": str,
        "number": (int, float),
        "integer": int,
        "object": dict,
        "array": list,
    }
    return field_type in expected and isinstance(value, expected[field_type])


class InputNode(NodeBase):
    type: Literal["input"]
    fields: list[InputField] = Field(default_factory=list, max_length=100)


class OutputNode(NodeBase):
    type: Literal["output"]
    depends: NodeIds = Field(default_factory=list, description="Nodes that must finish before this one")
    mappings: dict[Name, ReferenceText] = Field(
        min_length=1, max_length=100, description="Each key of the run result, with the reference it takes"
    )

    def dependency_ids(self) -> list[str]:
        return list(self.depends)


class StepNode(NodeBase):
    """A node that does work: it can wait for others, take inputs and retry."""

    depends: NodeIds = Field(default_factory=list, description="Nodes that must finish before this one")
    inputs: dict[Name, Any] = Field(
        default_factory=dict,
        max_length=100,
        description="Each name bound to a reference ('$.input.x', '$.node.output.y') or a literal JSON value",
    )
    error_handling: ErrorHandling = Field(default_factory=ErrorHandling)
    max_value_bytes: int = Field(
        default=DEFAULT_VALUE_BYTES,
        ge=1,
        le=MAX_VALUE_BYTES,
        description="The largest value (UTF-8 bytes of text, else compact JSON) a template, JMESPath "
        "expression or templated config may compute; more fails the node with output_too_large",
    )

    def dependency_ids(self) -> list[str]:
        return list(self.depends)


class ConnectableNode(StepNode):
    connection: ConnectionRef | None = None


class TransformConfig(StrictModel):
    template: Text | None = None
    jmespath: JmespathText | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        _exactly_one(self, "template", "jmespath")
        return self


class TransformNode(StepNode):
    type: Literal["transform"]
    config: TransformConfig


class HttpRequestConfig(StrictModel):
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"] | None = None
    url: str | None = Field(default=None, max_length=2048, pattern=r"^(https?://|\$\.)")
    path: str | None = Field(default=None, max_length=2048, pattern=r"^(/|\$\.)")
    headers: dict[Annotated[str, StringConstraints(pattern=HEADER_NAME_PATTERN)], str] = Field(
        default_factory=dict
    )
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    body: Any = None
    success_codes: list[Annotated[int, Field(ge=100, le=599)]] | None = Field(default=None, min_length=1)
    response_format: Literal["json", "text", "auto"] = "auto"


class HttpNode(ConnectableNode):
    type: Literal["http"]
    config: HttpRequestConfig = Field(default_factory=HttpRequestConfig)

    accepted_connection_types = frozenset({"http", "http_api_key", "oauth2"})


class Message(StrictModel):
    role: Literal["system", "user", "assistant"]
    content: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]


ModelName = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class LlmConfig(StrictModel):
    model: ModelName
    messages: list[Message] = Field(min_length=1, max_length=100)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)
    stream: bool = False


class LlmNode(ConnectableNode):
    type: Literal["llm"]
    config: LlmConfig

    accepted_connection_types = frozenset({"openai"})
    connection_required = True


TOOL_NODE_TYPES = frozenset({"http", "transform", "llm"})


class AgentConfig(StrictModel):
    model: ModelName
    instructions: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]
    max_loops: int = Field(default=10, ge=1, le=50)
    tools: NodeIds = Field(default_factory=list, max_length=50)


class AgentNode(ConnectableNode):
    type: Literal["agent"]
    config: AgentConfig

    accepted_connection_types = frozenset({"openai"})
    connection_required = True


class Branch(StrictModel):
    when: JmespathText = Field(description="JMESPath over the node's inputs; truthy selects the branch")
    next: NodeIds = Field(min_length=1)


class ChoiceConfig(StrictModel):
    branches: list[Branch] = Field(min_length=1, max_length=50)
    default: NodeIds = Field(default_factory=list)


class ChoiceNode(StepNode):
    type: Literal["choice"]
    config: ChoiceConfig

    def branch_targets(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Every node the choice can select, with its location inside ``config``."""
        targets: list[tuple[tuple[str | int, ...], str]] = []
        for b, branch in enumerate(self.config.branches):
            targets.extend((("branches", b, "next", t), target) for t, target in enumerate(branch.next))
        targets.extend((("default", t), target) for t, target in enumerate(self.config.default))
        return targets


class ValidatorConfig(StrictModel):
    json_schema: Annotated[dict[str, Any], AfterValidator(checks.json_schema_document)] | None = None
    regex: Annotated[str, StringConstraints(max_length=4096), AfterValidator(checks.regex_pattern)] | None = (
        None
    )
    input: ReferenceText | None = Field(
        default=None, description="What to check; the node's inputs if omitted"
    )

    @model_validator(mode="after")
    def _one_rule(self) -> Self:
        _exactly_one(self, "json_schema", "regex")
        return self


class ValidatorNode(StepNode):
    type: Literal["validator"]
    config: ValidatorConfig


class HumanInputConfig(StrictModel):
    kind: Literal["approval", "feedback"] = Field(
        description="approval: a person approves or rejects (and may edit editable_params); "
        "feedback: they write an answer"
    )
    prompt: Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)] = Field(
        description="What the person is asked: a template rendered with the node's inputs (a reference is "
        "shown as its value, never rendered)"
    )
    params: dict[Name, Any] = Field(
        default_factory=dict,
        max_length=100,
        description="Values shown with the request: references ('$.node.output.x') or literal JSON",
    )
    editable_params: Annotated[list[Name], AfterValidator(checks.unique_items)] = Field(
        default_factory=list, description="The params an approval may change (approval only)"
    )
    timeout_seconds: int = Field(
        default=3600,
        ge=1,
        le=MAX_HUMAN_WAIT_SECONDS,
        description="How long the request stays open; unanswered, the node fails with input_timeout "
        "(never longer than the run's own deadline)",
    )

    @model_validator(mode="after")
    def _editable_are_params(self) -> Self:
        unknown = [name for name in self.editable_params if name not in self.params]
        if unknown:
            raise PydanticCustomError(
                "unknown_editable_param", f"editable_params must name params: {', '.join(unknown)}"
            )
        if self.editable_params and self.kind != "approval":
            raise PydanticCustomError("editable_params_need_approval", "only an approval has editable_params")
        return self


class HumanInputNode(StepNode):
    """Pauses the run until a person answers (``POST /v1/runs/{id}/input``) or the request times out."""

    type: Literal["human_input"]
    config: HumanInputConfig

    @model_validator(mode="after")
    def _no_retries(self) -> Self:
        if self.error_handling.retries:
            raise PydanticCustomError("human_input_retries", "a human_input node cannot retry")
        return self


AnyNode = (
    InputNode
    | OutputNode
    | TransformNode
    | HttpNode
    | LlmNode
    | AgentNode
    | ChoiceNode
    | ValidatorNode
    | HumanInputNode
)
Node = Annotated[AnyNode, Field(discriminator="type")]
NODE_TYPES: tuple[str, ...] = tuple(
    get_args(model.model_fields["type"].annotation)[0] for model in get_args(AnyNode)
)
