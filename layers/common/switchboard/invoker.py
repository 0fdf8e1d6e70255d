"""The function-invoker seam: how one function calls another by its template name.

On AWS the default invoker calls Lambda (names come from the environment, e.g. ``!Ref CredentialsFunction``);
the local stack installs its own invoker that routes to the named handler in-process and enforces the same
caller rule as the resource policy. Functions never know which one they get.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from switchboard import aws


class FunctionInvoker(Protocol):
    def invoke(self, function_name: str, payload: dict[str, Any]) -> Any:
        """Invoke synchronously and return the decoded result; raise on a function error."""


class FunctionError(RuntimeError):
    """The invoked function failed; ``payload`` carries its decoded error document when there is one."""

    def __init__(self, function_name: str, payload: Any) -> None:
        super().__init__(f"function {function_name} failed")
        self.payload = payload


class LambdaInvoker:
    def invoke(self, function_name: str, payload: dict[str, Any]) -> Any:
        response = aws.lambda_client().invoke(
            FunctionName=function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps(payload).encode(),
        )
        body = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            raise FunctionError(function_name, body)
        return body


_invoker: FunctionInvoker = LambdaInvoker()


def get_invoker() -> FunctionInvoker:
    return _invoker


def set_invoker(invoker: FunctionInvoker) -> None:
    global _invoker
    _invoker = invoker
