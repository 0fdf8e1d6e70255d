"""The state file round-trips moto's data: DynamoDB items, secrets, KMS keys' material, SQS messages and S3
objects."""

from __future__ import annotations

import base64
import json
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from switchboard import aws
from switchboard_cli.local import environment
from switchboard_cli.local.aws_backend import LocalTemplate, create_buckets, create_tables
from switchboard_cli.local.buckets import s3
from switchboard_cli.local.events import MAX_BODY_BYTES
from switchboard_cli.local.kms import create_keys
from switchboard_cli.local.queues import sqs
from switchboard_cli.local.state import (
    BackgroundSaver,
    DynamoDBPersister,
    LocalState,
    S3Persister,
    SqsPersister,
    StateError,
    write_atomically,
)
from switchboard_cli.local.template import Template

ROOT = Path(__file__).resolve().parents[2]

ITEM: dict[str, Any] = {
    "pk": {"S": "ORG#org_1"},
    "sk": {"S": "META"},
    "count": {"N": "42"},
    "ratio": {"N": "0.5"},
    "flag": {"BOOL": True},
    "nothing": {"NULL": True},
    "blob": {"B": b"\x00\x01\xff"},
    "blobs": {"BS": [b"a", b"\xfe"]},
    "names": {"SS": ["a", "b"]},
    "numbers": {"NS": ["1", "2"]},
    "nested": {"M": {"list": {"L": [{"S": "x"}, {"B": b"\x02"}, {"M": {"n": {"N": "1"}}}]}}},
}


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in (*environment.FAKE_CREDENTIALS, "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.setenv(name, "us-east-1" if "REGION" in name else "testing")
    yield
    aws.reset()


def fresh_stack() -> Any:
    mock = mock_aws()
    mock.start()
    aws.reset()
    create_tables(Template.from_file(ROOT / "template.yaml"))
    return mock


def snapshot() -> tuple[list[dict[str, Any]], list[tuple[str, str, str, Any, Any]]]:
    items = aws.dynamodb().scan(TableName="ControlTable")["Items"]
    secrets = []
    for entry in aws.secrets().list_secrets()["SecretList"]:
        value = aws.secrets().get_secret_value(SecretId=entry["ARN"])
        secrets.append(
            (
                entry["Name"],
                entry["ARN"],
                entry.get("Description", ""),
                sorted((tag["Key"], tag["Value"]) for tag in entry.get("Tags", [])),
                value.get("SecretString", value.get("SecretBinary")),
            )
        )
    return items, sorted(secrets)


def test_state_round_trips_through_a_fresh_moto(fake_aws: None, tmp_path: Path):
    # Given items of every attribute type, two secrets and a value encrypted under a template key in one moto
    path = tmp_path / "nested" / "state.json"
    mock = fresh_stack()
    try:
        key = create_keys(Template.from_file(ROOT / "template.yaml"))["TriggerSecretsKey"]
        context = {"switchboard:trigger": "trg-1"}
        blob = aws.kms().encrypt(KeyId=key, Plaintext=b"whsec_x", EncryptionContext=context)["CiphertextBlob"]
        aws.dynamodb().put_item(TableName="ControlTable", Item=ITEM)
        aws.dynamodb().put_item(TableName="RunsTable", Item={"pk": {"S": "RUN#1"}, "sk": {"S": "META"}})
        aws.secrets().create_secret(
            Name="switchboard/switchboard-local/con-1",
            Description="a connection",
            Tags=[{"Key": "org", "Value": "org_1"}],
            SecretString='{"api_key": "sk-test"}',
        )
        aws.secrets().create_secret(Name="switchboard/switchboard-local/bin", SecretBinary=b"\x00\x01")
        before = snapshot()
        state = LocalState(path)
        state.set("local_admin", {"email": "a@b.c", "user_id": "u", "org_id": "o", "token": "t"})

        # When it is saved
        state.save()
    finally:
        mock.stop()

    # Then the file is private and valid JSON
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert document["format"] == 1
    assert set(document["services"]) == {"dynamodb", "secretsmanager", "sqs", "s3", "scheduler", "kms"}

    # When a fresh moto gets the template's tables and keys (new material) and the state restored
    mock = fresh_stack()
    try:
        create_keys(Template.from_file(ROOT / "template.yaml"))
        restored = LocalState(path)
        restored.read()
        restored.restore()

        # Then items (types included), secrets (ARNs included) and the admin are back
        assert snapshot() == before
        assert aws.dynamodb().scan(TableName="RunsTable")["Count"] == 1
        assert restored.get("local_admin")["token"] == "t"
        # And what was encrypted before the restart still decrypts (the key's material came back)
        decrypted = aws.kms().decrypt(CiphertextBlob=blob, KeyId=key, EncryptionContext=context)
        assert decrypted["Plaintext"] == b"whsec_x"
    finally:
        mock.stop()


def test_items_of_tables_the_template_dropped_are_skipped(fake_aws: None):
    mock = fresh_stack()
    try:
        state = LocalState(Path("unused.json"))
        state.document["services"] = {"dynamodb": {"tables": {"GoneTable": [{"id": {"S": "1"}}]}}}
        state.restore()
        assert "GoneTable" not in aws.dynamodb().list_tables()["TableNames"]
    finally:
        mock.stop()


def test_an_unreadable_state_file_is_refused_not_overwritten(tmp_path: Path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    with pytest.raises(StateError, match="cannot read"):
        LocalState(path).read()
    path.write_text('{"format": 99}')
    with pytest.raises(StateError, match="format"):
        LocalState(path).read()
    assert path.read_text() == '{"format": 99}'


def test_a_missing_state_file_is_an_empty_state(tmp_path: Path):
    state = LocalState(tmp_path / "absent.json")
    state.read()
    assert state.get("local_admin") is None


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path):
    path = tmp_path / "a" / "b" / "state.json"
    write_atomically(path, "one")
    write_atomically(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]


def scanned_tables() -> dict[str, list[dict[str, Any]]]:
    """Every table's items through boto3 ``Scan`` (all pages), binary as base64: the state file's form as
    the DynamoDB persister used to read it."""

    def wire(value: Any) -> Any:
        ((kind, inner),) = value.items()
        if kind == "B":
            return {"B": base64.b64encode(inner).decode("ascii")}
        if kind == "BS":
            return {"BS": [base64.b64encode(item).decode("ascii") for item in inner]}
        if kind == "M":
            return {"M": {name: wire(item) for name, item in inner.items()}}
        if kind == "L":
            return {"L": [wire(item) for item in inner]}
        return value

    client = aws.dynamodb()
    tables = {}
    for name in client.list_tables()["TableNames"]:
        items: list[dict[str, Any]] = []
        for page in client.get_paginator("scan").paginate(TableName=name):
            items.extend({key: wire(value) for key, value in item.items()} for item in page["Items"])
        tables[name] = items
    return tables


def create_number_keys_table() -> None:
    """A table keyed by a number and a binary (the template's tables are keyed by strings)."""
    aws.dynamodb().create_table(
        TableName="NumberKeys",
        AttributeDefinitions=[
            {"AttributeName": "n", "AttributeType": "N"},
            {"AttributeName": "b", "AttributeType": "B"},
        ],
        KeySchema=[{"AttributeName": "n", "KeyType": "HASH"}, {"AttributeName": "b", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )


def fill_every_kind_of_item() -> None:
    """Items of every attribute type, written every way a handler writes them, in tables with and without a
    range key, GSI keys and TTL attributes, keys of every key type, and a table larger than one Scan page."""
    client = aws.dynamodb()
    for number in range(12):
        client.put_item(
            TableName="ControlTable",
            Item={
                **ITEM,
                "pk": {"S": f"ORG#org_{number % 4}"},
                "sk": {"S": f"PROJECT#{11 - number:03d}"},
                "gsi1pk": {"S": f"ORG#org_{number % 3}#PROJECTS"},
                "gsi1sk": {"S": f"2026-01-{number + 1:02d}"},
                "count": {"N": str(number * 7 - 20)},
            },
        )
    client.put_item(TableName="ControlTable", Item=ITEM)
    client.update_item(
        TableName="ControlTable",
        Key={"pk": {"S": "ORG#org_1"}, "sk": {"S": "META"}},
        UpdateExpression=(
            "SET nested.#list = list_append(nested.#list, :more), nested.fresh = :map, "
            "#blob = :blob, gsi1pk = :gsi, gsi1sk = :gsi "
            "ADD #count :one, #names :names, numbers :numbers, blobs :blobs REMOVE ratio"
        ),
        ExpressionAttributeNames={"#list": "list", "#count": "count", "#blob": "blob", "#names": "names"},
        ExpressionAttributeValues={
            ":more": {"L": [{"BOOL": False}, {"NULL": True}, {"BS": [b"\x03", b"\x04"]}]},
            ":map": {"M": {"n": {"N": "-1.50"}, "ss": {"SS": ["z"]}, "b": {"B": b"\xff\x00"}}},
            ":blob": {"B": b"new \x00 bytes"},
            ":gsi": {"S": "ORG#org_1#META"},
            ":one": {"N": "1"},
            ":names": {"SS": ["c"]},
            ":numbers": {"NS": ["3.25"]},
            ":blobs": {"BS": [b"\x05"]},
        },
    )
    client.update_item(
        TableName="RunsTable",
        Key={"pk": {"S": "RUN#2"}, "sk": {"S": "META"}},
        UpdateExpression="SET expires_at = :ttl, #data = :data",
        ExpressionAttributeNames={"#data": "data"},
        ExpressionAttributeValues={":ttl": {"N": "1797868682"}, ":data": {"M": {"empty": {"L": []}}}},
    )
    client.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": "RunsTable", "Item": {"pk": {"S": "RUN#1"}, "sk": {"S": "EVENT#1"}}}},
            {
                "Put": {
                    "TableName": "LinksTable",
                    "Item": {"pk": {"S": "LINK#1"}, "sk": {"S": "META"}, "ttl": {"N": "1797868682"}},
                }
            },
        ]
    )
    for number in (10, 9, 1, 100):
        client.put_item(
            TableName="IdempotencyTable",
            Item={"id": {"S": f"key-{number}"}, "expiration": {"N": str(number)}, "data": {"B": b"\x00"}},
        )
    client.delete_item(TableName="IdempotencyTable", Key={"id": {"S": "key-9"}})
    create_number_keys_table()
    for text in ("10", "9", "-1", "2.5", "100"):
        for raw in (b"\x02", b"\x01\xff"):
            client.put_item(TableName="NumberKeys", Item={"n": {"N": text}, "b": {"B": raw}})
    for number in range(4):
        # ~300 KB each: Scan answers 1 MB at most, so this table takes two pages
        client.put_item(
            TableName="RunsTable",
            Item={"pk": {"S": "RUN#big"}, "sk": {"S": f"TRACE#{number}"}, "text": {"S": "x" * 300_000}},
        )


def test_the_dynamodb_dump_is_what_boto3_scan_returns(fake_aws: None):
    mock = fresh_stack()
    try:
        # Given items of every kind, one table larger than a Scan page
        persister = DynamoDBPersister()
        fill_every_kind_of_item()
        assert len(list(aws.dynamodb().get_paginator("scan").paginate(TableName="RunsTable"))) > 1

        # When the tables are dumped from moto's own objects
        dumped = persister.dump()

        # Then it is exactly what Scan returns: same tables, items, order and values, and the same JSON
        scanned = scanned_tables()
        assert dumped == {"tables": scanned}
        assert json.dumps(dumped, indent=1, sort_keys=True) == json.dumps(
            {"tables": scanned}, indent=1, sort_keys=True
        )
        assert [len(scanned[name]) for name in ("ControlTable", "RunsTable", "NumberKeys")] == [13, 6, 10]
    finally:
        mock.stop()

    # And restored into a fresh moto (through JSON, like the state file), Scan returns the same again
    saved = json.loads(json.dumps(dumped))
    mock = fresh_stack()
    try:
        client = aws.dynamodb()
        create_number_keys_table()
        DynamoDBPersister().restore(saved)
        assert scanned_tables() == saved["tables"]
        (queried,) = client.query(
            TableName="ControlTable",
            IndexName="gsi1",
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "ORG#org_1#META"}},
        )["Items"]
        assert queried["blob"] == {"B": b"new \x00 bytes"}
    finally:
        mock.stop()


