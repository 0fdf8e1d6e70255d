"""Connection records (non-secret config, secret field names, the secret's name and current version)."""

from __future__ import annotations

from switchboard.domain.models import Connection
from switchboard.store import keys
from switchboard.store.control import control, from_item, to_item
from switchboard.store.table import check_op, delete_op, put_op


def _item(connection: Connection) -> dict[str, object]:
    index = keys.listing_index(
        keys.project_connections(connection.project_id), connection.created_at, connection.id
    )
    return to_item(connection, keys.connection(connection.id), index)


def create_connection(connection: Connection) -> None:
    table = control().name
    control().transact(
        [
            put_op(table, _item(connection), "attribute_not_exists(pk)"),
            check_op(table, keys.project(connection.project_id), "attribute_exists(pk)"),
        ],
        "the connection already exists",
    )


def get_connection(connection_id: str) -> Connection | None:
    item = control().get(keys.connection(connection_id))
    return from_item(Connection, item) if item else None


def list_connections(
    project_id: str, limit: int, next_token: str | None
) -> tuple[list[Connection], str | None]:
    page = control().query(
        keys.project_connections(project_id), index=keys.GSI1, limit=limit, next_token=next_token
    )
    return [from_item(Connection, i) for i in page.items], page.next_token


def all_connections(project_id: str) -> list[Connection]:
    return [
        from_item(Connection, i)
        for i in control().query_all(keys.project_connections(project_id), index=keys.GSI1)
    ]


def replace_connection(updated: Connection, expected_version: int) -> None:
    """Write the new state of a connection if nobody changed it since ``expected_version`` was read."""
    control().write(
        put_op(control().name, _item(updated), "#version = :expected", {":expected": expected_version}),
        "the connection was changed concurrently; retry",
    )


def delete_connection(connection: Connection) -> None:
    control().write(
        delete_op(
            control().name,
            keys.connection(connection.id),
            "#version = :expected",
            {":expected": connection.version},
        ),
        "the connection was changed concurrently; retry",
    )
