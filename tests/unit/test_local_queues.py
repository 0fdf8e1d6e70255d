"""SQS on the local stack: queues from the template, Lambda's SQS event source mapping, and restarts."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel

from switchboard import aws
from switchboard import invoker as seam
from switchboard.settings import get_settings
from switchboard_cli.local.queues import (
    QueueAwareTemplate,
    QueuePoller,
    SqsEventSource,
    failed_message_ids,
    retry_delay_s,
    sqs,
    sqs_event_sources,
)
from switchboard_cli.local.stack import LocalStack

TEMPLATE = """
Resources:
  WorkQueue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 1
      MessageRetentionPeriod: 3600
      RedrivePolicy: {deadLetterTargetArn: !GetAtt WorkDeadLetterQueue.Arn, maxReceiveCount: 2}
  WorkDeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-work-dlq"
      MessageRetentionPeriod: 1209600
  ManualQueue:
    Type: AWS::SQS::Queue
    Properties: {VisibilityTimeout: 1}
  OrderedQueue:
    Type: AWS::SQS::Queue
    Properties: {FifoQueue: true, ContentBasedDeduplication: true}
  WorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: worker/
      Handler: app.handler
      Timeout: 20
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt WorkQueue.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
  SenderFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: sender/
      Handler: app.handler
      Environment:
        Variables:
          WORK_QUEUE_URL: !Ref WorkQueue
          DEAD_LETTER_QUEUE_URL: !Ref WorkDeadLetterQueue
          MANUAL_QUEUE_URL: !Ref ManualQueue
          ORDERED_QUEUE_URL: !GetAtt OrderedQueue.QueueUrl
"""

WORKER = """
    import json, pathlib, time

    from switchboard_cli.local.functions import current_function

    SEEN = pathlib.Path(__file__).parent / "seen.jsonl"

    def handler(event, context):
        seen = {"event": event, "function": current_function.get(), "context": context.function_name}
        with SEEN.open("a") as log:
            log.write(json.dumps(seen) + "\\n")
        bodies = [record["body"] for record in event["Records"]]
        if "raise" in bodies:
            raise RuntimeError("cannot handle this batch")
        for body in bodies:
            if body.startswith("sleep:"):
                time.sleep(float(body.removeprefix("sleep:")))
        if "malformed" in bodies:
            return {"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}
        failed = [record["messageId"] for record in event["Records"] if record["body"] == "fail"]
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}
"""

SENDER = """
    import os

    from switchboard import aws

    def handler(event, context):
        url = os.environ[event["queue"]]
        sent = aws.client("sqs").send_message(
            QueueUrl=url,
            MessageBody=event["body"],
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
        )
        return {"queue_url": url, "message_id": sent["MessageId"]}
