"""The AWS call check: every AWS call a function makes in the tests is judged against that function's role.

A botocore ``before-parameter-build`` handler on the session of ``switchboard.aws`` (every client and resource
the code makes) sees each call with its own parameters, before moto answers it; ``HandlerInvoker`` reports
the Lambda calls it routes in-process. A call is attributed to the function whose handler is running (handlers
loaded by ``tests.support.stack.load_function`` run inside ``running``; a nested invoke is the inner
function's), turned into the IAM requests it makes (``dynamodb:UpdateItem`` on the table's ARN with its
``dynamodb:LeadingKeys`` and ``dynamodb:Attributes``, ``kms:Decrypt`` on the key, ``iam:PassRole`` for a
schedule's role …), and each request is judged by ``tests.support.iam.permits`` on the SAM-transformed
template: moto's IAM ignores resource ARNs, so the template is the judge. Names in a request are translated to
the template's through the function's environment (the test's ``CONTROL_TABLE`` value is what the template's
``!Ref ControlTable`` is), so a resource the function was not given is not the template's either.

A denied request is kept in ``denied`` and fails the test that made it (``tests/conftest.py``); verdicts are
cached per distinct request and the template is transformed once, on the first attributed call. Calls made
outside any handler (a test seeding its data) are not judged; neither are calls made on threads that do not
carry the handler's context.
"""

from __future__ import annotations

import functools
import os
import re
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from switchboard_cli.local.kms import KeyAwareTemplate
from switchboard_cli.local.template import StackContext, Template, load_template
from tests.support.iam import function_role, permits, role_statements, statement_covers

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

_running: ContextVar[str | None] = ContextVar("switchboard_running_function", default=None)

Context = tuple[tuple[str, tuple[str, ...]], ...]
"""Condition keys of a request, hashable: ``(("dynamodb:LeadingKeys", ("TOKEN#tok-1",)), ...)``."""


@dataclass(frozen=True)
class Request:
    """One IAM request: the action, the resource's ARN (None when the call does not name it) and its keys."""

    action: str
    arn: str | None
    context: Context = ()


@dataclass(frozen=True)
class Denied:
    function_id: str
    role_id: str
    request: Request
    where: str

    def __str__(self) -> str:
        keys = f" {dict(self.request.context)}" if self.request.context else ""
        return (
            f"{self.function_id} ({self.role_id}) may not {self.request.action} on "
            f"{self.request.arn or '(any resource)'}{keys}\n{self.where}"
        )


@contextmanager
def running(function_id: str) -> Iterator[None]:
    """Attribute the AWS calls made inside to ``function_id`` (the handler running)."""
    token = _running.set(function_id)
    try:
        yield
    finally:
        _running.reset(token)


def function_ids_by_directory(template: Mapping[str, Any]) -> dict[str, str]:
    """``functions/<directory>/`` → the logical id of the function whose code it is: the first declared, when
    two share it (the sync and the background executor: one code, one role, one environment)."""
    found: dict[str, str] = {}
    for logical_id, resource in template["Resources"].items():
        code = str((resource.get("Properties") or {}).get("CodeUri", ""))
        if resource["Type"] == "AWS::Serverless::Function" and code.startswith("functions/"):
            found.setdefault(code.removeprefix("functions/").strip("/"), logical_id)
    return found


# ---------------------------------------------------------------- calls → IAM requests

_S3_ACTIONS = {"HeadObject": "GetObject", "ListObjectsV2": "ListBucket", "ListObjects": "ListBucket"}
_LAMBDA_ACTIONS = {"Invoke": "InvokeFunction", "InvokeAsync": "InvokeFunction"}
_TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "Get": "GetItem"}
_TRANSACT_ACTIONS |= {"ConditionCheck": "ConditionCheckItem"}
_EXPRESSION_WORDS = {"set", "remove", "add", "delete", "and", "or", "not", "between", "in", "size"}
_EXPRESSION_WORDS |= {"attribute_exists", "attribute_not_exists", "attribute_type", "begins_with"}
_EXPRESSION_WORDS |= {"contains", "if_not_exists", "list_append"}
_EXPRESSION_NAME = re.compile(r"(?<![#:\w.])([A-Za-z_]\w*)")


