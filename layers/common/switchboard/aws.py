"""The one place boto3 clients and resources are made: lazily, cached, never at import time.

An optional endpoint URL (``AWS_ENDPOINT_URL``) is honoured by boto3 itself; the local stack sets it to
moto's server, so nothing here knows where it runs.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table
    from mypy_boto3_kms.client import KMSClient
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_secretsmanager.client import SecretsManagerClient

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=3, read_timeout=10)
PURPOSES: dict[str, Config] = {
    "default": _CONFIG,
    # Starting a run's execution (an asynchronous invoke named after the run: a retry starts nothing new) and
    # answering its callbacks: quick calls, retried quickly, so a sync request keeps its time to wait.
    "control": Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=2, read_timeout=5),
    # A synchronous invoke whose function may work for a while (the credentials function, the trigger
    # function): never retried by the SDK (a retry would run it twice), and waited for as long as it may run.
    "invoke": Config(retries={"total_max_attempts": 1}, connect_timeout=3, read_timeout=35),
}
"""Client settings by purpose: every AWS call on a run's path has a timeout that fits what it does."""


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@cache
def client(service: str, purpose: str = "default") -> Any:
    return _session().client(service, config=PURPOSES[purpose])  # type: ignore[call-overload]


@cache
def s3_signer(endpoint_url: str = "") -> Any:
    """An S3 client for signing download URLs: SigV4, path-style, for ``endpoint_url`` when one is given
    (the local stack's download route) or S3 itself."""
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    return _session().client("s3", endpoint_url=endpoint_url or None, config=config)


@cache
def dynamodb_resource() -> DynamoDBServiceResource:
    return _session().resource("dynamodb", config=_CONFIG)


def table(name: str) -> Table:
    return dynamodb_resource().Table(name)


def dynamodb() -> DynamoDBClient:
    return client("dynamodb")  # type: ignore[no-any-return]


def secrets() -> SecretsManagerClient:
    return client("secretsmanager")  # type: ignore[no-any-return]


def kms() -> KMSClient:
    return client("kms")  # type: ignore[no-any-return]


def lambda_client(purpose: str = "control") -> LambdaClient:
    return client("lambda", purpose)  # type: ignore[no-any-return]


def reset() -> None:
    """Forget cached clients (tests and the local stack call this after switching AWS backends)."""
    _session.cache_clear()
    client.cache_clear()
    s3_signer.cache_clear()
    dynamodb_resource.cache_clear()
