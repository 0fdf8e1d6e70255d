"""Reading ``template.yaml`` the way CloudFormation does, for the local stack.

The YAML loader turns the short tags (``!Ref``, ``!Sub``, ``!GetAtt`` …) into their long forms, and
``Template.resolve`` evaluates intrinsic functions with local values: a ``Ref`` to a resource is its logical
id (a queue's is its URL, as on AWS), ``Fn::GetAtt`` yields a plausible fake ARN, pseudo parameters describe
a fake account, and parameters take their ``Default`` unless the caller overrides them.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class TemplateError(ValueError):
    """The template uses something the local stack cannot evaluate."""


class CloudFormationLoader(yaml.SafeLoader):
    """A safe YAML loader that understands CloudFormation's short-form intrinsic tags."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix in ("Ref", "Condition"):
        return {tag_suffix: value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as stream:
        document = yaml.load(stream, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError(f"{path} is not a CloudFormation template (no Resources)")
    return document


@dataclass(frozen=True)
class StackContext:
    """The pseudo parameters of the fake account the local stack pretends to run in."""

    stack_name: str = "switchboard-local"
    region: str = "us-east-1"
    account_id: str = "123456789012"
    partition: str = "aws"
    url_suffix: str = "amazonaws.com"

    def pseudo_parameters(self) -> dict[str, Any]:
        return {
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:{self.partition}:cloudformation:{self.region}:{self.account_id}:"
            f"stack/{self.stack_name}/00000000-0000-0000-0000-000000000000",
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::Partition": self.partition,
            "AWS::URLSuffix": self.url_suffix,
            "AWS::NotificationARNs": [],
        }


NO_VALUE = object()
"""What ``Ref AWS::NoValue`` resolves to; dropped from the mapping or list that holds it."""

_SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")

_ARN_FORMATS = {
    "AWS::DynamoDB::Table": "arn:{p}:dynamodb:{r}:{a}:table/{id}",
    "AWS::Serverless::Function": "arn:{p}:lambda:{r}:{a}:function:{id}",
    "AWS::Lambda::Function": "arn:{p}:lambda:{r}:{a}:function:{id}",
    "AWS::IAM::Role": "arn:{p}:iam::{a}:role/{id}",
    "AWS::SQS::Queue": "arn:{p}:sqs:{r}:{a}:{id}",
    "AWS::SNS::Topic": "arn:{p}:sns:{r}:{a}:{id}",
    "AWS::Logs::LogGroup": "arn:{p}:logs:{r}:{a}:log-group:{id}:*",
    "AWS::S3::Bucket": "arn:{p}:s3:::{id}",
    "AWS::SecretsManager::Secret": "arn:{p}:secretsmanager:{r}:{a}:secret:{id}-local",
}


@dataclass
class Template:
    """A parsed template plus the local values its intrinsic functions resolve to."""

    document: dict[str, Any]
    directory: Path
    parameter_overrides: Mapping[str, str] = field(default_factory=dict)
    context: StackContext = field(default_factory=StackContext)

    @classmethod
    def from_file(
        cls,
        path: Path,
        parameter_overrides: Mapping[str, str] | None = None,
        context: StackContext | None = None,
    ) -> Template:
        return cls(
            load_template(path),
            path.resolve().parent,
            dict(parameter_overrides or {}),
            context or StackContext(),
        )

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.document["Resources"]  # type: ignore[no-any-return]

    @property
    def function_globals(self) -> dict[str, Any]:
        return dict(self.document.get("Globals", {}).get("Function", {}))

    def resources_of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource.get("Type") in types and self._resource_exists(resource)
        }

    def parameter(self, name: str) -> Any:
        if name in self.parameter_overrides:
            return self.parameter_overrides[name]
        definition = self.document.get("Parameters", {}).get(name)
        if definition is None or "Default" not in definition:
            raise TemplateError(f"parameter {name} has no value locally (no Default, no override)")
        default = definition["Default"]
        return default if isinstance(default, list) else str(default)

    def condition(self, name: str) -> bool:
        definition = self.document.get("Conditions", {}).get(name)
        if definition is None:
            raise TemplateError(f"unknown condition {name}")
        return bool(self.resolve(definition))

    def resolve(self, value: Any) -> Any:
        """Evaluate every intrinsic function in ``value`` (recursively)."""
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(argument)
            if key == "Condition":
                return self.condition(argument)
            if key.startswith("Fn::"):
                return self._function(key[4:], argument)
        return {k: item for k, v in value.items() if (item := self.resolve(v)) is not NO_VALUE}

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        pseudo = self.context.pseudo_parameters()
        if name in pseudo:
            return pseudo[name]
        if name in self.document.get("Parameters", {}):
            return self.parameter(name)
        if self.resources.get(name, {}).get("Type") == "AWS::SQS::Queue":
            c = self.context
            return f"https://sqs.{c.region}.{c.url_suffix}/{c.account_id}/{name}"
        resource = self.resources.get(name, {})
        if resource.get("Type") == "AWS::Lambda::Alias":
            # An alias's Ref is its ARN: the function's, qualified by the alias's name.
            properties = resource.get("Properties") or {}
            (function_id,) = references(properties["FunctionName"])
            return f"{self.get_att(function_id, 'Arn')}:{self.resolve(properties['Name'])}"
        function, _, generated = name.partition(".")
        alias = (self.resources.get(function, {}).get("Properties") or {}).get("AutoPublishAlias")
        if generated == "Alias" and alias:
            # SAM's ``<Function>.Alias``: the alias's ARN; locally, the function qualified by the alias.
            return f"{function}:{self.resolve(alias)}"
        # A resource (or one SAM generates, like ``<Api>ApiGatewayDefaultStage``): its name is its id.
        return name

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource_type = self.resources.get(logical_id, {}).get("Type", "")
        c = self.context
        values = {"p": c.partition, "r": c.region, "a": c.account_id, "id": logical_id}
        if attribute == "Arn":
            service = resource_type.split("::")[1].lower() if resource_type.count("::") == 2 else "local"
            default = "arn:{p}:" + service + ":{r}:{a}:{id}"
            return _ARN_FORMATS.get(resource_type, default).format(**values)
        if attribute == "StreamArn":
            return _ARN_FORMATS["AWS::DynamoDB::Table"].format(**values) + "/stream/local"
        if attribute == "QueueUrl":
            return str(self.ref(logical_id))
        if attribute in ("QueueName", "Name", "RoleId", "FunctionName"):
            return logical_id
        return f"{logical_id}.{attribute}"

    def _resource_exists(self, resource: Mapping[str, Any]) -> bool:
        condition = resource.get("Condition")
        return condition is None or self.condition(condition)

    def _function(self, name: str, argument: Any) -> Any:
        handler = getattr(self, f"_fn_{name.lower()}", None)
        if handler is None:
            raise TemplateError(f"Fn::{name} is not supported by the local stack")
        return handler(argument)

    def _fn_getatt(self, argument: Any) -> str:
        logical_id, attribute = self.resolve(argument)
        return self.get_att(logical_id, attribute)

    def _fn_sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], self.resolve(argument[1])
        else:
            text, variables = argument, {}

        def substitute(match: re.Match[str]) -> str:
            expression = match.group(1)
            if expression.startswith("!"):
                return "${" + expression[1:] + "}"
            if expression in variables:
                return str(variables[expression])
            if "." in expression and not expression.startswith("AWS::"):
                logical_id, attribute = expression.split(".", 1)
                return self.get_att(logical_id, attribute)
            return str(self.ref(expression))

        return _SUB_VARIABLE.sub(substitute, text)

    def _fn_join(self, argument: Any) -> str:
        separator, items = self.resolve(argument)
        return str(separator).join(str(item) for item in items)

    def _fn_select(self, argument: Any) -> Any:
        index, items = self.resolve(argument)
        return items[int(index)]

    def _fn_split(self, argument: Any) -> list[str]:
        separator, text = self.resolve(argument)
        return str(text).split(separator)

    def _fn_if(self, argument: Any) -> Any:
        condition, when_true, when_false = argument
        return self.resolve(when_true if self.condition(condition) else when_false)

    def _fn_equals(self, argument: Any) -> bool:
        left, right = self.resolve(argument)
        return str(left) == str(right)

    def _fn_not(self, argument: Any) -> bool:
        (value,) = self.resolve(argument)
        return not value

    def _fn_and(self, argument: Any) -> bool:
        return all(self.resolve(argument))

    def _fn_or(self, argument: Any) -> bool:
        return any(self.resolve(argument))

    def _fn_base64(self, argument: Any) -> str:
        return base64.b64encode(str(self.resolve(argument)).encode()).decode()

    def _fn_findinmap(self, argument: Any) -> Any:
        map_name, top_key, second_key = self.resolve(argument)[:3]
        return self.document.get("Mappings", {})[map_name][top_key][second_key]

    def _fn_getazs(self, argument: Any) -> list[str]:
        region = self.resolve(argument) or self.context.region
        return [f"{region}{zone}" for zone in "abc"]

    def _fn_tojsonstring(self, argument: Any) -> str:
        return json.dumps(self.resolve(argument), separators=(",", ":"))

    def _fn_length(self, argument: Any) -> int:
        return len(self.resolve(argument))


def references(value: Any) -> set[str]:
    """The logical ids ``value`` points at through ``Ref``, ``Fn::GetAtt`` or ``${…}`` in ``Fn::Sub``."""
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= references(item)
    elif isinstance(value, dict):
        for key, argument in value.items():
            if key == "Ref" and isinstance(argument, str):
                found.add(argument)
            elif key == "Fn::GetAtt":
                target = argument.split(".", 1)[0] if isinstance(argument, str) else argument[0]
                found.add(str(target))
            elif key == "Fn::Sub":
                text = argument[0] if isinstance(argument, list) else argument
                for expression in _SUB_VARIABLE.findall(str(text)):
                    if not expression.startswith("!"):
                        found.add(expression.split(".", 1)[0])
                if isinstance(argument, list):
                    found |= references(argument[1:])
            else:
                found |= references(argument)
    return {name for name in found if not name.startswith("AWS::")}
