"""KMS on the local stack: the template's keys in moto, under ids that stay the same across restarts.

``KeyAwareTemplate`` resolves a key's ``Ref`` (its key id) and ``Arn`` from an id derived from the stack name
and the key's logical id, so the functions' environments name the key before it exists and after a restart;
``create_keys`` creates each ``AWS::KMS::Key`` in moto (description, key spec and usage, key policy, rotation)
and gives it that id (moto picks a random one, so the key is moved under the derived id in moto's own
backend). moto encrypts and decrypts for real (AES-GCM with the encryption context as associated data); it
enforces no key policy but a ``kms:DescribeKey`` deny, so who may decrypt is the template's business (proven
in ``tests/infra``). ``state.KmsPersister`` keeps each key's material in the state file, so what was encrypted
before a restart still decrypts after it.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from switchboard import aws
from switchboard_cli.local.template import StackContext, Template

if TYPE_CHECKING:
    from mypy_boto3_kms.client import KMSClient

KMS_KEY = "AWS::KMS::Key"
_NAMESPACE = uuid.UUID("6f1d3c2e-5b7a-4e0f-9c8d-2a4b6c8e0f13")


def kms() -> KMSClient:
    return aws.kms()


def local_key_id(context: StackContext, logical_id: str) -> str:
    """The key id the local stack gives a template key: the same for a stack name and logical id, always."""
    return str(uuid.uuid5(_NAMESPACE, f"{context.stack_name}/{logical_id}"))


def local_key_arn(context: StackContext, logical_id: str) -> str:
    c = context
    return f"arn:{c.partition}:kms:{c.region}:{c.account_id}:key/{local_key_id(context, logical_id)}"


class KeyAwareTemplate(Template):
    """A ``Template`` whose KMS keys resolve under the ids they get locally (see the module docstring)."""

    def ref(self, name: str) -> Any:
        if self._is_key(name):
            return local_key_id(self.context, name)
        return super().ref(name)

    def get_att(self, logical_id: str, attribute: str) -> str:
        if self._is_key(logical_id):
            if attribute == "Arn":
                return local_key_arn(self.context, logical_id)
            if attribute == "KeyId":
                return local_key_id(self.context, logical_id)
        return super().get_att(logical_id, attribute)

    def _is_key(self, logical_id: str) -> bool:
        return self.resources.get(logical_id, {}).get("Type") == KMS_KEY


def create_keys(template: Template) -> dict[str, str]:
    """Create every ``AWS::KMS::Key`` under its local id; logical id → ARN."""
    client = kms()
    arns: dict[str, str] = {}
    for logical_id, resource in template.resources_of_type(KMS_KEY).items():
        properties = template.resolve(resource.get("Properties", {}))
        arguments: dict[str, Any] = {
            "Description": str(properties.get("Description", "")),
            "KeyUsage": str(properties.get("KeyUsage", "ENCRYPT_DECRYPT")),
            "KeySpec": str(properties.get("KeySpec", "SYMMETRIC_DEFAULT")),
        }
        if properties.get("KeyPolicy"):
            arguments["Policy"] = json.dumps(properties["KeyPolicy"])
        created = client.create_key(**arguments)["KeyMetadata"]
        key_id = local_key_id(template.context, logical_id)
        arns[logical_id] = _move_key(created["Arn"], key_id)
        if str(properties.get("EnableKeyRotation", "")).lower() == "true":
            client.enable_key_rotation(KeyId=key_id)
    return arns


def moto_keys(arn: str) -> dict[str, Any]:
    """moto's own keys (id → key) of the account and region of a key's ARN."""
    from moto.kms.models import kms_backends

    _, _, _, region, account_id, _ = arn.split(":", 5)
    keys: dict[str, Any] = kms_backends[account_id][region].keys
    return keys


def _move_key(created_arn: str, key_id: str) -> str:
    """Put the key moto created under ``key_id``; its new ARN."""
    keys = moto_keys(created_arn)
    key = keys.pop(created_arn.rsplit("/", 1)[1])
    key.id = key_id
    key.arn = created_arn.rsplit("/", 1)[0] + f"/{key_id}"
    keys[key_id] = key
    return str(key.arn)
