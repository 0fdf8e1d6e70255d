"""moto's DynamoDB tables, read and written directly for the state file (``state.DynamoDBPersister``).

Reading every item through ``Scan`` costs a couple of milliseconds an item: moto deep-copies each one, sorts
the table again for every page and serialises the answer, which botocore then parses back. Reading moto's
own ``Table`` objects gives the same items, in the same order (``Table.all_items``, the order ``Scan``
pages through), at a small fraction of that, and putting saved items back through moto's backend skips the
same round trip at start.

An item is written to the state file as ``Scan`` returns it through boto3 with its binary values as
base64 (``B``, ``BS``, nested in ``M`` and ``L``), the wire's own form: moto keeps a binary value either
as the request's base64 text or as bytes, so each is encoded afresh from its bytes, exactly like botocore
decoding the answer and the state file encoding the bytes again.

moto takes no lock around its tables and changes items in place: ``UpdateItem`` applies its expression to
the stored item (one that creates an item first stores its key alone) and a failed transaction swaps whole
tables back; a read iterating an item while a write changes it fails (``dictionary changed size during
iteration``). ``guard_writes`` wraps every method of moto's DynamoDB backend that writes items or tables,
and every one that reads items, in one re-entrant lock, ``WRITES``; ``snapshot`` holds it while it copies
the items, so neither a save nor a read ever sees an item (or a transaction) half written. A call arriving
meanwhile waits, a few milliseconds.
"""

from __future__ import annotations

import base64
import functools
import threading
from collections.abc import Callable, Iterable
from typing import Any

from switchboard import aws
from switchboard_cli.local import moto_transactions

WRITES = threading.RLock()
"""Held by every write and read of moto's DynamoDB tables (once ``guard_writes`` ran) and by ``snapshot``."""

WRITE_METHODS = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
    "create_table",
    "update_table",
    "delete_table",
    "restore_table_from_backup",
    "restore_table_to_point_in_time",
    "import_table",
)
"""Methods of moto's ``DynamoDBBackend`` that change items or the tables holding them (``BatchWriteItem``
calls ``put_item`` and ``delete_item`` once an item)."""

READ_METHODS = ("get_item", "query", "scan", "batch_get_item", "transact_get_items")
"""Methods of moto's ``DynamoDBBackend`` that read items (they iterate them: no write may run meanwhile)."""

_GUARDED = "__switchboard_guarded__"
_installing = threading.Lock()


def guard_writes() -> None:
    """Make every write and read of moto's DynamoDB backend hold ``WRITES`` (for the whole process; once)."""
    from moto.dynamodb.models import DynamoDBBackend

    moto_transactions.install()  # first, so the lock guards the item-level rollback too
    with _installing:
        for name in (*WRITE_METHODS, *READ_METHODS):
            method = getattr(DynamoDBBackend, name, None)
            if method is not None and not getattr(method, _GUARDED, False):
                setattr(DynamoDBBackend, name, _guarded(method))


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        with WRITES:
            return method(*args, **kwargs)

    setattr(guarded, _GUARDED, True)
    return guarded


def backend() -> Any:
    """moto's DynamoDB backend behind ``aws.dynamodb()`` (its tables' ARN names the account and region), or
    None when it holds no table."""
    from moto.dynamodb.models import dynamodb_backends

    client = aws.dynamodb()
    names = client.list_tables(Limit=1)["TableNames"]
    if not names:
        return None
    arn = client.describe_table(TableName=names[0])["Table"]["TableArn"]
    _, _, _, region, account_id, _ = arn.split(":", 5)
    return dynamodb_backends[account_id][region]


def snapshot(backend: Any) -> dict[str, list[dict[str, Any]]]:
    """Every table's items, as ``Scan`` pages through them, in the state file's form (see the module)."""
    with WRITES:
        return {
            name: [
                {attribute: _value(value) for attribute, value in item.attrs.items()}
                for item in table.all_items()
            ]
            for name, table in list(backend.tables.items())
        }


def put_items(backend: Any, tables: dict[str, Iterable[dict[str, Any]]]) -> None:
    """Put saved items (the state file's form) into the tables of ``backend`` that exist, as ``PutItem``
    would store them; items of other tables are skipped."""
    with WRITES:
        for name, items in tables.items():
            if name not in backend.tables:
                continue
            for item in items:
                backend.put_item(name, {attribute: _wire(value) for attribute, value in item.items()})


def _value(value: Any) -> dict[str, Any]:
    """One of moto's attribute values (``DynamoType``, or already a ``{type: value}`` dict) as ``Scan``
    returns it, binary as base64."""
    if isinstance(value, dict):
        ((kind, inner),) = value.items()
    else:
        kind, inner = value.type, value.value
    if kind == "M":
        return {"M": {name: _value(item) for name, item in inner.items()}}
    if kind == "L":
        return {"L": [_value(item) for item in inner]}
    if kind == "B":
        return {"B": _base64(inner)}
    if kind == "BS":
        return {"BS": [_base64(item) for item in inner]}
    if kind in ("SS", "NS"):
        return {kind: list(inner)}
    return {kind: inner}


def _wire(value: dict[str, Any]) -> dict[str, Any]:
    """A saved attribute value as a ``PutItem`` request carries it (binary as base64, re-encoded the way
    boto3 would send the decoded bytes)."""
    ((kind, inner),) = value.items()
    if kind == "M":
        return {"M": {name: _wire(item) for name, item in inner.items()}}
    if kind == "L":
        return {"L": [_wire(item) for item in inner]}
    if kind == "B":
        return {"B": _base64(inner)}
    if kind == "BS":
        return {"BS": [_base64(item) for item in inner]}
    return value


def _base64(raw: str | bytes) -> str:
    """Binary as base64 text: bytes encoded; text (moto keeps the request's base64) decoded as botocore
    decodes an answer, then encoded again."""
    data = raw if isinstance(raw, bytes | bytearray) else base64.b64decode(raw)
    return base64.b64encode(data).decode("ascii")
