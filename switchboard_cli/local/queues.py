"""SQS on the local stack: queues named as CloudFormation names them, and Lambda's SQS event source mapping.

Names. ``QueueAwareTemplate`` resolves a queue's ``Ref`` (its URL), ``Arn`` and ``QueueName`` from the name
the queue really gets: its ``QueueName`` if set, else its logical id (plus ``.fifo`` for a FIFO queue; on AWS
CloudFormation would add the stack name and a random suffix). ``aws_backend.create_queues`` creates each queue
under that name and checks that moto's ``QueueUrl`` is exactly the ``Ref`` the functions' environment holds.

Event sources. Every ``Type: SQS`` event of a function (and every ``AWS::Lambda::EventSourceMapping`` whose
source is a queue of the template) gets one daemon poller thread. It long-polls its queue for at most
``POLL_WAIT_S`` at a time, so it notices ``stop`` within about a second; receives up to ``BatchSize``
messages with the queue's own visibility timeout; and calls the handler through ``LocalFunction.call``
(the same execution-environment pool, ``current_function`` and Lambda context as HTTP and
Lambda-to-Lambda calls),
with the event Lambda builds (``{"Records": [...]}``). Then, like Lambda:

- the handler returned: every message is deleted, except that with ``ReportBatchItemFailures`` the
  messages named in ``batchItemFailures`` stay; a malformed response (an identifier that is empty, missing
  or not in the batch, a result that is not a JSON object) fails the whole batch, as on AWS;
- the handler raised, could not be loaded, or returned something that is not JSON: the whole batch stays.

Retry rule: a message that stays becomes visible again after ``min(VisibilityTimeout, RETRY_DELAY_CAP_S)``
seconds, and never sooner than ``RETRY_DELAY_FLOOR_S``. On AWS it would wait out the whole visibility
timeout (often minutes), which locally only makes a failing run slow to retry; the floor keeps a queue with
``VisibilityTimeout: 0`` from spinning. moto counts receives and, when a message is received again after
``maxReceiveCount`` receives, moves it to the dead-letter queue of the queue's ``RedrivePolicy``, as SQS does.

Not emulated: more than one batch in flight per mapping (each function handles one invocation at a time
locally anyway), ``MaximumBatchingWindowInSeconds`` (a batch leaves as soon as messages are there),
``FilterCriteria`` (reported at start, then ignored: every message is delivered), function timeouts.
"""

from __future__ import annotations

import base64
import json
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from switchboard import aws
from switchboard_cli.local.functions import SERVERLESS_FUNCTION, FunctionInitError, LocalFunction
from switchboard_cli.local.invoker import function_id_from_name
from switchboard_cli.local.template import Template

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import MessageTypeDef

SQS_QUEUE = "AWS::SQS::Queue"
EVENT_SOURCE_MAPPING = "AWS::Lambda::EventSourceMapping"

POLL_WAIT_S = 1
"""Long-poll wait of one ``ReceiveMessage``: how long a poller may take to notice ``stop``."""
RETRY_DELAY_CAP_S = 2
RETRY_DELAY_FLOOR_S = 1
STOP_TIMEOUT_S = 2.0
"""How long ``stop`` waits for all pollers together; one still inside a handler is left behind."""

DEFAULT_BATCH_SIZE = 10
RECEIVE_LIMIT = 10
"""SQS returns at most ten messages per ``ReceiveMessage``; bigger batches take several receives."""
DEFAULT_VISIBILITY_TIMEOUT_S = 30
REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


def sqs() -> SQSClient:
    client: SQSClient = aws.client("sqs")
    return client


def _is_true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


class QueueAwareTemplate(Template):
    """A ``Template`` whose queues resolve under the names they really get (see the module docstring)."""

    def queue_name(self, logical_id: str) -> str:
        properties = self.resources[logical_id].get("Properties") or {}
        if properties.get("QueueName") is not None:
            return str(self.resolve(properties["QueueName"]))
        fifo = _is_true(self.resolve(properties.get("FifoQueue", False)))
        return f"{logical_id}.fifo" if fifo else logical_id

    def ref(self, name: str) -> Any:
        if self._is_queue(name):
            c = self.context
            return f"https://sqs.{c.region}.{c.url_suffix}/{c.account_id}/{self.queue_name(name)}"
        return super().ref(name)

    def get_att(self, logical_id: str, attribute: str) -> str:
        if self._is_queue(logical_id):
            c = self.context
            if attribute == "Arn":
                return f"arn:{c.partition}:sqs:{c.region}:{c.account_id}:{self.queue_name(logical_id)}"
            if attribute == "QueueName":
                return self.queue_name(logical_id)
        return super().get_att(logical_id, attribute)

    def _is_queue(self, logical_id: str) -> bool:
        return self.resources.get(logical_id, {}).get("Type") == SQS_QUEUE