def test_a_save_never_reads_an_item_half_written(fake_aws: None, monkeypatch: pytest.MonkeyPatch):
    from moto.dynamodb.parsing.executors import UpdateExpressionExecutor

    mock = fresh_stack()
    try:
        persister = DynamoDBPersister()
        # Given an UpdateItem creating an item, stopped after moto stored its key and before the expression
        paused, resume = threading.Event(), threading.Event()
        execute = UpdateExpressionExecutor.execute

        def pausing(self: Any, node: Any = None) -> None:
            if node is None:
                paused.set()
                assert resume.wait(10)
            execute(self, node)

        monkeypatch.setattr(UpdateExpressionExecutor, "execute", pausing)
        writer = threading.Thread(
            target=lambda: aws.dynamodb().update_item(
                TableName="ControlTable",
                Key={"pk": {"S": "ORG#1"}, "sk": {"S": "META"}},
                UpdateExpression="SET #name = :name, gsi1pk = :gsi",
                ExpressionAttributeNames={"#name": "name"},
                ExpressionAttributeValues={":name": {"S": "Acme"}, ":gsi": {"S": "ORGS"}},
            )
        )
        writer.start()
        assert paused.wait(10)

        # When the state is dumped meanwhile
        dumps: list[dict[str, Any]] = []
        dumper = threading.Thread(target=lambda: dumps.append(persister.dump()))
        dumper.start()

        # Then the dump waits for the write, and holds the whole item
        dumper.join(0.3)
        assert dumper.is_alive()
        resume.set()
        writer.join(10)
        dumper.join(10)
        assert dumps[0]["tables"]["ControlTable"] == [
            {"pk": {"S": "ORG#1"}, "sk": {"S": "META"}, "name": {"S": "Acme"}, "gsi1pk": {"S": "ORGS"}}
        ]
    finally:
        resume.set()
        mock.stop()