"""


class FakeBootstrap:
    def __call__(self, email: str, org_name: str) -> Any:
        return SimpleNamespace(user_id="usr_1", org_id="org_1", token="sb_pat_fake")


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    for name, source in (("worker", WORKER), ("sender", SENDER)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text(textwrap.dedent(source))
    environ, path, invoker = dict(os.environ), list(sys.path), seam.get_invoker()
    yield tmp_path
    os.environ.clear()
    os.environ.update(environ)
    sys.path[:] = path
    seam.set_invoker(invoker)
    aws.reset()
    get_settings.cache_clear()


def start_stack(project: Path) -> LocalStack:
    stack = LocalStack(project / "template.yaml", project / "state.json", FakeBootstrap())
    stack.start(8999)
    return stack


@pytest.fixture
def stack(project: Path) -> Iterator[LocalStack]:
    running = start_stack(project)
    yield running
    running.stop()


def seen(stack: LocalStack) -> list[dict[str, Any]]:
    """What the worker function's handler recorded, in its environments' processes (its own log file)."""
    log = stack.functions["WorkerFunction"].spec.code_dir / "seen.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def wait_for(condition: Callable[[], Any], timeout_s: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"condition not met within {timeout_s}s")


def send(queue_variable: str, body: str) -> dict[str, Any]:
    result: dict[str, Any] = seam.get_invoker().invoke(
        "SenderFunction", {"queue": queue_variable, "body": body}
    )
    return result


def queue_url(name: str) -> str:
    return sqs().get_queue_url(QueueName=name)["QueueUrl"]


def messages_on(name: str) -> int:
    attributes = sqs().get_queue_attributes(QueueUrl=queue_url(name), AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def records_with_body(stack: LocalStack, body: str) -> list[dict[str, Any]]:
    return [record for call in seen(stack) for record in call["event"]["Records"] if record["body"] == body]


def test_queues_are_created_from_their_definitions(stack: LocalStack):
    # When the stack has started, every queue exists with its resolved properties
    work = sqs().get_queue_attributes(QueueUrl=queue_url("WorkQueue"), AttributeNames=["All"])["Attributes"]
    dead_letter_url = queue_url("switchboard-local-work-dlq")
    dead_letter = sqs().get_queue_attributes(QueueUrl=dead_letter_url, AttributeNames=["All"])["Attributes"]
    ordered = sqs().get_queue_attributes(QueueUrl=queue_url("OrderedQueue.fifo"), AttributeNames=["All"])

    # Then the dead-letter target is the named queue's ARN, and FIFO queues get their suffix
    assert (work["VisibilityTimeout"], work["MessageRetentionPeriod"]) == ("1", "3600")
    assert json.loads(work["RedrivePolicy"]) == {
        "deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:switchboard-local-work-dlq",
        "maxReceiveCount": 2,
    }
    assert dead_letter["MessageRetentionPeriod"] == "1209600"
    assert ordered["Attributes"]["FifoQueue"] == "true"
    assert ordered["Attributes"]["ContentBasedDeduplication"] == "true"


def test_functions_see_each_queue_url_exactly_as_created(stack: LocalStack):
    # Then every Ref (and GetAtt QueueUrl) in the functions' environment is the URL moto gave the queue
    assert os.environ["WORK_QUEUE_URL"] == queue_url("WorkQueue")
    assert os.environ["DEAD_LETTER_QUEUE_URL"] == queue_url("switchboard-local-work-dlq")
    assert os.environ["MANUAL_QUEUE_URL"] == queue_url("ManualQueue")
    assert os.environ["ORDERED_QUEUE_URL"] == queue_url("OrderedQueue.fifo")
    assert os.environ["WORK_QUEUE_URL"] == "https://sqs.us-east-1.amazonaws.com/123456789012/WorkQueue"


def test_a_message_a_function_sends_reaches_the_handler_as_lambda_would_deliver_it(stack: LocalStack):
    # When a function sends a message to the queue its environment names
    sent = send("WORK_QUEUE_URL", '{"run_id": "run-1"}')

    # Then the worker got one SQS event for it, running as itself
    (call,) = wait_for(lambda: seen(stack))
    assert (call["function"], call["context"]) == ("WorkerFunction", "WorkerFunction")
    (record,) = call["event"]["Records"]
    assert record["messageId"] == sent["message_id"]
    assert record["body"] == '{"run_id": "run-1"}'
    assert record["md5OfBody"] == hashlib.md5(b'{"run_id": "run-1"}').hexdigest()  # noqa: S324 - SQS's digest
    assert (record["eventSource"], record["awsRegion"]) == ("aws:sqs", "us-east-1")
    assert record["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:WorkQueue"
    assert record["receiptHandle"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert int(record["attributes"]["SentTimestamp"]) <= int(
        record["attributes"]["ApproximateFirstReceiveTimestamp"]
    )
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "test", "stringListValues": [], "binaryListValues": [], "dataType": "String"}
    }
    assert record["md5OfMessageAttributes"]
    # And Powertools (which the executor's batch processor uses) accepts the event
    assert SqsModel.model_validate(call["event"]).Records[0].messageId == sent["message_id"]
    # And the handled message is gone
    wait_for(lambda: messages_on("WorkQueue") == 0)


def test_reported_failures_are_retried_then_dead_lettered_while_the_rest_is_deleted(stack: LocalStack):
    # Given the worker reports every "fail" message as a batch item failure (maxReceiveCount 2)
    # When one message that succeeds and one that fails are sent
    succeeded = send("WORK_QUEUE_URL", "ok")
    failed = send("WORK_QUEUE_URL", "fail")

    # Then the failed one is retried once, no sooner than its (1 s) visibility timeout, ...
    deliveries = wait_for(
        lambda: len(records_with_body(stack, "fail")) == 2 and records_with_body(stack, "fail")
    )
    assert [record["attributes"]["ApproximateReceiveCount"] for record in deliveries] == ["1", "2"]
    first, second = (int(record["attributes"]["ApproximateFirstReceiveTimestamp"]) for record in deliveries)
    assert first == second
    # ... and on its next receive moved to the dead-letter queue, never reaching the handler again
    wait_for(lambda: messages_on("switchboard-local-work-dlq") == 1)
    dead = sqs().receive_message(
        QueueUrl=queue_url("switchboard-local-work-dlq"), MessageSystemAttributeNames=["All"]
    )
    assert [(message["MessageId"], message["Body"]) for message in dead["Messages"]] == [
        (failed["message_id"], "fail")
    ]
    assert messages_on("WorkQueue") == 0
    assert len(records_with_body(stack, "fail")) == 2
    # And the message that succeeded was delivered once and deleted
    assert [record["messageId"] for record in records_with_body(stack, "ok")] == [succeeded["message_id"]]


@pytest.fixture
def manual_poller(stack: LocalStack) -> QueuePoller:
    """A poller on a queue no mapping of the template polls, driven by hand so batches are exact."""
    url = queue_url("ManualQueue")
    source = SqsEventSource(
        name="WorkerFunction.Manual",
        function_id="WorkerFunction",
        queue_arn="arn:aws:sqs:us-east-1:123456789012:ManualQueue",
        queue_url=url,
        batch_size=10,
        report_batch_item_failures=True,
    )
    return QueuePoller(source, stack.functions["WorkerFunction"])


def receive_batch(poller: QueuePoller, *bodies: str) -> list[Any]:
    for body in bodies:
        send("MANUAL_QUEUE_URL", body)
    messages = poller.receive()
    assert sorted(message["Body"] for message in messages) == sorted(bodies)
    return messages


def test_a_raising_handler_leaves_the_whole_batch_for_a_retry(stack: LocalStack, manual_poller: QueuePoller):
    # Given a batch of two messages, one of which makes the handler raise
    messages = receive_batch(manual_poller, "ok", "raise")

    # When the batch is processed
    outcome = manual_poller.process(messages)

    # Then both messages stay, invisible for the retry delay, then visible again
    assert (outcome.received, outcome.failed) == (2, 2)
    assert outcome.error == "RuntimeError: cannot handle this batch"
    assert manual_poller.retry_delay_s == 1
    attributes = sqs().get_queue_attributes(QueueUrl=queue_url("ManualQueue"), AttributeNames=["All"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "2"
    retried = wait_for(manual_poller.receive, timeout_s=5)
    assert sorted(message["Body"] for message in retried) == ["ok", "raise"]


def test_a_malformed_failure_report_fails_the_whole_batch(stack: LocalStack, manual_poller: QueuePoller):
    messages = receive_batch(manual_poller, "ok", "malformed")
    outcome = manual_poller.process(messages)
    assert (outcome.failed, messages_on("ManualQueue")) == (2, 2)


def test_without_report_batch_item_failures_the_response_is_ignored(
    stack: LocalStack, manual_poller: QueuePoller
):
    # Given a mapping without ReportBatchItemFailures
    source = dataclasses.replace(manual_poller.source, report_batch_item_failures=False)
    poller = QueuePoller(source, stack.functions["WorkerFunction"])
    messages = receive_batch(poller, "ok", "fail")

    # When the handler returns a failure report
    outcome = poller.process(messages)

    # Then the batch succeeded as a whole
    assert (outcome.failed, messages_on("ManualQueue")) == (0, 0)


def test_pollers_stop_promptly(stack: LocalStack):
    # Given the pollers are long-polling an empty queue
    (poller,) = stack.pollers.pollers
    time.sleep(0.3)

    # When they are stopped
    started = time.monotonic()
    busy = stack.pollers.stop()

    # Then every thread has ended within the poll wait
    assert busy == []
    assert time.monotonic() - started < 2.0
    assert not poller.alive


def test_a_poller_still_inside_a_handler_is_left_behind_and_its_message_kept(stack: LocalStack):
    # Given the worker is busy with a slow message
    send("WORK_QUEUE_URL", "sleep:1.5")
    wait_for(lambda: seen(stack))
    (poller,) = stack.pollers.pollers

    # When the pollers get less time to stop than the handler needs
    busy = stack.pollers.stop(timeout_s=0.2)

    # Then the mapping is reported busy, and even after the handler returns the message is not settled
    assert busy == ["WorkerFunction.Work"]
    wait_for(lambda: not poller.alive, timeout_s=5)
    assert messages_on("WorkQueue") == 1


def test_messages_survive_a_restart(project: Path):
    # Given messages waiting on a queue no function polls, one with a binary attribute, one received once
    stack = start_stack(project)
    try:
        url = os.environ["MANUAL_QUEUE_URL"]
        sqs().send_message(QueueUrl=url, MessageBody="received once")
        (received,) = sqs().receive_message(QueueUrl=url, VisibilityTimeout=600)["Messages"]
        kept = sqs().send_message(
            QueueUrl=url,
            MessageBody="keep me",
            MessageAttributes={"blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}},
        )
    finally:
        # When the stack stops (saving its state) and starts again on the same state file
        stack.stop()
    state = json.loads((project / "state.json").read_text())
    assert len(state["services"]["sqs"]["queues"]["ManualQueue"]) == 2

    stack = start_stack(project)
    try:
        # Then both messages are back, visible at once, with their ids, attributes and receive counts
        messages = sqs().receive_message(
            QueueUrl=os.environ["MANUAL_QUEUE_URL"],
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )["Messages"]
        by_body = {message["Body"]: message for message in messages}
        assert by_body["keep me"]["MessageId"] == kept["MessageId"]
        assert by_body["keep me"]["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\xff"
        assert by_body["keep me"]["Attributes"]["ApproximateReceiveCount"] == "1"
        assert by_body["received once"]["MessageId"] == received["MessageId"]
        assert by_body["received once"]["Attributes"]["ApproximateReceiveCount"] == "2"
    finally:
        stack.stop()


def test_event_sources_come_from_sqs_events_and_event_source_mappings(tmp_path: Path):
    # Given a template with a SAM SQS event, a disabled one and a plain event source mapping
    (tmp_path / "template.yaml").write_text(
        TEMPLATE
        + """
  DisabledFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: worker/
      Handler: app.handler
      Events:
        Off: {Type: SQS, Properties: {Queue: !GetAtt ManualQueue.Arn, Enabled: false}}
  OrderedMapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties: {FunctionName: !GetAtt SenderFunction.Arn, EventSourceArn: !GetAtt OrderedQueue.Arn}
