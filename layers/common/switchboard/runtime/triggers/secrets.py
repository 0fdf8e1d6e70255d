"""A webhook trigger's signing secret, kept encrypted in the trigger's own item.

The secret only verifies events posted to its trigger; it is no connection credential, so it does not go
through the credentials function (which only the executor role may invoke). The management function encrypts
it with KMS under the stack's trigger secrets key (``TRIGGER_SECRETS_KEY``) when it creates the trigger, and
the trigger function decrypts it to verify an event: the key's policy lets no other principal decrypt.

The encryption context names the trigger and its App, so a ciphertext copied into another trigger's item does
not decrypt there: that event is refused as unsigned (401), never verified with another trigger's secret.
"""

from __future__ import annotations

import base64
import binascii

from botocore.exceptions import ClientError

from switchboard import aws
from switchboard.domain.errors import ServiceUnavailable, Unauthorized
from switchboard.domain.triggers import Trigger
from switchboard.observability import logger
from switchboard.settings import get_settings

_NOT_THIS_TRIGGERS = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})
"""KMS errors meaning the stored ciphertext is not this trigger's secret under this key."""


def _context(app_id: str, trigger_id: str) -> dict[str, str]:
    return {"switchboard:app": app_id, "switchboard:trigger": trigger_id}


def encrypt(app_id: str, trigger_id: str, secret: str) -> str:
    """The secret encrypted for the trigger (base64 of KMS's ciphertext), to store in its item."""
    try:
        response = aws.kms().encrypt(
            KeyId=get_settings().trigger_secrets_key,
            Plaintext=secret.encode(),
            EncryptionContext=_context(app_id, trigger_id),
        )
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "ClientError")
        logger.error("a webhook trigger's secret could not be encrypted", extra={"error_code": code})
        raise ServiceUnavailable("the key service is unavailable, retry shortly") from None
    return base64.b64encode(response["CiphertextBlob"]).decode()


def decrypt(trigger: Trigger) -> str:
    """The trigger's signing secret (``whsec_…``); never log it. 401 ``invalid_signature`` when the trigger
    holds no secret of its own, 503 when KMS cannot answer."""
    refused = Unauthorized(
        "the webhook-signature does not match the event signed with this trigger's secret",
        code="invalid_signature",
    )
    if not trigger.encrypted_secret:
        logger.warning("a webhook trigger has no encrypted signing secret", extra={"trigger_id": trigger.id})
        raise refused
    try:
        ciphertext = base64.b64decode(trigger.encrypted_secret, validate=True)
        response = aws.kms().decrypt(
            CiphertextBlob=ciphertext,
            KeyId=get_settings().trigger_secrets_key,
            EncryptionContext=_context(trigger.app_id, trigger.id),
        )
    except (binascii.Error, ValueError):
        logger.warning("a webhook trigger's encrypted secret is not base64", extra={"trigger_id": trigger.id})
        raise refused from None
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "ClientError")
        if code in _NOT_THIS_TRIGGERS:
            logger.warning(
                "a webhook trigger's encrypted secret is not its own",
                extra={"trigger_id": trigger.id, "error_code": code},
            )
            raise refused from None
        logger.error(
            "a webhook trigger's secret could not be decrypted",
            extra={"trigger_id": trigger.id, "error_code": code},
        )
        raise ServiceUnavailable("the key service is unavailable, retry shortly") from None
    return response["Plaintext"].decode()