@dataclass
class Names:
    """Where a call's names point in the template: the test's resource names (through the function's
    environment) translated to the template's, ARNs built for the stack the template resolves for."""

    context: StackContext
    aliases: Mapping[str, str]
    hash_keys: Mapping[str, str]

    def name(self, value: str) -> str:
        return self.aliases.get(value, value)

    def arn(self, service: str, resource: str) -> str:
        c = self.context
        return f"arn:{c.partition}:{service}:{c.region}:{c.account_id}:{resource}"


def _plain(value: Any) -> str:
    """A key value as the resource passes it (``"TOKEN#1"``) or in the wire format (``{"S": "TOKEN#1"}``)."""
    if isinstance(value, Mapping) and len(value) == 1:
        return str(next(iter(value.values())))
    return str(value)


def _attributes(params: Mapping[str, Any], key: Mapping[str, Any]) -> list[str]:
    """The top-level attributes an item request names: its key, its item, and its expressions' names."""
    names = {*key, *params.get("Item", {}), *params.get("ExpressionAttributeNames", {}).values()}
    for expression in ("UpdateExpression", "ConditionExpression", "ProjectionExpression"):
        text = params.get(expression)
        if isinstance(text, str):
            found = _EXPRESSION_NAME.findall(text)
            names |= {name for name in found if name.lower() not in _EXPRESSION_WORDS}
    return sorted(names)


def _dynamodb_item_request(action: str, params: Mapping[str, Any], names: Names) -> Request:
    table = names.name(str(params["TableName"]))
    key: Mapping[str, Any] = params.get("Key") or params.get("Item") or {}
    context: dict[str, tuple[str, ...]] = {"dynamodb:Attributes": tuple(_attributes(params, key))}
    hash_key = names.hash_keys.get(table)
    if hash_key is not None and hash_key in key:
        context["dynamodb:LeadingKeys"] = (_plain(key[hash_key]),)
    if "ReturnValues" in params:
        context["dynamodb:ReturnValues"] = (str(params["ReturnValues"]),)
    arn = names.arn("dynamodb", f"table/{table}")
    return Request(f"dynamodb:{action}", arn, tuple(sorted(context.items())))


def _dynamodb(operation: str, params: Mapping[str, Any], names: Names) -> list[Request]:
    if operation in ("TransactWriteItems", "TransactGetItems"):
        return [
            _dynamodb_item_request(_TRANSACT_ACTIONS[kind], body, names)
            for item in params["TransactItems"]
            for kind, body in item.items()
        ]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        return [
            Request(f"dynamodb:{operation}", names.arn("dynamodb", f"table/{names.name(table)}"))
            for table in params["RequestItems"]
        ]
    if operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
        return [_dynamodb_item_request(operation, params, names)]
    resource = f"table/{names.name(str(params['TableName']))}"
    if "IndexName" in params:
        resource += f"/index/{params['IndexName']}"
    return [Request(f"dynamodb:{operation}", names.arn("dynamodb", resource))]


def _secret_arn(secret: str, names: Names) -> str:
    if secret.startswith("arn:"):
        return secret
    # Secrets Manager appends six random characters to a secret's name in its ARN.
    return names.arn("secretsmanager", f"secret:{secret}-AbC123")


def _secretsmanager(operation: str, params: Mapping[str, Any], names: Names) -> list[Request]:
    if operation == "BatchGetSecretValue":
        # IAM asks for BatchGetSecretValue (any resource) and GetSecretValue on each secret.
        secrets = [str(secret) for secret in params.get("SecretIdList", [])]
        return [
            Request("secretsmanager:BatchGetSecretValue", "*"),
            *(Request("secretsmanager:GetSecretValue", _secret_arn(secret, names)) for secret in secrets),
        ]
    secret = params.get("SecretId") or params.get("Name")
    arn = _secret_arn(str(secret), names) if secret else None
    return [Request(f"secretsmanager:{operation}", arn)]


def _kms(operation: str, params: Mapping[str, Any], names: Names) -> list[Request]:
    key = names.name(str(params["KeyId"])) if "KeyId" in params else None
    arn = key if key is None or key.startswith("arn:") else names.arn("kms", f"key/{key}")
    context = tuple(
        (f"kms:EncryptionContext:{name}", (str(value),))
        for name, value in sorted(params.get("EncryptionContext", {}).items())
    )
    return [Request(f"kms:{operation}", arn, context)]