"""
    )
    template = QueueAwareTemplate.from_file(tmp_path / "template.yaml")

    # When the event sources are read
    sources = sqs_event_sources(template)

    # Then each names its function and queue, with Lambda's defaults where the template is silent
    assert [
        (s.name, s.function_id, s.queue_name, s.batch_size, s.report_batch_item_failures) for s in sources
    ] == [
        ("WorkerFunction.Work", "WorkerFunction", "WorkQueue", 5, True),
        ("OrderedMapping", "SenderFunction", "OrderedQueue.fifo", 10, False),
    ]
    assert sources[1].queue_url == "https://sqs.us-east-1.amazonaws.com/123456789012/OrderedQueue.fifo"


def test_failure_reports_follow_lambdas_rules():
    ids = ["a", "b"]
    assert failed_message_ids(None, ids) == set()
    assert failed_message_ids({}, ids) == set()
    assert failed_message_ids({"batchItemFailures": []}, ids) == set()
    assert failed_message_ids({"batchItemFailures": None}, ids) == set()
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "b"}]}, ids) == {"b"}
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": ""}]}, ids) == {"a", "b"}
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": None}]}, ids) == {"a", "b"}
    assert failed_message_ids({"batchItemFailures": [{"id": "a"}]}, ids) == {"a", "b"}
    assert failed_message_ids({"batchItemFailures": [{"itemIdentifier": "z"}]}, ids) == {"a", "b"}
    assert failed_message_ids("oops", ids) == {"a", "b"}


def test_the_retry_delay_is_the_visibility_timeout_capped_locally():
    assert [retry_delay_s(seconds) for seconds in (0, 1, 2, 30, 900)] == [1, 1, 2, 2, 2]


def test_binary_message_attributes_arrive_base64_encoded():
    from switchboard_cli.local.queues import sqs_record

    message: Any = {
        "MessageId": "m",
        "ReceiptHandle": "r",
        "Body": "b",
        "MD5OfBody": "x",
        "MessageAttributes": {"blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"}},
    }
    record = sqs_record(message, "arn:aws:sqs:eu-west-1:123456789012:Q", "eu-west-1")
    assert record["messageAttributes"]["blob"]["binaryValue"] == base64.b64encode(b"\x00\xff").decode()
    assert "md5OfMessageAttributes" not in record
