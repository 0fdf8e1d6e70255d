"""Executor: runs one run, invoked directly with ``{"run_id"}`` (it answers ``{"run_id", "status", "run"}``,
the run as it left it) or by the background-run queue (SQS); makes webhook delivery attempts fed by the
delivery queue (bodies ``{"delivery_id", "run_id" | "event_id", "attempt"}``)."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from switchboard.observability import logger, metrics, tracer
from switchboard.runtime.callbacks import public_view
from switchboard.runtime.deliveries import DeliveryMessage, deliver
from switchboard.runtime.runs.execution import ExecuteRequest, execute_run
from switchboard.settings import get_settings

get_settings()
processor = BatchProcessor(event_type=EventType.SQS)


def _execute(request: ExecuteRequest) -> dict[str, Any]:
    """``{"run_id", "status", "run"}``: the run as this call left it, so a sync caller needs no read of it."""
    run = execute_run(request.run_id)
    metrics.add_metric(name=f"Runs{run.status.value.capitalize()}", unit="Count", value=1)
    document = run.model_dump(mode="json")
    if run.callbacks:
        # The callers' bearer tokens never leave in an answer (they leave the record when the run ends).
        document["callbacks"] = [public_view(callback) for callback in run.callbacks]
    return {"run_id": run.id, "status": run.status.value, "run": document}


def _deliver(message: DeliveryMessage) -> dict[str, Any]:
    outcome = deliver(message)
    metrics.add_metric(name=f"Deliveries{outcome.capitalize()}", unit="Count", value=1)
    return {"delivery_id": message.delivery_id, "outcome": outcome}


def _record_handler(record: SQSRecord) -> dict[str, Any]:
    body = json.loads(record.body)
    if isinstance(body, dict) and "delivery_id" in body:
        return _deliver(DeliveryMessage.model_validate(body))
    return _execute(ExecuteRequest.model_validate(body))


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:
        response = process_partial_response(
            event=event, record_handler=_record_handler, processor=processor, context=context
        )
        return dict(response)
    try:
        request = ExecuteRequest.model_validate(event)
    except ValidationError:
        return {"error": {"code": "invalid_request", "message": 'expected {"run_id": …}'}}
    return _execute(request)
