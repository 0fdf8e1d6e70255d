"""The function-invoker seam: how one function calls another by its template name, and how it works with the
executor's durable executions (start one, answer its callbacks, stop it, ask how it stands).

On AWS the default invoker calls Lambda (names come from the environment, e.g. ``!Ref CredentialsFunction``,
the executor's alias ARN); the local stack installs its own invoker that routes to the named function's
execution environment, runs durable executions through its local durable execution service, and enforces the
same caller rule as the resource policy. Functions never know which one they get.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from switchboard import aws
from switchboard.domain.errors import Conflict, ServiceUnavailable

_THROTTLED = {
    "TooManyRequestsException",
    "ServiceException",
    "EC2ThrottledException",
    "ResourceNotReadyException",
}
_CLOSED = {"ResourceNotFoundException", "CallbackTimeoutException", "InvalidParameterValueException"}


class FunctionInvoker(Protocol):
    def invoke(self, function_name: str, payload: dict[str, Any]) -> Any:
        """Invoke synchronously and return the decoded result; raise on a function error."""

    def start_execution(self, function_name: str, execution_name: str, payload: dict[str, Any]) -> str:
        """Start the durable execution named ``execution_name`` (asynchronously; starting it again is a
        no-op); its ARN. ``InvokeThrottled`` when it cannot be started now."""

    def complete_callback(self, callback_id: str, result: dict[str, Any]) -> None:
        """Answer a waiting callback; ``CallbackClosed`` when it is not waiting any more."""

    def fail_callback(self, callback_id: str, error_type: str, message: str) -> None:
        """Fail a waiting callback; ``CallbackClosed`` when it is not waiting any more."""

    def stop_execution(self, execution_arn: str, error_type: str, message: str) -> None:
        """Stop a running execution (nothing happens to one that has ended)."""

    def execution_status(self, execution_arn: str) -> str | None:
        """``RUNNING``, ``SUCCEEDED``, ``FAILED``, ``TIMED_OUT``, ``STOPPED`` …; None when it is unknown."""


class FunctionError(RuntimeError):
    """The invoked function failed; ``payload`` carries its decoded error document when there is one."""

    def __init__(self, function_name: str, payload: Any) -> None:
        super().__init__(f"function {function_name} failed")
        self.payload = payload


class InvokeThrottled(ServiceUnavailable):
    """The function could not be invoked now (throttled, or the service failed): nothing was started."""


class CallbackClosed(Conflict):
    """The callback is not waiting any more (answered, failed, timed out, or its execution ended)."""


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class LambdaInvoker:
    def invoke(self, function_name: str, payload: dict[str, Any]) -> Any:
        response = aws.lambda_client("invoke").invoke(
            FunctionName=function_name,
            InvocationType="RequestResponse",
            Payload=json.dumps(payload).encode(),
        )
        body = json.loads(response["Payload"].read() or b"null")
        if response.get("FunctionError"):
            raise FunctionError(function_name, body)
        return body

    def start_execution(self, function_name: str, execution_name: str, payload: dict[str, Any]) -> str:
        try:
            response = aws.lambda_client().invoke(
                FunctionName=function_name,
                InvocationType="Event",
                DurableExecutionName=execution_name,
                Payload=json.dumps(payload).encode(),
            )
        except ClientError as error:
            if _code(error) in _THROTTLED:
                raise InvokeThrottled("the executor cannot be started now; retry shortly") from None
            raise
        except BotoCoreError:
            raise InvokeThrottled("the executor could not be reached; retry shortly") from None
        return str(response.get("DurableExecutionArn") or "")

    def complete_callback(self, callback_id: str, result: dict[str, Any]) -> None:
        self._callback(
            "send_durable_execution_callback_success",
            CallbackId=callback_id,
            Result=json.dumps(result).encode(),
        )

    def fail_callback(self, callback_id: str, error_type: str, message: str) -> None:
        self._callback(
            "send_durable_execution_callback_failure",
            CallbackId=callback_id,
            # The waiting code sees the message and the data, not the type: the data carries it.
            Error={"ErrorType": error_type, "ErrorMessage": message, "ErrorData": error_type},
        )

    def _callback(self, operation: str, **arguments: Any) -> None:
        try:
            getattr(aws.lambda_client(), operation)(**arguments)
        except ClientError as error:
            if _code(error) in _CLOSED:
                raise CallbackClosed(
                    "the input request is not waiting any more", code="input_closed"
                ) from None
            if _code(error) in _THROTTLED:
                raise InvokeThrottled("the run could not be resumed now; retry shortly") from None
            raise

    def stop_execution(self, execution_arn: str, error_type: str, message: str) -> None:
        try:
            aws.lambda_client().stop_durable_execution(
                DurableExecutionArn=execution_arn, Error={"ErrorType": error_type, "ErrorMessage": message}
            )
        except ClientError as error:
            if _code(error) not in _CLOSED:
                raise

    def execution_status(self, execution_arn: str) -> str | None:
        try:
            response = aws.lambda_client().get_durable_execution(DurableExecutionArn=execution_arn)
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return None
            raise
        return str(response["Status"])


_invoker: FunctionInvoker = LambdaInvoker()


def get_invoker() -> FunctionInvoker:
    return _invoker


def set_invoker(invoker: FunctionInvoker) -> None:
    global _invoker
    _invoker = invoker
