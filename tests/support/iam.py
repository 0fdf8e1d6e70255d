"""IAM evaluation over the SAM-transformed template, for the template tests and the AWS call check.

What a role may do is read from the statements that apply to it (inline policies and attached
``AWS::IAM::Policy`` resources), with their resources evaluated by ``Template.resolve``. ``permits`` decides
one request as IAM would for this stack: an Allow of the role covers the action, the resource and its
conditions; no Deny of the role applies; and no resource-based policy of the stack (a Lambda function's
``AWS::Lambda::ResourcePolicy``, a KMS key's ``KeyPolicy``) denies the role's principal. Conditions are
evaluated for the operators the template uses (``String*``, ``Arn*``, ``Bool``, ``Null``, with
``ForAllValues:``/``ForAnyValue:`` and ``...IfExists``), keys compared case-insensitively, a key absent from
the request behaving as IAM documents (a negated or ``IfExists`` operator holds, ``ForAllValues`` holds, any
other fails). An operator it does not know fails the request, so a check never passes by ignorance.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from switchboard_cli.local.template import Template, references

Statement = dict[str, Any]
RequestContext = Mapping[str, str | list[str]]
"""Condition keys of one request (``dynamodb:LeadingKeys``, ``aws:PrincipalArn`` …) and their values."""


@cache
def _wildcard_regex(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern)
    return re.compile(regex, flags=re.IGNORECASE if ignore_case else 0)


def wildcard_match(pattern: str, value: str, *, ignore_case: bool) -> bool:
    """IAM wildcard matching: ``*`` is any run of characters, ``?`` any one; nothing else is special."""
    return _wildcard_regex(pattern, ignore_case).fullmatch(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    """Whether an ``Action`` entry covers ``action`` (IAM compares action names case-insensitively)."""
    return wildcard_match(pattern, action, ignore_case=True)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statement_covers(statement: Statement, action: str) -> bool:
    """Whether the statement applies to ``action``, whatever its effect (``NotAction`` included)."""
    if "NotAction" in statement:
        return not any(action_matches(pattern, action) for pattern in as_list(statement["NotAction"]))
    return any(action_matches(pattern, action) for pattern in as_list(statement.get("Action", [])))


def allows(statement: Statement, action: str) -> bool:
    return statement.get("Effect") == "Allow" and statement_covers(statement, action)


def statement_resources(statement: Statement, template: Template) -> list[str]:
    """The statement's resources with intrinsics evaluated; a ``NotResource`` counts as ``*``."""
    if "NotResource" in statement:
        return ["*"]
    return [str(resource) for resource in as_list(template.resolve(statement.get("Resource", [])))]


def role_statements(resources: dict[str, Any], role_id: str) -> list[Statement]:
    """Every statement that applies to the role: its inline policies and the policies attached to it."""
    documents = [policy["PolicyDocument"] for policy in resources[role_id]["Properties"].get("Policies", [])]
    documents += [
        resource["Properties"]["PolicyDocument"]
        for resource in resources.values()
        if resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
        and {"Ref": role_id} in resource["Properties"].get("Roles", [])
    ]
    return [statement for document in documents for statement in as_list(document["Statement"])]


def roles(resources: dict[str, Any]) -> list[str]:
    return sorted(
        logical_id for logical_id, resource in resources.items() if resource["Type"] == "AWS::IAM::Role"
    )


def roles_allowed(resources: dict[str, Any], actions: Iterable[str]) -> set[str]:
    """Roles with an Allow statement covering any of ``actions`` on some resource."""
    return {
        role_id
        for role_id in roles(resources)
        for statement in role_statements(resources, role_id)
        if any(allows(statement, action) for action in actions)
    }


def function_role(resources: dict[str, Any], function_id: str) -> str:
    role = resources[function_id]["Properties"]["Role"]
    assert "Fn::GetAtt" in role, f"{function_id} uses a role from outside the stack: {role}"
    return str(role["Fn::GetAtt"][0])


def allowed_on(cfn: Template, statements: list[Statement], action: str, arn: str) -> bool:
    """Whether some Allow covers ``action`` on ``arn``, conditions aside (see ``permits`` for them)."""
    return any(
        wildcard_match(resource, arn, ignore_case=False)
        for statement in statements
        if allows(statement, action)
        for resource in statement_resources(statement, cfn)
    )


# ---------------------------------------------------------------- conditions

