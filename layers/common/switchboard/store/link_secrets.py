"""End users' link secrets, sealed into the link's own item under the link secrets key (``LINK_SECRETS_KEY``).

A link's secret fields are one JSON object sealed by ``switchboard.store.envelope`` (a KMS data key, AES-GCM)
into the item's ``sealed_secret``: one DynamoDB item per link, no Secrets Manager secret, so a million linked
users cost their items and one key, and resolving them is bound by KMS's request quota, not Secrets
Manager's. The functions that link (the Apps and management functions) may only seal; the key's policy lets
only the credentials function's role decrypt.

The encryption context names the record: the App, the user, the requirement and the link id, so a sealed
secret copied into another link's item (another user's, another requirement's, a replaced link's) does not
open there.

Links made before this store keep their Secrets Manager secret (``secret_name``) and resolve from it until
they are linked again; a new link, a re-link or a rotation is sealed and the old secret is deleted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Protocol

from switchboard.domain.errors import SwitchboardError
from switchboard.domain.runs import Link
from switchboard.settings import get_settings
from switchboard.store.envelope import EnvelopeRefused, open_sealed, seal


class SealedRecord(Protocol):
    """A record holding a link's sealed secret: the link itself, or its pending revocation at an OAuth
    provider (``store.oauth_revocations``), which keeps the revoked link's sealed tokens under its context."""

    @property
    def id(self) -> str: ...
    @property
    def app_id(self) -> str: ...
    @property
    def user_id(self) -> str: ...
    @property
    def requirement_id(self) -> str: ...
    @property
    def sealed_secret(self) -> str | None: ...


def context(link: SealedRecord) -> dict[str, str]:
    """The encryption context binding a link's sealed secret to its record."""
    return {
        "switchboard:app": link.app_id,
        "switchboard:user": link.user_id,
        "switchboard:requirement": link.requirement_id,
        "switchboard:link": link.id,
    }


def seal_values(link: Link, values: Mapping[str, object]) -> str:
    """The link's secret fields sealed for its record, for the item's ``sealed_secret``."""
    return seal(get_settings().link_secrets_key, context(link), json.dumps(dict(values)).encode())


def open_values(link: SealedRecord) -> dict[str, object]:
    """The secret fields sealed in the link's item (the credentials function only: no other role decrypts).
    An ``invalid_secret`` error when the sealed value is not this link's."""
    if link.sealed_secret is None:
        raise SwitchboardError("the link holds no sealed secret", code="invalid_secret", details=link.id)
    try:
        plaintext = open_sealed(get_settings().link_secrets_key, context(link), link.sealed_secret)
    except EnvelopeRefused:
        raise SwitchboardError(
            "the link's sealed secret is not its own", code="invalid_secret", details=link.id
        ) from None
    values = json.loads(plaintext)
    if not isinstance(values, dict):
        raise SwitchboardError(
            "the link's secret is not a JSON object", code="invalid_secret", details=link.id
        )
    return values