@dataclass(frozen=True)
class SqsEventSource:
    """One SQS event source mapping: which function gets which queue's messages, and how."""

    name: str
    function_id: str
    queue_arn: str
    queue_url: str
    batch_size: int = DEFAULT_BATCH_SIZE
    report_batch_item_failures: bool = False

    @property
    def queue_name(self) -> str:
        return self.queue_arn.rsplit(":", 1)[-1]

    @property
    def region(self) -> str:
        return self.queue_arn.split(":")[3]


def sqs_event_sources(template: Template) -> list[SqsEventSource]:
    """The enabled SQS event sources of the template whose queue the template declares."""
    queue_urls = {
        template.get_att(logical_id, "Arn"): str(template.ref(logical_id))
        for logical_id in template.resources_of_type(SQS_QUEUE)
    }
    sources: list[SqsEventSource] = []
    for function_id, name, properties in _mappings(template):
        if not _is_true(properties.get("Enabled", True)):
            continue
        queue_arn = str(properties.get("Queue") or properties.get("EventSourceArn") or "")
        if queue_arn not in queue_urls:
            _log(f"{name}: {queue_arn or 'no queue'} is not a queue of the template; the event is ignored")
            continue
        if properties.get("FilterCriteria"):
            _log(f"{name}: FilterCriteria is not emulated locally; every message is delivered")
        sources.append(
            SqsEventSource(
                name=name,
                function_id=function_id,
                queue_arn=queue_arn,
                queue_url=queue_urls[queue_arn],
                batch_size=max(1, int(properties.get("BatchSize", DEFAULT_BATCH_SIZE))),
                report_batch_item_failures=REPORT_BATCH_ITEM_FAILURES
                in (properties.get("FunctionResponseTypes") or []),
            )
        )
    return sources


def _mappings(template: Template) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for function_id, resource in template.resources_of_type(SERVERLESS_FUNCTION).items():
        events = (resource.get("Properties") or {}).get("Events") or {}
        for event_name, event in events.items():
            if event.get("Type") == "SQS":
                yield (
                    function_id,
                    f"{function_id}.{event_name}",
                    template.resolve(event.get("Properties", {})),
                )
    for mapping_id, resource in template.resources_of_type(EVENT_SOURCE_MAPPING).items():
        properties = template.resolve(resource.get("Properties", {}))
        if ":sqs:" in str(properties.get("EventSourceArn", "")):
            yield function_id_from_name(str(properties.get("FunctionName", ""))), mapping_id, properties


