"""Lambda-to-Lambda invokes inside the local stack, under the same caller rule as the resource policy.

``LocalInvoker`` satisfies ``switchboard.invoker.FunctionInvoker``: it finds the callee by logical id (what
``Ref`` resolves to locally; an ARN or ``name:qualifier`` works too), checks the allow-list against the
function running in the caller's context, and runs the callee's handler with a fresh context. Payload and
result go through JSON, as they do over the wire, and a handler error surfaces as ``FunctionError`` with
Lambda's error document. A thread a handler starts begins with an empty context: submit work with
``contextvars.copy_context().run`` so the caller stays known.

A durable function (one with ``DurableConfig``) is started by name through the stack's local durable execution
service (``durable.DurableService``), which also answers its callbacks, stops it and tells how it stands.

The allow-list is derived from the template: a callee that an ``AWS::Lambda::Permission`` or an
``AWS::Lambda::ResourcePolicy`` ties to IAM roles of the template may be invoked only by the functions whose
``Role`` is one of those roles; any other function may be invoked by everyone in the stack.
"""

from __future__ import annotations

import json
import sys
import traceback
import uuid
from collections.abc import Mapping
from typing import Any

from switchboard.invoker import CallbackClosed, FunctionError
from switchboard_cli.local.durable import CallbackNotWaiting, DurableService
from switchboard_cli.local.functions import SERVERLESS_FUNCTION, FunctionSpec, LocalFunction, current_function
from switchboard_cli.local.template import Template, references

AllowedCallers = dict[str, set[str]]

_POLICY_TYPES = {
    "AWS::Lambda::Permission": "FunctionName",
    "AWS::Lambda::ResourcePolicy": "ResourceArn",
}


def derive_allowed_callers(template: Template, specs: Mapping[str, FunctionSpec]) -> AllowedCallers:
    functions = set(template.resources_of_type(SERVERLESS_FUNCTION, "AWS::Lambda::Function"))
    roles = set(template.resources_of_type("AWS::IAM::Role"))
    allowed: AllowedCallers = {}
    for resource_type, target_property in _POLICY_TYPES.items():
        for policy in template.resources_of_type(resource_type).values():
            properties = dict(policy.get("Properties", {}))
            callees = references(properties.pop(target_property, None)) & functions
            permitted_roles = references(properties) & roles
            if not permitted_roles:
                continue
            callers = {spec.logical_id for spec in specs.values() if spec.role_references & permitted_roles}
            for callee in callees:
                allowed.setdefault(callee, set()).update(callers)
    return allowed


def function_id_from_name(function_name: str) -> str:
    """``Name``, ``Name:qualifier`` or ``arn:…:function:Name[:qualifier]`` → ``Name``."""
    if function_name.startswith("arn:"):
        return function_name.split(":function:", 1)[-1].split(":", 1)[0]
    return function_name.split(":", 1)[0]


class LocalInvoker:
    def __init__(
        self,
        functions: Mapping[str, LocalFunction],
        allowed_callers: AllowedCallers,
        durable: DurableService | None = None,
    ) -> None:
        self._functions = functions
        self._allowed_callers = allowed_callers
        self._durable = durable

    def invoke(self, function_name: str, payload: dict[str, Any]) -> Any:
        callee = function_id_from_name(function_name)
        function = self._functions.get(callee)
        if function is None:
            raise LookupError(f"function {function_name} does not exist in the local stack")
        caller = current_function.get()
        self.check_allowed(caller, callee)
        request_id = str(uuid.uuid4())
        event = json.loads(json.dumps(payload))
        try:
            result = function.call(event, request_id)
        except Exception as error:
            sys.stderr.write(f"[switchboard local] {callee} raised:\n{traceback.format_exc()}")
            raise FunctionError(
                function_name,
                {
                    "errorMessage": str(error),
                    "errorType": type(error).__name__,
                    "requestId": request_id,
                    "stackTrace": traceback.format_tb(error.__traceback__),
                },
            ) from error
        return json.loads(json.dumps(result))

    def check_allowed(self, caller: str | None, callee: str) -> None:
        allowed = self._allowed_callers.get(callee)
        if allowed is not None and caller not in allowed:
            who = caller or "code running outside any function"
            permitted = ", ".join(sorted(allowed)) or "no function of this stack"
            raise PermissionError(f"{who} is not allowed to invoke {callee} (only {permitted} may)")

    def start_execution(self, function_name: str, execution_name: str, payload: dict[str, Any]) -> str:
        callee = function_id_from_name(function_name)
        if callee not in self._functions:
            raise LookupError(f"function {function_name} does not exist in the local stack")
        self.check_allowed(current_function.get(), callee)
        durable = self._durable_service()
        if not durable.is_durable(callee):
            raise LookupError(f"function {function_name} is not a durable function (it has no DurableConfig)")
        return durable.start(callee, execution_name, json.loads(json.dumps(payload)))

    def complete_callback(self, callback_id: str, result: dict[str, Any]) -> None:
        try:
            self._durable_service().complete_callback(callback_id, json.dumps(result).encode())
        except CallbackNotWaiting:
            raise CallbackClosed("the input request is not waiting any more", code="input_closed") from None

    def fail_callback(self, callback_id: str, error_type: str, message: str) -> None:
        try:
            self._durable_service().fail_callback(callback_id, error_type, message)
        except CallbackNotWaiting:
            raise CallbackClosed("the input request is not waiting any more", code="input_closed") from None

    def stop_execution(self, execution_arn: str, error_type: str, message: str) -> None:
        self._durable_service().stop(execution_arn, error_type, message)

    def execution_status(self, execution_arn: str) -> str | None:
        return self._durable_service().status(execution_arn)

    def _durable_service(self) -> DurableService:
        if self._durable is None:
            raise LookupError("the local stack runs no durable function")
        return self._durable