def fresh_queues() -> Any:
    mock = mock_aws()
    mock.start()
    aws.reset()
    sqs().create_queue(QueueName="Work")
    sqs().create_queue(QueueName="Ordered.fifo", Attributes={"FifoQueue": "true"})
    return mock


def url_of(name: str) -> str:
    return sqs().get_queue_url(QueueName=name)["QueueUrl"]


def test_sqs_messages_round_trip_through_a_fresh_moto(fake_aws: None):
    # Given messages of every kind on two queues, one of them in flight after one receive
    mock = fresh_queues()
    try:
        in_flight = sqs().send_message(QueueUrl=url_of("Work"), MessageBody="in flight")
        sqs().receive_message(QueueUrl=url_of("Work"), VisibilityTimeout=600)
        run = sqs().send_message(
            QueueUrl=url_of("Work"),
            MessageBody='{"run_id": "run-1"}',
            MessageAttributes={
                "kind": {"DataType": "String", "StringValue": "run"},
                "size": {"DataType": "Number", "StringValue": "3"},
                "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
            },
            MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-a-b"}},
        )
        sqs().send_message(
            QueueUrl=url_of("Ordered.fifo"),
            MessageBody="first",
            MessageGroupId="g",
            MessageDeduplicationId="d",
        )

        # When they are dumped (as JSON, like the state file)
        dumped = json.loads(json.dumps(SqsPersister().dump()))
    finally:
        mock.stop()

    # And restored into a fresh moto with the same queues
    mock = fresh_queues()
    try:
        SqsPersister().restore(dumped)

        # Then a second dump is the first one: nothing was lost or changed
        assert json.loads(json.dumps(SqsPersister().dump())) == dumped
        # And every message is visible at once, with its id, body, attributes and receive count
        received = sqs().receive_message(
            QueueUrl=url_of("Work"),
            MaxNumberOfMessages=10,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        )["Messages"]
        by_id = {message["MessageId"]: message for message in received}
        assert set(by_id) == {in_flight["MessageId"], run["MessageId"]}
        assert by_id[in_flight["MessageId"]]["Attributes"]["ApproximateReceiveCount"] == "2"
        restored_run = by_id[run["MessageId"]]
        assert restored_run["Body"] == '{"run_id": "run-1"}'
        assert restored_run["MD5OfMessageAttributes"] == run["MD5OfMessageAttributes"]
        assert restored_run["MessageAttributes"]["blob"] == {"DataType": "Binary", "BinaryValue": b"\x00\xff"}
        assert restored_run["Attributes"]["AWSTraceHeader"] == "Root=1-a-b"
        (ordered,) = sqs().receive_message(
            QueueUrl=url_of("Ordered.fifo"), MessageSystemAttributeNames=["All"]
        )["Messages"]
        assert (ordered["Body"], ordered["Attributes"]["MessageGroupId"]) == ("first", "g")
        assert ordered["Attributes"]["MessageDeduplicationId"] == "d"
    finally:
        mock.stop()


