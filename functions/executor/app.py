"""Executor: a Lambda durable function. Each execution is one run, named after it and started with
``{"run_id"}`` (by the Apps function, the dispatcher or the sweeper); the program is
``switchboard.runtime.runs.program``: checkpointed steps, waits for human input, replays after an
interruption."""

from __future__ import annotations

import contextvars
from typing import Any

from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard.observability import logger, metrics, tracer
from switchboard.runtime.runs import run_program
from switchboard.settings import get_settings

get_settings()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: Any, context: LambdaContext) -> Any:
    # The SDK runs the program on a thread of its own; it runs in this invocation's context variables (the
    # logger's keys, the trace segment), as code on the invocation's own thread would.
    invocation = contextvars.copy_context()

    @durable_execution
    def execution(payload: dict[str, Any], durable_context: DurableContext) -> dict[str, Any]:
        return invocation.run(run_program, payload, durable_context)

    return execution(event, context)  # type: ignore[arg-type]  # Powertools' and the SDK's context types
