"""An OAuth link's tokens on its item: the writes of the single-flight refresh (``runtime.credentials
.oauth_tokens``).

- ``claim_refresh``: one conditional update takes the refresh lease (``refresh_lease`` = the refresher,
  ``refreshing_until``) while the item still holds the tokens of ``token_version`` that were read, the link
  is active, and no lease is held (or the one held has run out: its refresher crashed). One claimant wins.
- ``store_refreshed``: the new tokens (a rotated refresh token with the new access token and expiry), sealed
  like any link secret (``store.link_secrets``), written in one conditional update that also bumps
  ``token_version``, gives the item a new ``secret_version`` (so no cache serves the old tokens) and ends the
  lease: only while the writer still holds the lease and the link is still active.
- ``release_refresh``: ends the lease without new tokens (the refresh failed and may be tried again).

None of them changes the link's ``revision``: the link itself (status, config) did not change.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from switchboard.domain.errors import Conflict
from switchboard.domain.ids import iso, random_body
from switchboard.domain.runs import Link, LinkStatus
from switchboard.store import keys, link_secrets
from switchboard.store.links import links_table
from switchboard.store.table import Item, update_op


def _key(link: Link) -> Item:
    return dict(keys.link(link.app_id, link.user_id, link.requirement_id))


def claim_refresh(link: Link, owner: str, now: datetime, until: datetime) -> bool:
    """Take the refresh lease of the link's tokens at ``link.token_version``; False when another holds it, or
    the tokens, the link or its status changed since ``link`` was read."""
    # A link stored before token versions has no attribute: its tokens are version 0.
    version = "token_version = :version"
    if link.token_version == 0:
        version = "(attribute_not_exists(token_version) OR token_version = :version)"
    values: Item = {
        ":owner": owner,
        ":until": iso(until),
        ":now": iso(now),
        ":id": link.id,
        ":active": LinkStatus.active.value,
        ":version": link.token_version,
    }
    table = links_table()
    try:
        table.write(
            update_op(
                table.name,
                _key(link),
                "SET refresh_lease = :owner, refreshing_until = :until",
                f"#id = :id AND #status = :active AND {version} AND "
                "(attribute_not_exists(refreshing_until) OR refreshing_until < :now)",
                values,
            )
        )
    except Conflict:
        return False
    return True


def store_refreshed(link: Link, owner: str, values: Mapping[str, object]) -> Link:
    """Seal ``values`` (the whole token set) into the item and bump ``token_version``, ending ``owner``'s
    lease; 409 when the lease is no longer ``owner``'s or the link is no longer active."""
    stored = link.model_copy(
        update={
            "sealed_secret": link_secrets.seal_values(link, values),
            "secret_version": f"sealed-{random_body()}",
            "token_version": link.token_version + 1,
            "refresh_lease": None,
            "refreshing_until": None,
        }
    )
    table = links_table()
    table.write(
        update_op(
            table.name,
            _key(link),
            "SET sealed_secret = :sealed, secret_version = :secret_version, token_version = :next "
            "REMOVE refresh_lease, refreshing_until",
            "#id = :id AND #status = :active AND refresh_lease = :owner",
            {
                ":sealed": stored.sealed_secret,
                ":secret_version": stored.secret_version,
                ":next": stored.token_version,
                ":id": link.id,
                ":active": LinkStatus.active.value,
                ":owner": owner,
            },
        ),
        "the link's refresh lease was lost",
    )
    return stored


def release_refresh(link: Link, owner: str) -> None:
    """End ``owner``'s lease, if it still holds it."""
    table = links_table()
    try:
        table.write(
            update_op(
                table.name,
                _key(link),
                "REMOVE refresh_lease, refreshing_until",
                "refresh_lease = :owner",
                {":owner": owner},
            )
        )
    except Conflict:
        return