def sqs_record(message: MessageTypeDef, queue_arn: str, region: str) -> dict[str, Any]:
    """One ``Records`` entry as Lambda builds it from a received message."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: _lambda_message_attribute(value)
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _lambda_message_attribute(value: Mapping[str, Any]) -> dict[str, Any]:
    shaped: dict[str, Any] = {}
    if "StringValue" in value:
        shaped["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        shaped["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    shaped["stringListValues"] = list(value.get("StringListValues", []))
    shaped["binaryListValues"] = [
        base64.b64encode(item).decode("ascii") for item in value.get("BinaryListValues", [])
    ]
    shaped["dataType"] = value["DataType"]
    return shaped


def failed_message_ids(result: Any, message_ids: Sequence[str]) -> set[str]:
    """The messages a ``ReportBatchItemFailures`` response leaves on the queue (all of them if malformed)."""
    everything = set(message_ids)
    if result is None:
        return set()
    if not isinstance(result, dict):
        return everything
    failures = result.get("batchItemFailures")
    if failures is None:
        return set()
    if not isinstance(failures, list):
        return everything
    failed: set[str] = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(identifier, str) or identifier not in everything:
            return everything
        failed.add(identifier)
    return failed


def retry_delay_s(visibility_timeout_s: int) -> int:
    return max(RETRY_DELAY_FLOOR_S, min(visibility_timeout_s, RETRY_DELAY_CAP_S))


@dataclass(frozen=True)
class BatchOutcome:
    received: int
    failed: int
    error: str | None = None


class QueuePoller:
    """One event source mapping at work: a thread that receives batches and hands them to the function."""

    def __init__(
        self,
        source: SqsEventSource,
        function: LocalFunction,
        on_batch: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self.function = function
        self.on_batch = on_batch
        attributes = sqs().get_queue_attributes(
            QueueUrl=source.queue_url, AttributeNames=["VisibilityTimeout"]
        )
        visibility = int(attributes["Attributes"].get("VisibilityTimeout", DEFAULT_VISIBILITY_TIMEOUT_S))
        self.retry_delay_s = retry_delay_s(visibility)
        self._stop = threading.Event()
        self._abandoned = False
        self._thread = threading.Thread(
            target=self._run, name=f"switchboard-local-sqs-{source.name}", daemon=True
        )

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float) -> bool:
        """Wait for the thread; one that does not end in time is abandoned (it will not touch SQS again)."""
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._abandoned = True
            return False
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                messages = self.receive()
                if messages and self._stop.is_set():
                    self._release(messages)
                elif messages:
                    self.process(messages)
            except Exception:
                if self._stop.is_set():
                    return
                _log(
                    f"{self.source.name}: polling {self.source.queue_name} failed:\n{traceback.format_exc()}"
                )
                self._stop.wait(POLL_WAIT_S)

    def receive(self) -> list[MessageTypeDef]:
        """One batch: a long poll, then short polls while messages keep coming and the batch is not full."""
        messages: list[MessageTypeDef] = []
        wait = POLL_WAIT_S
        while len(messages) < self.source.batch_size:
            response = sqs().receive_message(
                QueueUrl=self.source.queue_url,
                MaxNumberOfMessages=min(RECEIVE_LIMIT, self.source.batch_size - len(messages)),
                WaitTimeSeconds=wait,
                MessageSystemAttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            received = response.get("Messages", [])
            if not received:
                break
            messages.extend(received)
            wait = 0
        return messages

    def process(self, messages: Sequence[MessageTypeDef]) -> BatchOutcome:
        """Invoke the function with one batch and settle each message as Lambda would."""
        started = time.monotonic()
        source = self.source
        event = {"Records": [sqs_record(message, source.queue_arn, source.region) for message in messages]}
        message_ids = [message["MessageId"] for message in messages]
        error: str | None = None
        try:
            result = json.loads(json.dumps(self.function.call(event, str(uuid.uuid4()))))
        except FunctionInitError:
            failed, error = set(message_ids), "the function failed to load at start"
        except Exception as failure:
            failed, error = set(message_ids), f"{type(failure).__name__}: {failure}"
            _log(
                f"{source.function_id} raised on a batch from {source.queue_name}:\n{traceback.format_exc()}"
            )
        else:
            failed = failed_message_ids(result, message_ids) if source.report_batch_item_failures else set()
        if self._abandoned:
            return BatchOutcome(len(messages), len(failed), error)
        self._settle(messages, failed)
        elapsed = (time.monotonic() - started) * 1000
        retry = f", retried in {self.retry_delay_s}s" if failed else ""
        because = f" ({error})" if error else ""
        _log(
            f"SQS {source.queue_name} -> {source.function_id}: {len(messages)} message(s), "
            f"{len(failed)} failed{retry}{because} {elapsed:.0f}ms"
        )
        if self.on_batch is not None:
            self.on_batch()
        return BatchOutcome(len(messages), len(failed), error)

    def _release(self, messages: Sequence[MessageTypeDef]) -> None:
        """Received just as ``stop`` came: hand the batch back untouched instead of delaying the stop."""
        self._change_visibility(messages, 0)

    def _settle(self, messages: Sequence[MessageTypeDef], failed: set[str]) -> None:
        done = [message for message in messages if message["MessageId"] not in failed]
        self._change_visibility(
            [message for message in messages if message["MessageId"] in failed], self.retry_delay_s
        )
        client, url = sqs(), self.source.queue_url
        for start in range(0, len(done), RECEIVE_LIMIT):
            client.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(number), "ReceiptHandle": message["ReceiptHandle"]}
                    for number, message in enumerate(done[start : start + RECEIVE_LIMIT])
                ],
            )

    def _change_visibility(self, messages: Sequence[MessageTypeDef], timeout_s: int) -> None:
        for start in range(0, len(messages), RECEIVE_LIMIT):
            sqs().change_message_visibility_batch(
                QueueUrl=self.source.queue_url,
                Entries=[
                    {
                        "Id": str(number),
                        "ReceiptHandle": message["ReceiptHandle"],
                        "VisibilityTimeout": timeout_s,
                    }
                    for number, message in enumerate(messages[start : start + RECEIVE_LIMIT])
                ],
            )


class EventSourcePollers:
    """Every SQS event source mapping of the stack; started last, stopped first."""

    def __init__(self, pollers: Sequence[QueuePoller] = ()) -> None:
        self.pollers = list(pollers)

    def start(self) -> None:
        for poller in self.pollers:
            poller.start()

    def stop(self, timeout_s: float = STOP_TIMEOUT_S) -> list[str]:
        """Stop every poller; returns the mappings still inside a handler when the time was up."""
        for poller in self.pollers:
            poller.request_stop()
        deadline = time.monotonic() + timeout_s
        busy = [
            poller.source.name
            for poller in self.pollers
            if not poller.join(max(0.0, deadline - time.monotonic()))
        ]
        for name in busy:
            _log(f"{name} is still handling a batch; its messages stay on the queue for the next start")
        self.pollers = []
        return busy


def event_source_pollers(
    template: Template,
    functions: Mapping[str, LocalFunction],
    on_batch: Callable[[], None] | None = None,
) -> EventSourcePollers:
    """A poller for each SQS event source of the template (queues must exist, functions be loaded)."""
    pollers = []
    for source in sqs_event_sources(template):
        function = functions.get(source.function_id)
        if function is None:
            _log(f"{source.name}: function {source.function_id} is not in the stack; the event is ignored")
            continue
        pollers.append(QueuePoller(source, function, on_batch))
    return EventSourcePollers(pollers)


def _log(message: str) -> None:
    sys.stderr.write(f"[switchboard local] {message}\n")
