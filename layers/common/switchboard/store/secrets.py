"""Write-only access to connection secrets. Nothing here can read a secret value back."""

from __future__ import annotations

import json
from collections.abc import Mapping

from botocore.exceptions import ClientError

from switchboard import aws
from switchboard.domain.errors import ServiceUnavailable
from switchboard.settings import get_settings

RECOVERY_WINDOW_DAYS = 7


def connection_secret_name(project_id: str, connection_id: str) -> str:
    return f"{get_settings().secret_prefix}projects/{project_id}/connections/{connection_id}"


def create_secret(name: str, values: Mapping[str, object], tags: dict[str, str]) -> str:
    """Create the secret and return its version id."""
    try:
        response = aws.secrets().create_secret(
            Name=name,
            SecretString=json.dumps(values),
            Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())],
        )
    except ClientError as error:
        raise ServiceUnavailable("the secret store is unavailable, retry shortly") from _safe(error)
    return response["VersionId"]


def put_secret(name: str, values: Mapping[str, object]) -> str:
    """Write a new current version (rotation) and return its version id."""
    try:
        response = aws.secrets().put_secret_value(SecretId=name, SecretString=json.dumps(values))
    except ClientError as error:
        raise ServiceUnavailable("the secret store is unavailable, retry shortly") from _safe(error)
    return response["VersionId"]


def delete_secret(name: str) -> None:
    try:
        aws.secrets().delete_secret(SecretId=name, RecoveryWindowInDays=RECOVERY_WINDOW_DAYS)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise ServiceUnavailable("the secret store is unavailable, retry shortly") from _safe(error)


def _safe(error: ClientError) -> Exception:
    """Keep the AWS error code for logs but never the request (which holds the secret)."""
    return RuntimeError(error.response.get("Error", {}).get("Code", "ClientError"))
