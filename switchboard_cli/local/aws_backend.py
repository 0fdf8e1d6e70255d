"""moto's server as the local stack's AWS; the template's tables, queues, buckets and KMS keys (``kms.py``)
created from their definitions, under the names ``LocalTemplate`` resolves their ``Ref`` to.

``MotoBackend`` runs moto's server (``aws_server.py``) on 127.0.0.1 (a free port) and points
``AWS_ENDPOINT_URL`` at it, so every boto3 client (the stack's, the handlers') reaches it as it would reach
a real endpoint; ``switchboard.aws.reset()`` drops whatever the factory cached before. Only the state
persister (``state.py``) reads moto's own objects (it saves and restores what the server holds).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from botocore.exceptions import ClientError

from switchboard import aws
from switchboard_cli.local.aws_server import AwsServer
from switchboard_cli.local.buckets import (
    S3_BUCKET,
    BucketAwareTemplate,
    bucket_settings,
    s3,
    valid_bucket_name,
)
from switchboard_cli.local.kms import KeyAwareTemplate
from switchboard_cli.local.queues import SQS_QUEUE, QueueAwareTemplate, sqs
from switchboard_cli.local.template import Template, TemplateError

DYNAMODB_TABLE = "AWS::DynamoDB::Table"
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"
"""botocore sends every client's calls to this URL when it is set (a service-specific one would win)."""
_DEFAULT_THROUGHPUT = {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}


class LocalTemplate(BucketAwareTemplate, QueueAwareTemplate, KeyAwareTemplate):
    """The template with every queue, bucket and KMS key resolved under the name it is created with here."""


class MotoBackend:
    """moto's server on 127.0.0.1, reached through ``AWS_ENDPOINT_URL`` while it runs."""

    def __init__(self) -> None:
        self._server: AwsServer | None = None
        self.endpoint_url = ""

    def start(self) -> None:
        self._server = AwsServer()
        self._server.start()
        self.endpoint_url = self._server.url
        os.environ[ENDPOINT_VARIABLE] = self.endpoint_url
        aws.reset()

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            if os.environ.get(ENDPOINT_VARIABLE) == self.endpoint_url:
                del os.environ[ENDPOINT_VARIABLE]
            aws.reset()


def create_tables(template: Template) -> list[str]:
    """Create every ``AWS::DynamoDB::Table``, named by its logical id (what ``Ref`` resolves to locally)."""
    client = aws.dynamodb()
    created = []
    for logical_id, resource in template.resources_of_type(DYNAMODB_TABLE).items():
        properties = template.resolve(resource.get("Properties", {}))
        client.create_table(**table_definition(logical_id, properties))
        ttl = properties.get("TimeToLiveSpecification") or {}
        if ttl.get("Enabled") in (True, "true", "True") and ttl.get("AttributeName"):
            client.update_time_to_live(
                TableName=logical_id,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )
        created.append(logical_id)
    return created


def table_definition(name: str, properties: dict[str, Any]) -> dict[str, Any]:
    """``create_table`` arguments from a table's CloudFormation properties."""
    on_demand = properties.get("BillingMode") == "PAY_PER_REQUEST"
    definition: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": properties["AttributeDefinitions"],
        "KeySchema": properties["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST" if on_demand else "PROVISIONED",
    }
    if not on_demand:
        definition["ProvisionedThroughput"] = _throughput(properties.get("ProvisionedThroughput"))
    for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        indexes = [
            _index(index, with_throughput=kind == "GlobalSecondaryIndexes" and not on_demand)
            for index in properties.get(kind) or []
        ]
        if indexes:
            definition[kind] = indexes
    stream = properties.get("StreamSpecification")
    if stream:
        definition["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": stream["StreamViewType"],
        }
    return definition


def _index(index: dict[str, Any], *, with_throughput: bool) -> dict[str, Any]:
    shaped = {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
    if with_throughput:
        shaped["ProvisionedThroughput"] = _throughput(index.get("ProvisionedThroughput"))
    return shaped


def _throughput(throughput: dict[str, Any] | None) -> dict[str, int]:
    return {key: int(value) for key, value in (throughput or _DEFAULT_THROUGHPUT).items()}


_QUEUE_SETTINGS = ("RedrivePolicy", "RedriveAllowPolicy")
"""Set once every queue exists: they name other queues (a dead-letter queue must exist first)."""
_NOT_QUEUE_ATTRIBUTES = frozenset({"QueueName", "Tags"})


def create_queues(template: Template) -> dict[str, str]:
    """Create every ``AWS::SQS::Queue`` under the name the template resolves; logical id → ``QueueUrl``.

    The URL moto gives must be exactly the queue's ``Ref`` (what functions read from their environment);
    anything else is refused rather than leaving a function sending to a queue that does not exist.
    """
    client = sqs()
    urls: dict[str, str] = {}
    later: dict[str, dict[str, str]] = {}
    for logical_id, resource in template.resources_of_type(SQS_QUEUE).items():
        properties = template.resolve(resource.get("Properties", {}))
        attributes = queue_attributes(properties)
        later[logical_id] = {name: attributes.pop(name) for name in _QUEUE_SETTINGS if name in attributes}
        tags = {str(tag["Key"]): str(tag["Value"]) for tag in properties.get("Tags") or []}
        name = template.get_att(logical_id, "QueueName")
        url = client.create_queue(QueueName=name, Attributes=attributes, tags=tags)["QueueUrl"]  # type: ignore[arg-type]
        expected = str(template.ref(logical_id))
        if url != expected:
            raise TemplateError(
                f"queue {logical_id} was created at {url}, but Ref {logical_id} is {expected}"
            )
        urls[logical_id] = url
    for logical_id, settings in later.items():
        if settings:
            client.set_queue_attributes(QueueUrl=urls[logical_id], Attributes=settings)  # type: ignore[arg-type]
    return urls


def queue_attributes(properties: dict[str, Any]) -> dict[str, str]:
    """``CreateQueue`` attributes from a queue's resolved CloudFormation properties (all strings)."""
    attributes: dict[str, str] = {}
    for name, value in properties.items():
        if name in _NOT_QUEUE_ATTRIBUTES or value is None:
            continue
        if name == "FifoQueue" and str(value).lower() != "true":
            continue
        if isinstance(value, dict | list):
            attributes[name] = json.dumps(value)
        elif isinstance(value, bool):
            attributes[name] = str(value).lower()
        else:
            attributes[name] = str(value)
    return attributes


def create_buckets(template: Template) -> dict[str, str]:
    """Create every ``AWS::S3::Bucket`` under its ``Ref`` (a valid bucket name); logical id → bucket name.

    Each gets the settings moto supports; one that moto refuses is reported and skipped (see ``buckets.py``).
    """
    client = s3()
    region = client.meta.region_name
    names: dict[str, str] = {}
    for logical_id, resource in template.resources_of_type(S3_BUCKET).items():
        name = valid_bucket_name(template, logical_id)
        if region == "us-east-1":
            client.create_bucket(Bucket=name)
        else:
            client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})  # type: ignore[typeddict-item]
        properties = template.resolve(resource.get("Properties", {}))
        for operation, arguments in bucket_settings(properties).items():
            try:
                getattr(client, operation)(Bucket=name, **arguments)
            except ClientError as error:
                sys.stderr.write(
                    f"[switchboard local] {logical_id}: {operation} not applied locally: {error}\n"
                )
        names[logical_id] = name
    return names
