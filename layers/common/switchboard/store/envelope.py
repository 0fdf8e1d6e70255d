"""Envelope encryption under a KMS key: a secret sealed into one string that can live in a DynamoDB item.

KMS ``GenerateDataKey`` gives a fresh 256-bit data key per seal, in clear and encrypted under the KMS key
with the record's encryption context; ``cryptography``'s AES-GCM encrypts the value with the clear key,
which is then dropped. Opening asks KMS to decrypt the data key with the same context, so only a principal
the key's policy lets decrypt can open it, and only for the record it was sealed for: a sealed value copied
into another record (another context) does not open (``EnvelopeRefused``).

The format (version 1), base64 of::

    0x01 | len(encrypted data key), 2 bytes big-endian | encrypted data key | nonce (12 bytes) | AES-GCM
    ciphertext with its 16-byte tag

The AES-GCM associated data is the version byte and the encryption context (sorted ``key=value`` lines), so
the ciphertext is bound to its record twice: by KMS and by the tag.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
from collections.abc import Mapping

from botocore.exceptions import ClientError

from switchboard import aws
from switchboard.domain.errors import ServiceUnavailable
from switchboard.observability import logger

VERSION = 1
NONCE_BYTES = 12
_HEADER = struct.Struct(">BH")
_NOT_THIS_RECORDS = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})
"""KMS errors meaning the data key was not sealed for this record under this key."""


class EnvelopeRefused(Exception):
    """The sealed value is not this record's (another context or key), or is not a sealed value at all."""


def _associated_data(context: Mapping[str, str]) -> bytes:
    lines = "\n".join(f"{key}={context[key]}" for key in sorted(context))
    return bytes([VERSION]) + lines.encode()


def _kms_error(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "ClientError"))


def seal(key_id: str, context: Mapping[str, str], plaintext: bytes) -> str:
    """``plaintext`` sealed for the record ``context`` names, under the KMS key ``key_id``."""
    try:
        data_key = aws.kms().generate_data_key(
            KeyId=key_id, KeySpec="AES_256", EncryptionContext=dict(context)
        )
    except ClientError as error:
        logger.error("a secret could not be sealed", extra={"error_code": _kms_error(error)})
        raise ServiceUnavailable("the key service is unavailable, retry shortly") from None
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # only the functions that seal pay for it

    encrypted_key = data_key["CiphertextBlob"]
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = AESGCM(data_key["Plaintext"]).encrypt(nonce, plaintext, _associated_data(context))
    blob = _HEADER.pack(VERSION, len(encrypted_key)) + encrypted_key + nonce + ciphertext
    return base64.b64encode(blob).decode()


def open_sealed(key_id: str, context: Mapping[str, str], sealed: str) -> bytes:
    """The plaintext of a value ``seal`` made for this record. ``EnvelopeRefused`` when it was sealed for
    another record or is malformed; 503 when KMS cannot answer."""
    try:
        blob = base64.b64decode(sealed, validate=True)
        version, key_length = _HEADER.unpack_from(blob)
    except (binascii.Error, ValueError, struct.error):
        raise EnvelopeRefused("not a sealed value") from None
    if version != VERSION or len(blob) < _HEADER.size + key_length + NONCE_BYTES:
        raise EnvelopeRefused("not a sealed value of a known version")
    start = _HEADER.size
    encrypted_key = blob[start : start + key_length]
    nonce = blob[start + key_length : start + key_length + NONCE_BYTES]
    ciphertext = blob[start + key_length + NONCE_BYTES :]
    try:
        data_key = aws.kms().decrypt(
            CiphertextBlob=encrypted_key, KeyId=key_id, EncryptionContext=dict(context)
        )["Plaintext"]
    except ClientError as error:
        code = _kms_error(error)
        if code in _NOT_THIS_RECORDS:
            raise EnvelopeRefused("sealed for another record") from None
        logger.error("a sealed secret could not be opened", extra={"error_code": code})
        raise ServiceUnavailable("the key service is unavailable, retry shortly") from None
    # Only the credentials function opens: the functions that never do never load it.
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        return AESGCM(data_key).decrypt(nonce, ciphertext, _associated_data(context))
    except InvalidTag:
        raise EnvelopeRefused("the sealed value was altered or is another record's") from None