def test_messages_of_queues_the_template_dropped_are_skipped(fake_aws: None):
    mock = fresh_queues()
    try:
        state = LocalState(Path("unused.json"))
        state.document["services"] = {"sqs": {"queues": {"Gone": [{"message_id": "m", "body": "b"}]}}}
        state.restore()
        assert [url.rsplit("/", 1)[-1] for url in sqs().list_queues()["QueueUrls"]] == [
            "Work",
            "Ordered.fifo",
        ]
    finally:
        mock.stop()


def test_a_state_file_from_before_sqs_was_persisted_still_restores(fake_aws: None):
    mock = fresh_queues()
    try:
        state = LocalState(Path("unused.json"))
        state.document["services"] = {"dynamodb": {"tables": {}}, "secretsmanager": {"secrets": []}}
        state.restore()
        assert SqsPersister().dump() == {"queues": {"Work": [], "Ordered.fifo": []}}
    finally:
        mock.stop()


def fresh_buckets() -> tuple[Any, str]:
    mock = mock_aws()
    mock.start()
    aws.reset()
    (bucket,) = create_buckets(LocalTemplate.from_file(ROOT / "template.yaml")).values()
    return mock, bucket


def stored_objects(bucket: str) -> dict[str, tuple[bytes, str, dict[str, str]]]:
    objects = {}
    for listed in s3().list_objects_v2(Bucket=bucket).get("Contents", []):
        stored = s3().get_object(Bucket=bucket, Key=listed["Key"])
        objects[listed["Key"]] = (stored["Body"].read(), stored["ContentType"], stored["Metadata"])
    return objects