def _function_arn(function: str, names: Names) -> str:
    function = names.name(function)
    return function if function.startswith("arn:") else names.arn("lambda", f"function:{function}")


def _lambda(operation: str, params: Mapping[str, Any], names: Names) -> list[Request]:
    function = params.get("FunctionName")
    arn = _function_arn(str(function), names) if function else None
    return [Request(f"lambda:{_LAMBDA_ACTIONS.get(operation, operation)}", arn)]


def _sqs(operation: str, params: Mapping[str, Any], names: Names) -> list[Request]:
    queue = names.name(str(params.get("QueueUrl", "")))
    arn = names.arn("sqs", queue.rstrip("/").rsplit("/", 1)[-1]) if queue else None
    return [Request(f"sqs:{operation.removesuffix('Batch')}", arn)]


def _s3(operation: str, params: Mapping[str, Any], names: Names) -> list[Request]:
    bucket = names.name(str(params.get("Bucket", "")))
    action = _S3_ACTIONS.get(operation, operation)
    if "Key" in params:
        return [Request(f"s3:{action}", f"arn:{names.context.partition}:s3:::{bucket}/{params['Key']}")]
    return [Request(f"s3:{action}", f"arn:{names.context.partition}:s3:::{bucket}" if bucket else None)]


def _scheduler(operation: str, params: Mapping[str, Any], names: Names) -> list[Request]:
    requests = [Request(f"scheduler:{operation}", None)]
    if "Name" in params:
        group = names.name(str(params.get("GroupName") or "default"))
        arn = names.arn("scheduler", f"schedule/{group}/{params['Name']}")
        requests = [Request(f"scheduler:{operation}", arn)]
    role = (params.get("Target") or {}).get("RoleArn")
    if role:
        # Scheduler is who the role is passed to (what a PassRole grant's iam:PassedToService names).
        passed_to = (("iam:PassedToService", ("scheduler.amazonaws.com",)),)
        requests.append(Request("iam:PassRole", names.name(str(role)), passed_to))
    return requests


_SERVICES: dict[str, Callable[[str, Mapping[str, Any], Names], list[Request]]] = {
    "dynamodb": _dynamodb,
    "secretsmanager": _secretsmanager,
    "kms": _kms,
    "lambda": _lambda,
    "sqs": _sqs,
    "s3": _s3,
    "scheduler": _scheduler,
}


def requests_of(service: str, operation: str, params: Mapping[str, Any], names: Names) -> list[Request]:
    """The IAM requests one API call makes (a service not listed here: its action, on no known resource)."""
    derive = _SERVICES.get(service)
    if derive is None:
        return [Request(f"{service}:{operation}", None)]
    return derive(operation, params, names)


# ---------------------------------------------------------------- the check


