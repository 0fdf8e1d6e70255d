"""The dispatcher's typed entry (no AWS): an invocation is a queue batch (handed to the batch processor) or a
sweep request, and a queue message is the model it validates as, a run to start or a delivery attempt.
A sweep that sweeps is proven on moto (``tests/integration/test_run_sweeper.py``)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from switchboard.runtime.runs import QueueMessage, handle_invocation

RUN_ID = "run-0123456789abcdefghij"
DELIVERY_ID = "dlv-abcdefghijklmnopqrst"


class _Batch:
    """Stands in for Powertools' batch processor: records that it was asked, answers no failure."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        return {"batchItemFailures": []}


def test_a_queue_batch_goes_to_the_batch_processor_and_a_malformed_event_goes_nowhere() -> None:
    # Given an SQS event with one record, and events that are neither a batch nor a sweep request
    batch = {"Records": [{"messageId": "m-1", "body": json.dumps({"run_id": RUN_ID})}]}
    malformed = ({"Records": "not a list"}, {"sweep": True, "look_ahead_seconds": 301}, {"sweep": "yes"})
    processor = _Batch()
    # When the batch is handled
    answer = handle_invocation(batch, processor)
    # Then the batch processor handled it once and its answer is the invocation's
    assert (answer, processor.calls) == ({"batchItemFailures": []}, 1)
    # When each malformed event is handled, Then it is refused and the batch processor is not asked
    for event in malformed:
        with pytest.raises(ValidationError):
            handle_invocation(event, processor)
    assert processor.calls == 1


def test_a_queue_message_is_the_model_it_validates_as() -> None:
    # Given a run queue message, a delivery message of a run's callback, and a run message with a stray field
    run = json.dumps({"run_id": RUN_ID})
    delivery = json.dumps({"delivery_id": DELIVERY_ID, "run_id": RUN_ID, "attempt": 1})
    stray = json.dumps({"run_id": RUN_ID, "attempt": 1})
    # When each is parsed
    as_run, as_delivery = QueueMessage.parse(run), QueueMessage.parse(delivery)
    # Then the run message names a run to start, the delivery message an attempt to make
    assert (as_run.run is not None, as_run.delivery) == (True, None)
    assert as_run.run is not None
    assert as_run.run.run_id == RUN_ID
    assert as_delivery.run is None
    assert as_delivery.delivery is not None
    assert (as_delivery.delivery.delivery_id, as_delivery.delivery.attempt) == (DELIVERY_ID, 1)
    # ... and the message that is neither is refused
    with pytest.raises(ValidationError):
        QueueMessage.parse(stray)
