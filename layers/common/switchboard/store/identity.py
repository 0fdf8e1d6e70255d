"""Users, their email claims, and API tokens (personal access tokens and access keys)."""

from __future__ import annotations

from datetime import datetime

from switchboard.domain.errors import Conflict, ServiceUnavailable
from switchboard.domain.ids import iso
from switchboard.domain.models import ApiToken, TokenKind, User
from switchboard.store import keys
from switchboard.store.control import control, from_item, to_item
from switchboard.store.table import Item, Page, put_op, update_op

NOT_EXISTS = "attribute_not_exists(pk)"
EMAIL_TAKEN = "a user with this email already exists"


def user_ops(user: User) -> list[Item]:
    table = control().name
    return [
        put_op(table, to_item(user, keys.user(user.id)), NOT_EXISTS),
        put_op(table, {**keys.email_claim(user.email), "user_id": user.id}, NOT_EXISTS),
    ]


def create_user(user: User) -> None:
    control().transact(user_ops(user), EMAIL_TAKEN)


def get_user(user_id: str) -> User | None:
    item = control().get(keys.user(user_id))
    return from_item(User, item) if item else None


def find_user_by_email(email: str) -> User | None:
    claim = control().get(keys.email_claim(email))
    return get_user(claim["user_id"]) if claim else None


def _token_partition(token: ApiToken) -> str:
    if token.kind is TokenKind.pat:
        assert token.user_id is not None
        return keys.user_tokens(token.user_id)
    assert token.org_id is not None
    return keys.org_access_keys(token.org_id)


def token_op(token: ApiToken) -> Item:
    index = keys.listing_index(_token_partition(token), token.created_at, token.id)
    return put_op(control().name, to_item(token, keys.token(token.id), index), NOT_EXISTS)


def create_token(token: ApiToken) -> None:
    control().write(token_op(token))


def get_token(token_id: str) -> ApiToken | None:
    item = control().get(keys.token(token_id))
    return from_item(ApiToken, item) if item else None


def list_tokens(partition: str, limit: int, next_token: str | None) -> tuple[list[ApiToken], str | None]:
    page: Page = control().query(
        partition, index=keys.GSI1, limit=limit, next_token=next_token, newest_first=True
    )
    return [from_item(ApiToken, i) for i in page.items], page.next_token


def revoke_token(token_id: str, by: str, at: datetime) -> ApiToken:
    item = control().update_returning(
        update_op(
            control().name,
            keys.token(token_id),
            "SET revoked_at = :at, revoked_by = :by",
            "attribute_exists(pk) AND attribute_not_exists(revoked_at)",
            {":at": iso(at), ":by": by},
        ),
        "the token is already revoked",
    )
    return from_item(ApiToken, item)


def touch_token(token_id: str, at: datetime, older_than: datetime) -> bool:
    """Record use at most once per interval; returns False when a recent use was already recorded."""
    try:
        control().write(
            update_op(
                control().name,
                keys.token(token_id),
                "SET last_used_at = :at",
                "attribute_exists(pk) AND (attribute_not_exists(last_used_at) OR last_used_at < :threshold)",
                {":at": iso(at), ":threshold": iso(older_than)},
            )
        )
    except (Conflict, ServiceUnavailable):  # recorded recently, or busy: never fail the request for it
        return False
    return True
