"""The local stack's AWS is moto's server on 127.0.0.1: any process reaches it through ``AWS_ENDPOINT_URL``
like a real endpoint, SQS answers AWS's queue URLs, and each start begins from nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from switchboard_cli.local.aws_server import AwsServer

FAKE = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}

OTHER_PROCESS = """
import json, boto3
dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
dynamodb.put_item(TableName="Items", Item={"pk": {"S": "from-the-child"}})
print(json.dumps({"tables": dynamodb.list_tables()["TableNames"],
                  "queue": sqs.get_queue_url(QueueName="Work")["QueueUrl"]}))
"""


@pytest.fixture
def server() -> Iterator[AwsServer]:
    running = AwsServer()
    running.start()
    yield running
    running.stop()


def client(service: str, url: str, region: str = "eu-west-1") -> Any:
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def test_another_process_reaches_the_server_through_aws_endpoint_url(server: AwsServer):
    # Given a table and a queue created through the server
    dynamodb = client("dynamodb", server.url)
    dynamodb.create_table(
        TableName="Items",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    sqs = client("sqs", server.url)
    created = sqs.create_queue(QueueName="Work")["QueueUrl"]

    # When another process, told nothing but AWS_ENDPOINT_URL, uses plain boto3 clients
    environment = {**os.environ, **FAKE, "AWS_ENDPOINT_URL": server.url}
    child = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS],
        check=False,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )

    # Then it sees the same table and queue, and what it wrote is in the server
    assert child.returncode == 0, child.stderr
    seen = json.loads(child.stdout)
    assert seen["tables"] == ["Items"]
    assert seen["queue"] == created == "https://sqs.eu-west-1.amazonaws.com/123456789012/Work"
    item = dynamodb.get_item(TableName="Items", Key={"pk": {"S": "from-the-child"}})
    assert item["Item"] == {"pk": {"S": "from-the-child"}}


def test_a_queue_url_is_the_one_aws_answers_and_it_works_for_every_call(server: AwsServer):
    # Given a queue created through the loopback endpoint
    sqs = client("sqs", server.url)
    url = sqs.create_queue(QueueName="Orders")["QueueUrl"]

    # When a message is sent to and received from the URL AWS would answer
    sqs.send_message(QueueUrl=url, MessageBody="order-1")
    received = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)["Messages"]

    # Then the URL is SQS's regional one, and the message went through it
    assert url == "https://sqs.eu-west-1.amazonaws.com/123456789012/Orders"
    assert [message["Body"] for message in received] == ["order-1"]


def test_a_new_start_begins_from_nothing():
    # Given a server that held a bucket, stopped
    first = AwsServer()
    first.start()
    s3 = client("s3", first.url, "us-east-1")
    s3.create_bucket(Bucket="left-behind")
    assert [bucket["Name"] for bucket in s3.list_buckets()["Buckets"]] == ["left-behind"]
    first.stop()

    # When a server starts again in the same process
    second = AwsServer()
    second.start()
    try:
        s3 = client("s3", second.url, "us-east-1")
        # Then it holds nothing of the first one's
        assert s3.list_buckets()["Buckets"] == []
    finally:
        second.stop()
