"""Dispatcher: the executor's queue side, under the executor's role. It starts the background runs of the run
queue (each as its durable execution: a message delivered twice starts it once), makes the webhook delivery
attempts of the delivery queue, and sweeps unfinished runs every minute (an EventBridge Scheduler rate
schedule invokes it with ``{"sweep": true}``). What an invocation is and what it does is
``runs.handle_invocation``'s; this module wires Powertools' batch processor to it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard.observability import logger, metrics, tracer
from switchboard.runtime.runs import handle_invocation, handle_record
from switchboard.settings import get_settings

get_settings()
processor = BatchProcessor(event_type=EventType.SQS)


def _record_handler(record: SQSRecord) -> dict[str, Any]:
    return handle_record(record.body)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def process_batch() -> dict[str, Any]:
        return dict(
            process_partial_response(
                event=event, record_handler=_record_handler, processor=processor, context=context
            )
        )

    return handle_invocation(event, process_batch)
