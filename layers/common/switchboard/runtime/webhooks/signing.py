"""Standard Webhooks (https://www.standardwebhooks.com): per-App signing secrets, signing, verifying.

A secret is ``whsec_`` followed by the base64 of 32 random bytes; the HMAC key is those bytes. A message is
signed as ``v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`` and sent with the headers
``webhook-id`` (stable across retries, so receivers can deduplicate), ``webhook-timestamp`` (unix seconds of
the attempt) and ``webhook-signature`` (space-separated ``v1,<signature>`` entries; any one may match).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Mapping

SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
SECRET_BYTES = 32
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
MAX_TIMESTAMP_DIGITS = 12
"""Unix seconds until the year 33658: more digits are not a timestamp."""
_TIMESTAMP = re.compile(rf"[0-9]{{1,{MAX_TIMESTAMP_DIGITS}}}")


class WebhookVerificationError(Exception):
    """The message is not authentic or not fresh; the reason never includes a secret or a signature."""


def new_signing_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def _key(secret: str) -> bytes:
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the signing secret is not base64") from None
    if not key:
        raise ValueError("the signing secret is empty")
    return key


def unix_seconds(text: str) -> int | None:
    """A ``webhook-timestamp``'s value: ASCII digits only, at most ``MAX_TIMESTAMP_DIGITS`` (None otherwise,
    so no clock arithmetic ever meets a number too large for a float)."""
    digits = text.strip()
    return int(digits) if _TIMESTAMP.fullmatch(digits) else None


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<base64>`` signature of one message."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signature_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }


def verify_webhook(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Raise ``WebhookVerificationError`` unless one ``v1`` signature matches and the timestamp is within
    ``tolerance`` seconds of ``now`` (either side). Header names are matched case-insensitively."""
    lowered = {name.lower(): value for name, value in headers.items()}
    message_id = lowered.get("webhook-id")
    timestamp_text = lowered.get("webhook-timestamp")
    signatures = lowered.get("webhook-signature")
    if not message_id or not timestamp_text or not signatures:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    timestamp = unix_seconds(timestamp_text)
    if timestamp is None:
        raise WebhookVerificationError("webhook-timestamp is not unix seconds")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is outside the tolerance")
    expected = signature(secret, message_id, timestamp, body).encode()
    for candidate in signatures.split():
        version, _, _ = candidate.partition(",")
        if version == SIGNATURE_VERSION and hmac.compare_digest(candidate.encode(), expected):
            return
    raise WebhookVerificationError("no signature matches")
