"""Thin, typed access to one DynamoDB table: reads, conditional writes, transactions, cursor pages.

Conditional-check failures become ``Conflict`` (409), throttling becomes ``ServiceUnavailable`` (503);
nothing else about DynamoDB leaks past this module.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.conditions import Key as KeyCondition
from boto3.dynamodb.types import Binary, TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from switchboard import aws
from switchboard.domain.errors import BadRequest, Conflict, ServiceUnavailable

Item = dict[str, Any]
_THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "LimitExceededException",
}
_TABLE_KEY_ATTRIBUTES = frozenset({"pk", "sk"})
_INDEX_KEY_ATTRIBUTES = frozenset({"pk", "sk", "gsi1pk", "gsi1sk"})
_KEY_BYTES = {"pk": 2048, "sk": 1024, "gsi1pk": 2048, "gsi1sk": 1024}
"""DynamoDB's limits for partition and sort key values."""
MAX_CURSOR_CHARS = 4096
_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def to_dynamo(value: Any) -> Any:
    """JSON-compatible value → DynamoDB-compatible value (floats become Decimal)."""
    return json.loads(json.dumps(value), parse_float=Decimal)


def from_dynamo(value: Any) -> Any:
    """DynamoDB value → plain JSON value (Decimals become int or float, sets become sorted lists)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [from_dynamo(v) for v in value]
    if isinstance(value, set):
        return sorted(from_dynamo(v) for v in value)
    return value


@dataclass(frozen=True)
class Page:
    items: list[Item]
    next_token: str | None


def encode_cursor(last_key: Mapping[str, Any] | None) -> str | None:
    if not last_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(dict(last_key), sort_keys=True).encode()).decode().rstrip("=")


def decode_cursor(
    token: str | None, partition: str, *, index: bool, prefix: str | None = None
) -> dict[str, str] | None:
    """The ``ExclusiveStartKey`` a ``next_token`` stands for, checked completely (400 ``invalid_cursor``
    otherwise): at most ``MAX_CURSOR_CHARS``, exactly the key attributes of the table (or of the index, which
    carries the table's too), each a non-empty string DynamoDB accepts as a key, in the listing's partition
    and, with a sort key ``prefix``, within it. A cursor DynamoDB would refuse never reaches it."""
    if not token:
        return None
    decoded = decode_token(token)
    partition_attribute, sort_attribute = ("gsi1pk", "gsi1sk") if index else ("pk", "sk")
    valid = (
        isinstance(decoded, dict)
        and set(decoded) == (_INDEX_KEY_ATTRIBUTES if index else _TABLE_KEY_ATTRIBUTES)
        and all(is_key_value(name, value) for name, value in decoded.items())
        and decoded[partition_attribute] == partition
        and (prefix is None or decoded[sort_attribute].startswith(prefix))
    )
    if not valid:
        raise BadRequest("next_token is not a valid cursor for this listing", code="invalid_cursor")
    return {str(k): str(v) for k, v in decoded.items()}


def decode_token(token: str) -> Any:
    """The JSON document a ``next_token`` encodes (400 ``invalid_cursor`` when it is too long or none)."""
    if len(token) > MAX_CURSOR_CHARS:
        raise BadRequest(f"next_token is longer than {MAX_CURSOR_CHARS} characters", code="invalid_cursor")
    try:
        padded = token + "=" * (-len(token) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise BadRequest("next_token is not a valid cursor", code="invalid_cursor") from None


def is_key_value(name: str, value: Any) -> bool:
    """A non-empty string DynamoDB accepts as the value of key attribute ``name``."""
    if not isinstance(value, str):
        return False
    try:
        size = len(value.encode())
    except UnicodeEncodeError:  # a lone surrogate, which JSON can spell as \ud800
        return False
    return 0 < size <= _KEY_BYTES[name]


@contextmanager
def translate_errors(
    conflict_message: str = "the resource changed or already exists", conflict_code: str = "conflict"
) -> Iterator[None]:
    try:
        yield
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if code == "ConditionalCheckFailedException":
            raise Conflict(conflict_message, code=conflict_code) from None
        if code == "TransactionCanceledException":
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" in reasons:
                raise Conflict(conflict_message, code=conflict_code) from None
            if "TransactionConflict" in reasons or "ThrottlingError" in reasons:
                raise ServiceUnavailable("the service is busy, retry shortly") from None
        if code in _THROTTLING:
            raise ServiceUnavailable("the service is busy, retry shortly") from None
        raise


class _Cancelled(Exception):
    def __init__(self, reasons: list[str]) -> None:
        super().__init__("transaction canceled")
        self.reasons = reasons


@contextmanager
def _keep_cancellations() -> Iterator[None]:
    """A canceled transaction whose reasons are conditions (or nothing): ``_Cancelled`` with them, before
    ``translate_errors`` turns it into a plain Conflict; throttling and conflicts pass on as 503."""
    try:
        yield
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
            raise
        reasons = [str(r.get("Code") or "None") for r in error.response.get("CancellationReasons", [])]
        if not set(reasons) <= {"ConditionalCheckFailed", "None"}:
            raise
        raise _Cancelled(reasons) from None


def put_op(
    table: str, item: Item, condition: str | None = None, values: Item | None = None
) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": table, "Item": item}
    _add_condition(op, condition, values)
    return {"Put": op}


def update_op(
    table: str, key: Item, expression: str, condition: str | None = None, values: Item | None = None
) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": table, "Key": key, "UpdateExpression": expression}
    _add_condition(op, condition, values)
    return {"Update": op}


def delete_op(
    table: str, key: Item, condition: str | None = None, values: Item | None = None
) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": table, "Key": key}
    _add_condition(op, condition, values)
    return {"Delete": op}


def check_op(table: str, key: Item, condition: str, values: Item | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"TableName": table, "Key": key}
    _add_condition(op, condition, values)
    return {"ConditionCheck": op}


def _add_condition(op: dict[str, Any], condition: str | None, values: Item | None) -> None:
    if condition:
        op["ConditionExpression"] = condition
    if values:
        op["ExpressionAttributeValues"] = values
    # Expressions refer to attributes that may be reserved words (name, status, ...) as #attribute.
    names = {
        placeholder: placeholder[1:]
        for placeholder in _NAME.findall(f"{condition or ''} {op.get('UpdateExpression', '')}")
    }
    if names:
        op["ExpressionAttributeNames"] = names


_NAME = re.compile(r"#[A-Za-z_][A-Za-z0-9_]*")


def _deserialize(item: Mapping[str, Any]) -> Item:
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def _serialize(op: dict[str, Any]) -> dict[str, Any]:
    body = dict(next(iter(op.values())))
    for field in ("Item", "Key", "ExpressionAttributeValues"):
        if field in body:
            body[field] = {k: _serializer.serialize(_attribute(v)) for k, v in body[field].items()}
    return {next(iter(op)): body}


def _attribute(value: Any) -> Any:
    """A binary attribute (a compressed payload) as it is; any other value made DynamoDB-compatible."""
    return value if isinstance(value, bytes | bytearray | Binary) else to_dynamo(value)


class Table:
    def __init__(self, name: str) -> None:
        self.name = name

    def get(self, key: Item) -> Item | None:
        with translate_errors():
            response = aws.table(self.name).get_item(Key=key, ConsistentRead=True)
        item = response.get("Item")
        return from_dynamo(item) if item is not None else None

    def batch_get(self, keys: list[Item]) -> list[Item]:
        found: list[Item] = []
        pending = [dict(k) for k in {json.dumps(k, sort_keys=True): k for k in keys}.values()]
        while pending:
            chunk, pending = pending[:100], pending[100:]
            request: Any = {self.name: {"Keys": chunk, "ConsistentRead": True}}
            while request:
                with translate_errors():
                    response = aws.dynamodb_resource().batch_get_item(RequestItems=request)
                found.extend(from_dynamo(i) for i in response.get("Responses", {}).get(self.name, []))
                request = response.get("UnprocessedKeys") or None
        return found

    def write(
        self, op: dict[str, Any], conflict_message: str = "the resource changed or already exists"
    ) -> None:
        """Run one put/update/delete op (built with the *_op helpers) as a single conditional write."""
        kind, body = next(iter(op.items()))
        params = {
            k: to_dynamo(v) if k in ("Item", "Key", "ExpressionAttributeValues") else v
            for k, v in body.items()
        }
        params.pop("TableName")
        table = aws.table(self.name)
        with translate_errors(conflict_message):
            if kind == "Put":
                table.put_item(**params)
            elif kind == "Update":
                table.update_item(**params)
            elif kind == "Delete":
                table.delete_item(**params)
            else:
                raise ValueError(f"unsupported single write {kind}")

    def update_returning(self, op: dict[str, Any], conflict_message: str) -> Item:
        body = dict(op["Update"])
        body.pop("TableName")
        params = {
            k: to_dynamo(v) if k in ("Key", "ExpressionAttributeValues") else v for k, v in body.items()
        }
        with translate_errors(conflict_message):
            response = aws.table(self.name).update_item(ReturnValues="ALL_NEW", **params)
        return from_dynamo(response["Attributes"])  # type: ignore[no-any-return]

    def update_or_current(self, op: dict[str, Any]) -> tuple[bool, Item | None]:
        """One conditional update that also reads: ``(True, the item after it)`` when the condition held,
        ``(False, the item as it stood)`` when it did not (``None``: no such item), in a single call."""
        body = dict(op["Update"])
        body.pop("TableName")
        params = {
            k: to_dynamo(v) if k in ("Key", "ExpressionAttributeValues") else v for k, v in body.items()
        }
        with translate_errors():
            try:
                response = aws.table(self.name).update_item(
                    ReturnValues="ALL_NEW", ReturnValuesOnConditionCheckFailure="ALL_OLD", **params
                )
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                    raise
                # The item of a failed condition comes in the wire format: the resource does not convert it.
                item = error.response.get("Item")
                return False, from_dynamo(_deserialize(item)) if isinstance(item, Mapping) else None
        return True, from_dynamo(response["Attributes"])

    def transact(
        self, ops: list[dict[str, Any]], conflict_message: str, conflict_code: str = "conflict"
    ) -> None:
        with translate_errors(conflict_message, conflict_code):
            aws.dynamodb().transact_write_items(TransactItems=[_serialize(op) for op in ops])  # type: ignore[misc]

    def transact_reasons(self, ops: list[dict[str, Any]]) -> list[str] | None:
        """Run a transaction: None when it went through, else each op's cancellation reason code
        (``ConditionalCheckFailed``, ``None``, …), so the caller can tell which condition failed."""
        items = [_serialize(op) for op in ops]
        try:
            with translate_errors(), _keep_cancellations():
                aws.dynamodb().transact_write_items(TransactItems=items)  # type: ignore[arg-type]
        except _Cancelled as cancelled:
            return cancelled.reasons
        return None

    def query(
        self,
        partition: str,
        *,
        prefix: str | None = None,
        index: str | None = None,
        limit: int = 50,
        next_token: str | None = None,
        newest_first: bool = False,
    ) -> Page:
        pk_name, sk_name = ("gsi1pk", "gsi1sk") if index else ("pk", "sk")
        condition: Any = KeyCondition(pk_name).eq(partition)
        if prefix:
            condition = condition & KeyCondition(sk_name).begins_with(prefix)
        params: dict[str, Any] = {
            "KeyConditionExpression": condition,
            "Limit": limit,
            "ScanIndexForward": not newest_first,
        }
        if index:
            params["IndexName"] = index
        else:
            params["ConsistentRead"] = True
        start = decode_cursor(next_token, partition, index=index is not None, prefix=prefix)
        if start:
            params["ExclusiveStartKey"] = start
        with translate_errors():
            response = aws.table(self.name).query(**params)
        return Page(
            items=[from_dynamo(i) for i in response.get("Items", [])],
            next_token=encode_cursor(response.get("LastEvaluatedKey")),
        )

    def query_all(self, partition: str, *, prefix: str | None = None, index: str | None = None) -> list[Item]:
        items: list[Item] = []
        token: str | None = None
        while True:
            page = self.query(partition, prefix=prefix, index=index, limit=500, next_token=token)
            items.extend(page.items)
            if not page.next_token:
                return items
            token = page.next_token
