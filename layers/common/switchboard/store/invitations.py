"""Invitations to organizations (control table): one item per invitation, holding only its token's hash.

An item outlives its ``expires_at`` by ``RETENTION`` (``ttl``, DynamoDB TTL), so an expired invitation can be
told from one that never existed (410 against 404) and stays listed for a while. Conditions compare
``expires_ms`` (epoch milliseconds): the stored date-time text's precision varies, its order with it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from switchboard.domain.ids import iso
from switchboard.domain.models import Invitation, InvitationStatus
from switchboard.store import keys
from switchboard.store.control import control, from_item, to_item
from switchboard.store.table import Item, put_op, update_op

RETENTION = timedelta(days=30)
PENDING = "#status = :pending AND expires_ms > :now"


def create_invitation(invitation: Invitation) -> None:
    item = {
        **to_item(
            invitation,
            keys.invitation(invitation.id),
            keys.listing_index(keys.org_invitations(invitation.org_id), invitation.created_at, invitation.id),
        ),
        "ttl": int((invitation.expires_at + RETENTION).timestamp()),
        "expires_ms": _epoch_ms(invitation.expires_at),
    }
    control().write(put_op(control().name, item, "attribute_not_exists(pk)"), "the invitation already exists")


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def get_invitation(invitation_id: str) -> Invitation | None:
    item = control().get(keys.invitation(invitation_id))
    return from_item(Invitation, item) if item else None


def list_invitations(org_id: str, limit: int, next_token: str | None) -> tuple[list[Invitation], str | None]:
    page = control().query(
        keys.org_invitations(org_id), index=keys.GSI1, limit=limit, next_token=next_token, newest_first=True
    )
    return [from_item(Invitation, i) for i in page.items], page.next_token


def _close_op(
    invitation_id: str, status: InvitationStatus, by: str, at: datetime, condition: str, values: Item
) -> Item:
    stamp = "accepted" if status is InvitationStatus.accepted else "revoked"
    return update_op(
        control().name,
        keys.invitation(invitation_id),
        f"SET #status = :status, {stamp}_at = :at, {stamp}_by = :by, updated_at = :at, updated_by = :by",
        condition,
        {
            ":status": status.value,
            ":at": iso(at),
            ":by": by,
            ":pending": InvitationStatus.pending.value,
            **values,
        },
    )


def accept_op(invitation_id: str, by: str, at: datetime) -> Item:
    """Mark the invitation accepted, on condition that it is still pending and unexpired at ``at``."""
    return _close_op(invitation_id, InvitationStatus.accepted, by, at, PENDING, {":now": _epoch_ms(at)})


def revoke_invitation(invitation_id: str, by: str, at: datetime) -> bool:
    """Revoke a pending invitation (expired or not); False when it was accepted or revoked meanwhile."""
    changed, _ = control().update_or_current(
        _close_op(invitation_id, InvitationStatus.revoked, by, at, "#status = :pending", {})
    )
    return changed
