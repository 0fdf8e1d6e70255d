"""Credentials function: resolves a run's connections and the end user's links, and an App's signing secret;
only the executor role (the executor and the dispatcher) may call it.

Invoked with ``{run_id, app_id, user_id?, connection_ids, requirement_ids}`` or ``{kind: "signing_secret",
app_id}``; answers a credentials or signing-secret document, or an error document (see
``switchboard.runtime.credentials.resolving``). It is the one function allowed to
read Secrets Manager, so nothing here logs or traces an event or a response.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchboard.observability import logger, metrics, tracer
from switchboard.runtime.credentials import answer
from switchboard.settings import get_settings

get_settings()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False, capture_error=False)
@metrics.log_metrics
def lambda_handler(event: Any, _context: LambdaContext) -> dict[str, Any]:
    return answer(event)