def test_s3_objects_round_trip_through_the_state_file(fake_aws: None, tmp_path: Path):
    # Given the template's bucket holding a text file, binary bytes and an upload as large as the limit
    path = tmp_path / "state.json"
    mock, bucket = fresh_buckets()
    try:
        s3().put_object(
            Bucket=bucket,
            Key="apps/app_1/runs/run_1/notes.txt",
            Body="héllo".encode(),
            ContentType="text/plain; charset=utf-8",
            Metadata={"run-id": "run_1", "filename": "notes.txt"},
        )
        s3().put_object(Bucket=bucket, Key="apps/app_1/raw.bin", Body=bytes(range(256)))
        s3().put_object(Bucket=bucket, Key="apps/app_1/large.pdf", Body=b"%" * MAX_BODY_BYTES)
        before = stored_objects(bucket)

        # When the state is saved
        LocalState(path).save()
    finally:
        mock.stop()

    # Then the file holds each object's body (base64), content type and metadata under the bucket's name
    saved = {
        entry["key"]: entry for entry in json.loads(path.read_text())["services"]["s3"]["buckets"][bucket]
    }
    assert saved["apps/app_1/runs/run_1/notes.txt"]["metadata"] == {
        "run-id": "run_1",
        "filename": "notes.txt",
    }
    assert saved["apps/app_1/runs/run_1/notes.txt"]["content_type"] == "text/plain; charset=utf-8"

    # When a fresh moto gets the template's bucket and the state restored
    mock, bucket = fresh_buckets()
    try:
        restored = LocalState(path)
        restored.read()
        restored.restore()

        # Then every object is back, byte for byte, with its content type and metadata
        assert stored_objects(bucket) == before
        assert len(before["apps/app_1/large.pdf"][0]) == MAX_BODY_BYTES
    finally:
        mock.stop()


