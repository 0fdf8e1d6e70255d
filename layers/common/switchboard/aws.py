"""The one place boto3 clients and resources are made: lazily, cached, never at import time.

An optional endpoint URL (``AWS_ENDPOINT_URL``) is honoured by boto3 itself; the local stack runs moto
in-process and needs no endpoint at all, so nothing here knows where it runs.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    return _session().client(service, config=_CONFIG)  # type: ignore[call-overload]


@cache
def dynamodb_resource() -> DynamoDBServiceResource:
    return _session().resource("dynamodb", config=_CONFIG)


def table(name: str) -> Table:
    return dynamodb_resource().Table(name)


def dynamodb() -> DynamoDBClient:
    return client("dynamodb")  # type: ignore[no-any-return]


def secrets() -> SecretsManagerClient:
    return client("secretsmanager")  # type: ignore[no-any-return]


def lambda_client() -> LambdaClient:
    return client("lambda")  # type: ignore[no-any-return]


def reset() -> None:
    """Forget cached clients (tests and the local stack call this after switching AWS backends)."""
    _session.cache_clear()
    client.cache_clear()
    dynamodb_resource.cache_clear()
