"""The local stack's item-level rollback of moto transactions: same outcome as moto's table copies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from switchboard_cli.local import moto_transactions

TABLE = "Items"


@pytest.fixture
def client() -> Iterator[Any]:
    moto_transactions.install()
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        yield dynamodb


def _scan(client: Any) -> list[dict[str, Any]]:
    return sorted(client.scan(TableName=TABLE)["Items"], key=lambda item: (item["pk"]["S"], item["sk"]["S"]))


def _key(pk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": "x"}}


def test_a_failed_transaction_leaves_every_item_as_it_was(client: Any) -> None:
    # Given two items, one with a binary and a set
    client.put_item(TableName=TABLE, Item={**_key("a"), "n": {"N": "1"}, "b": {"B": b"\x00\xff"}})
    client.put_item(TableName=TABLE, Item={**_key("b"), "tags": {"SS": ["p", "q"]}})
    before = _scan(client)

    # When a transaction puts a new item, updates and deletes existing ones, then fails its last condition
    with pytest.raises(client.exceptions.TransactionCanceledException):
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": {**_key("c"), "v": {"S": "new"}}}},
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": _key("a"),
                        "UpdateExpression": "SET n = :two REMOVE b",
                        "ExpressionAttributeValues": {":two": {"N": "2"}},
                    }
                },
                {"Delete": {"TableName": TABLE, "Key": _key("b")}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": _key("missing"),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
            ]
        )

    # Then the table is exactly as before
    assert _scan(client) == before


def test_a_transaction_that_succeeds_applies_every_operation(client: Any) -> None:
    client.put_item(TableName=TABLE, Item={**_key("a"), "n": {"N": "1"}})

    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {**_key("c"), "v": {"S": "new"}}}},
            {
                "Update": {
                    "TableName": TABLE,
                    "Key": _key("a"),
                    "UpdateExpression": "SET n = :two",
                    "ExpressionAttributeValues": {":two": {"N": "2"}},
                }
            },
        ]
    )

    assert _scan(client) == [{**_key("a"), "n": {"N": "2"}}, {**_key("c"), "v": {"S": "new"}}]


def test_tables_are_not_copied_any_more(client: Any) -> None:
    from moto.dynamodb import models

    table = next(iter(models.dynamodb_backends["123456789012"]["us-east-1"].tables.values()))
    assert models.copy.deepcopy(table) is table  # type: ignore[attr-defined]
    assert models.copy.deepcopy({"a": [1]}) == {"a": [1]}  # type: ignore[attr-defined]