@dataclass
class CallCheck:
    """Judges the calls of running handlers against their roles in ``load()``'s transformed template."""

    load: Callable[[], Template]
    denied: list[Denied] = field(default_factory=list)
    _template: Template | None = None
    _hash_keys: dict[str, str] = field(default_factory=dict)
    _resource_policy_keys: frozenset[str] = frozenset()
    _condition_keys: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    _verdicts: dict[tuple[str, Request], bool] = field(default_factory=dict)
    _names: dict[tuple[str, tuple[str | None, ...]], Names] = field(default_factory=dict)

    @property
    def template(self) -> Template:
        if self._template is None:
            self._template = self.load()
            self._hash_keys = hash_keys(self._template)
            self._resource_policy_keys = condition_keys(
                [
                    resource["Properties"]
                    for resource in self._template.resources_of_type(
                        "AWS::Lambda::ResourcePolicy", "AWS::KMS::Key"
                    ).values()
                ]
            )
        return self._template

    def names(self, function_id: str) -> Names:
        """The function's names: what the test's environment gives it, as the template's values."""
        cfn = self.template
        variables = cfn.resources[function_id]["Properties"].get("Environment", {}).get("Variables", {})
        here = tuple(os.environ.get(name) for name in variables)
        key = (function_id, here)
        if key not in self._names:
            template_values = [cfn.resolve(value) for value in variables.values()]
            aliases = {
                value: str(template_value)
                for value, template_value in zip(here, template_values, strict=True)
                if value and isinstance(template_value, str)
            }
            self._names[key] = Names(cfn.context, aliases, self._hash_keys)
        return self._names[key]

    def keys_read(self, role_id: str, action: str) -> frozenset[str]:
        """The condition keys that can change the verdict on the role's ``action``."""
        if (role_id, action) not in self._condition_keys:
            statements = role_statements(self.template.resources, role_id)
            own = condition_keys(
                [statement for statement in statements if statement_covers(statement, action)]
            )
            self._condition_keys[role_id, action] = own | self._resource_policy_keys
        return self._condition_keys[role_id, action]

    def on_call(self, service: str, operation: str, params: Mapping[str, Any]) -> None:
        """Judge one API call, if a handler is running (what the botocore handler and the invoker call)."""
        function_id = _running.get()
        if function_id is None:
            return
        role_id = function_role(self.template.resources, function_id)
        for asked in requests_of(service, operation, params, self.names(function_id)):
            # Only the keys some condition of the template reads can change a verdict: the rest are dropped,
            # so the verdict of a request is computed once, whatever item it names.
            read = self.keys_read(role_id, asked.action)
            used = tuple((name, values) for name, values in asked.context if name.lower() in read)
            request = Request(asked.action, asked.arn, used)
            key = (role_id, request)
            if key not in self._verdicts:
                context = {name: list(values) for name, values in request.context}
                self._verdicts[key] = permits(self.template, role_id, request.action, request.arn, context)
            if not self._verdicts[key]:
                where = _where()
                self.denied.append(Denied(function_id, role_id, request, where))

    def before_parameter_build(self, params: Mapping[str, Any], model: Any, **_: Any) -> None:
        """The botocore handler: the call's service (its signing name is the IAM prefix) and operation."""
        self.on_call(model.service_model.signing_name, model.name, params)

    def observe(self, session: Any) -> Any:
        """Register the handler on a boto3 session (before its clients are made: they copy its events)."""
        session.events.register("before-parameter-build", self.before_parameter_build)
        return session

    def wrap(self, function_id: str, handler: Callable[..., Any]) -> Callable[..., Any]:
        """The handler, with the calls it makes attributed to ``function_id``."""

        @functools.wraps(handler)
        def attributed(event: Any, context: Any) -> Any:
            with running(function_id):
                return handler(event, context)

        return attributed


def _where() -> str:
    """The project's frames that led to the call (the SDK's and the check's own left out)."""
    frames = [
        frame
        for frame in traceback.extract_stack()
        if "site-packages" not in frame.filename and frame.filename != __file__
    ]
    return "".join(traceback.format_list(frames[-6:]))


def condition_keys(document: Any) -> frozenset[str]:
    """Every condition key (lower case) a policy statement of the template reads."""
    if isinstance(document, list):
        return frozenset().union(*(condition_keys(item) for item in document))
    if not isinstance(document, dict):
        return frozenset()
    condition = (document.get("Condition") or {}) if "Effect" in document else {}
    found = {key.lower() for comparisons in condition.values() for key in comparisons}
    return frozenset(found).union(*(condition_keys(value) for value in document.values()))


def hash_keys(cfn: Template) -> dict[str, str]:
    """Table name in the template → its partition key attribute."""
    found: dict[str, str] = {}
    for logical_id, table in cfn.resources_of_type("AWS::DynamoDB::Table").items():
        properties = table["Properties"]
        name = str(cfn.resolve(properties.get("TableName", {"Ref": logical_id})))
        (hash_key,) = [key["AttributeName"] for key in properties["KeySchema"] if key["KeyType"] == "HASH"]
        found[name] = hash_key
    return found


@functools.cache
def directory_functions() -> dict[str, str]:
    """``functions/<directory>/`` → logical id, from template.yaml as written (no transform needed)."""
    return function_ids_by_directory(load_template(TEMPLATE))


@functools.cache
def transformed_template() -> Template:
    """template.yaml through SAM's translator, its names resolved as the tests' environment gives them."""
    from tests.infra.conftest import transform  # the SAM translator, run once, when a handler first calls AWS

    return KeyAwareTemplate(transform({}), TEMPLATE.parent, {}, StackContext())


CHECK = CallCheck(transformed_template)
"""The suite's one check (``tests/conftest.py`` observes ``switchboard.aws``'s sessions with it)."""
