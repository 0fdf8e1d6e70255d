"""Trigger function: fires triggers. EventBridge Scheduler invokes it with a schedule's input
``{trigger_id, scheduled_time, execution_id}``; the Apps function with an event posted to a webhook trigger
``{trigger_id, app_id, webhook}``. It answers the firing's event or a refusal (see
``switchboard.runtime.triggers.contract``); a failure worth retrying is raised, so Scheduler retries it.

It decrypts a webhook trigger's signing secret (its role alone may; ``runtime.triggers.secrets``), so nothing
here logs or traces an event or a response.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard.observability import logger, metrics, tracer
from switchboard.runtime.triggers import answer
from switchboard.settings import get_settings

get_settings()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: Any, _context: LambdaContext) -> dict[str, Any]:
    return answer(event)