def test_objects_of_buckets_the_template_dropped_are_skipped(fake_aws: None):
    mock, bucket = fresh_buckets()
    try:
        state = LocalState(Path("unused.json"))
        saved = {"key": "a.txt", "body": "aGk=", "content_type": "text/plain", "metadata": {}}
        state.document["services"] = {"s3": {"buckets": {"gone-bucket": [saved], bucket: [saved]}}}
        state.restore()
        assert [entry["Name"] for entry in s3().list_buckets()["Buckets"]] == [bucket]
        assert stored_objects(bucket) == {"a.txt": (b"hi", "text/plain", {})}
    finally:
        mock.stop()


def test_a_state_file_from_before_s3_was_persisted_still_restores(fake_aws: None):
    mock, bucket = fresh_buckets()
    try:
        state = LocalState(Path("unused.json"))
        state.document["services"] = {"dynamodb": {"tables": {}}, "sqs": {"queues": {}}}
        state.restore()
        assert S3Persister().dump() == {"buckets": {bucket: []}}
    finally:
        mock.stop()


class BlockingSave:
    """A save that records its calls; each waits until the test lets it finish."""

    def __init__(self, fail_first: bool = False) -> None:
        self.calls = 0
        self.fail_first = fail_first
        self.started = threading.Semaphore(0)
        self.release = threading.Event()
        self.release.set()

    def __call__(self) -> None:
        self.calls += 1
        self.started.release()
        assert self.release.wait(10)
        if self.fail_first and self.calls == 1:
            raise OSError("disk full")


def test_a_burst_marked_dirty_during_a_save_is_one_more_save():
    # Given a saver whose first save is still running
    save = BlockingSave()
    save.release.clear()
    saver = BackgroundSaver(save, interval_s=0)
    saver.start()
    saver.mark_dirty()
    assert save.started.acquire(timeout=10)

    # When a hundred writes mark the state dirty meanwhile, and the save ends
    for _ in range(100):
        saver.mark_dirty()
    save.release.set()

    # Then exactly one more save follows, and nothing is left dirty
    assert save.started.acquire(timeout=10)
    saver.stop()
    assert (save.calls, saver.dirty) == (2, False)


def test_nothing_is_saved_until_something_changes_and_the_interval_passed():
    save = BlockingSave()
    saver = BackgroundSaver(save, interval_s=3600)
    saver.start()
    saver.mark_dirty()
    saver.stop()
    # The caller's final save covers what is still dirty
    assert (save.calls, saver.dirty) == (0, True)


def test_stop_waits_for_a_save_in_progress():
    save = BlockingSave()
    save.release.clear()
    saver = BackgroundSaver(save, interval_s=0)
    saver.start()
    saver.mark_dirty()
    assert save.started.acquire(timeout=10)
    stopper = threading.Thread(target=saver.stop)
    stopper.start()
    stopper.join(0.2)
    assert stopper.is_alive()
    save.release.set()
    stopper.join(10)
    assert not stopper.is_alive()
    assert save.calls == 1


def test_a_failed_save_is_tried_again(capsys: pytest.CaptureFixture[str]):
    save = BlockingSave(fail_first=True)
    saver = BackgroundSaver(save, interval_s=0)
    saver.start()
    saver.mark_dirty()
    assert save.started.acquire(timeout=10)
    assert save.started.acquire(timeout=10)
    saver.stop()
    assert save.calls == 2
    assert "disk full" in capsys.readouterr().err