_STRING_TESTS = {
    "StringEquals": lambda pattern, value: pattern == value,
    "StringEqualsIgnoreCase": lambda pattern, value: pattern.lower() == value.lower(),
    "StringLike": lambda pattern, value: wildcard_match(pattern, value, ignore_case=False),
    "ArnEquals": lambda pattern, value: pattern == value,
    "ArnLike": lambda pattern, value: wildcard_match(pattern, value, ignore_case=False),
    "Bool": lambda pattern, value: pattern.lower() == value.lower(),
}
_NEGATIONS = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


class UnknownConditionOperator(ValueError):
    """A condition operator this evaluator does not implement (the request is then not permitted)."""


def _values(context: RequestContext, key: str) -> list[str] | None:
    for name, value in context.items():
        if name.lower() == key.lower():
            return [str(item) for item in as_list(value)]
    return None


def condition_holds(operator: str, key: str, expected: Any, context: RequestContext) -> bool:
    """One ``operator: {key: expected}`` entry of a ``Condition`` block, against the request's context."""
    qualifier, _, base = operator.rpartition(":")
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    patterns = [str(pattern) for pattern in as_list(expected)]
    values = _values(context, key)
    if base == "Null":
        return (values is None) == (patterns[0].lower() == "true")
    negated = base in _NEGATIONS
    test = _STRING_TESTS.get(_NEGATIONS.get(base, base))
    if test is None or qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise UnknownConditionOperator(operator)
    if values is None:
        return if_exists or negated or qualifier == "ForAllValues"

    def matches(value: str) -> bool:
        found = any(test(pattern, value) for pattern in patterns)
        return not found if negated else found

    if qualifier == "ForAllValues":
        return all(matches(value) for value in values)
    return any(matches(value) for value in values)


def conditions_hold(statement: Statement, context: RequestContext, cfn: Template) -> bool:
    condition = cfn.resolve(statement.get("Condition") or {})
    return all(
        condition_holds(operator, key, expected, context)
        for operator, comparisons in condition.items()
        for key, expected in comparisons.items()
    )


# ---------------------------------------------------------------- one request


def _applies(
    statement: Statement, action: str, arn: str | None, cfn: Template, context: RequestContext
) -> bool:
    if not statement_covers(statement, action):
        return False
    if arn is not None and not any(
        wildcard_match(resource, arn, ignore_case=False) for resource in statement_resources(statement, cfn)
    ):
        return False
    try:
        return conditions_hold(statement, context, cfn)
    except UnknownConditionOperator:
        # An Allow it cannot judge allows nothing; a Deny it cannot judge denies.
        return statement.get("Effect") == "Deny"


def resource_policy_statements(cfn: Template, arn: str) -> list[Statement]:
    """Statements of the stack's resource-based policies on ``arn``: a function's (any version or alias of it
    included) and a KMS key's (whose ``Resource: "*"`` means the key itself)."""
    found: list[Statement] = []
    for policy in cfn.resources_of_type("AWS::Lambda::ResourcePolicy").values():
        (function_id,) = references(policy["Properties"]["ResourceArn"])
        function_arn = cfn.get_att(function_id, "Arn")
        if arn == function_arn or arn.startswith(f"{function_arn}:"):
            found += as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    for key_id, key in cfn.resources_of_type("AWS::KMS::Key").items():
        if arn == cfn.get_att(key_id, "Arn"):
            found += [
                {**statement, "Resource": arn if statement.get("Resource") == "*" else statement["Resource"]}
                for statement in as_list(key["Properties"]["KeyPolicy"]["Statement"])
            ]
    return found


def permits(
    cfn: Template, role_id: str, action: str, arn: str | None, context: RequestContext | None = None
) -> bool:
    """Whether the role may make the request (``arn`` None: the resource is not known, so any resource its
    Allow names will do), as IAM evaluates it in this stack."""
    request = {**(context or {}), "aws:PrincipalArn": cfn.get_att(role_id, "Arn")}
    own = role_statements(cfn.resources, role_id)
    on_resource = resource_policy_statements(cfn, arn) if arn is not None else []
    denied = any(
        statement.get("Effect") == "Deny" and _applies(statement, action, arn, cfn, request)
        for statement in [*own, *on_resource]
    )
    allowed = any(
        statement.get("Effect") == "Allow" and _applies(statement, action, arn, cfn, request)
        for statement in own
    )
    return allowed and not denied
