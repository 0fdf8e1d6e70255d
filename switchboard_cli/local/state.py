"""The local stack's state file: moto's data plus the local admin, restored on start, saved after writes.

Saving re-reads every table, secret, message and object, which grows with the data (easily a second), so
requests never wait for it: a write marks the state dirty and ``BackgroundSaver`` saves it from a thread of
its own, at most once per ``SAVE_INTERVAL_S``; stopping the local stack saves once more, last.

Format (JSON, mode 600, replaced atomically)::

    {
      "format": 1,
      "control_token": "<random; guards the loopback-only control routes>",
      "local_admin": {"email": …, "user_id": …, "org_id": …, "token": "sb_pat_…"},
      "services": {
        "dynamodb": {"tables": {"ControlTable": [<item in DynamoDB JSON>, …], …}},
        "secretsmanager": {"secrets": [{"name", "arn", "description", "tags", "secret_string" |
                                        "secret_binary" (base64)}, …]},
        "sqs": {"queues": {"RunQueue": [{"message_id", "body", "message_attributes",
                                         "system_attributes", "sender_id", "sent_timestamp",
                                         "first_receive_timestamp", "receive_count", "group_id",
                                         "deduplication_id", "sequence_number", "delayed_until"}, …]},
        "s3": {"buckets": {"switchboard-local-filesbucket": [{"key", "body" (base64), "content_type",
                                                              "metadata"}, …]}},
        "scheduler": {"schedules": [{"Name", "GroupName", "ScheduleExpression", "Target", "State",
                                     "StartDate", "CreationDate", … (as moto holds them)}, …]},
        "kms": {"keys": [{"arn", "key_material" (base64)}, …]}
      }
    }

Items keep DynamoDB's typed attribute values (binary as base64, as on the wire) so they round-trip exactly.
Each service is one small ``Persister`` in ``default_persisters``. Tables, queues, buckets and schedule groups
come from the template, so restoring only puts items, messages, objects and schedules (into tables, queues,
buckets and groups the template still declares). A state file written before a service had a persister simply
lacks its key. Objects keep their body, content type and user metadata (not their ETag of a multipart upload,
their last-modified time or other headers); each is as large as an upload may be (10 MB), so the file can
grow.

SQS has no way to read a message without receiving it (which would change its receive count and hide it),
so the SQS persister reads and writes moto's queues directly. Every message on a queue is saved, including
one a handler is working on: SQS delivers at least once, so after a restart it is delivered again; it comes
back visible at once, keeping its id, sent time and receive count (so ``maxReceiveCount`` still holds).
Schedules are also read from and put back into moto directly: through the API a restored schedule would get a
new creation date (a rate's anchor), and one whose start date lies long past would be refused. So is a KMS
key's material (no API exports it): the template's keys are created again under the same ids (``kms.py``)
and get their saved material back, so what they encrypted before the restart still decrypts. DynamoDB items
are too (``moto_dynamodb``), only for speed: they are exactly what ``Scan`` returns, in the order it returns
them, at a fraction of the CPU, copied under a lock every DynamoDB write of moto holds.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from switchboard import aws
from switchboard_cli.local import moto_dynamodb
from switchboard_cli.local.buckets import s3
from switchboard_cli.local.durable import DurableService
from switchboard_cli.local.kms import kms, moto_keys
from switchboard_cli.local.queues import sqs

FORMAT = 1
READ_ATTEMPTS = 3
SAVE_INTERVAL_S = 1.0
"""The most often the state file is saved while requests write (``BackgroundSaver``)."""

Read = TypeVar("Read")


class StateError(RuntimeError):
    """The state file exists but cannot be used; the local stack refuses to overwrite it."""


class Persister(Protocol):
    name: str

    def dump(self) -> Any: ...

    def restore(self, data: Any) -> None: ...


def _read_consistently(read: Callable[[], Read], attempts: int = READ_ATTEMPTS) -> Read:
    """``read()``, tried again when it failed: moto keeps tables and buckets in plain dicts, so a request
    writing concurrently can break one listing."""
    for _ in range(attempts - 1):
        try:
            return read()
        except RuntimeError:
            continue
    return read()


class DynamoDBPersister:
    """Items read from and put back into moto's own tables (``moto_dynamodb``): through ``Scan`` and
    ``BatchWriteItem`` a save of a few hundred items took a second or more of CPU."""

    name = "dynamodb"

    def __init__(self) -> None:
        moto_dynamodb.guard_writes()

    def dump(self) -> dict[str, Any]:
        backend = moto_dynamodb.backend()
        if backend is None:
            return {"tables": {}}
        return {"tables": _read_consistently(partial(moto_dynamodb.snapshot, backend))}

    def restore(self, data: Any) -> None:
        backend = moto_dynamodb.backend()
        if backend is not None:
            moto_dynamodb.put_items(backend, data.get("tables", {}))


class SecretsManagerPersister:
    name = "secretsmanager"

    def dump(self) -> dict[str, Any]:
        client = aws.secrets()
        secrets = []
        for page in client.get_paginator("list_secrets").paginate():
            for entry in page["SecretList"]:
                if entry.get("DeletedDate"):
                    continue
                secret: dict[str, Any] = {
                    "name": entry["Name"],
                    "arn": entry["ARN"],
                    "description": entry.get("Description", ""),
                    "tags": entry.get("Tags", []),
                }
                with contextlib.suppress(client.exceptions.ResourceNotFoundException):
                    value = client.get_secret_value(SecretId=entry["ARN"])
                    text: str | None = value.get("SecretString")
                    binary: bytes | None = value.get("SecretBinary")
                    if text is not None:
                        secret["secret_string"] = text
                    elif binary is not None:
                        secret["secret_binary"] = base64.b64encode(binary).decode("ascii")
                secrets.append(secret)
        return {"secrets": secrets}

    def restore(self, data: Any) -> None:
        client = aws.secrets()
        for secret in data.get("secrets", []):
            arguments: dict[str, Any] = {"Name": secret["name"]}
            if secret.get("description"):
                arguments["Description"] = secret["description"]
            if secret.get("tags"):
                arguments["Tags"] = secret["tags"]
            if "secret_string" in secret:
                arguments["SecretString"] = secret["secret_string"]
            elif "secret_binary" in secret:
                arguments["SecretBinary"] = base64.b64decode(secret["secret_binary"])
            with _same_arn(secret.get("arn", "")):
                client.create_secret(**arguments)


@contextlib.contextmanager
def _same_arn(arn: str) -> Any:
    """Recreate a secret under its previous ARN (its random suffix), since items may store the ARN."""
    parts = arn.split(":")
    if len(parts) != 7 or "-" not in parts[6]:
        yield
        return
    from moto.secretsmanager.utils import SecretsManagerSecretIdentifier
    from moto.utilities.id_generator import moto_id_manager

    name, _, suffix = parts[6].rpartition("-")
    identifier = SecretsManagerSecretIdentifier(parts[4], parts[3], name)
    moto_id_manager.set_custom_id(identifier, suffix)
    try:
        yield
    finally:
        moto_id_manager.unset_custom_id(identifier)


def _to_json_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """SQS message attributes with their binary values as base64 (``BinaryValue``, ``BinaryListValues``)."""
    shaped = {}
    for name, value in attributes.items():
        shaped[name] = dict(value)
        if isinstance(value.get("BinaryValue"), bytes):
            shaped[name]["BinaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
        if value.get("BinaryListValues"):
            shaped[name]["BinaryListValues"] = [
                base64.b64encode(item).decode("ascii") for item in value["BinaryListValues"]
            ]
    return shaped


def _from_json_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    restored = {}
    for name, value in attributes.items():
        restored[name] = dict(value)
        if "BinaryValue" in value:
            restored[name]["BinaryValue"] = base64.b64decode(value["BinaryValue"])
        if value.get("BinaryListValues"):
            restored[name]["BinaryListValues"] = [
                base64.b64decode(item) for item in value["BinaryListValues"]
            ]
    return restored


class SqsPersister:
    name = "sqs"

    def dump(self) -> dict[str, Any]:
        queues = {}
        for page in sqs().get_paginator("list_queues").paginate():
            for url in page.get("QueueUrls", []):
                queue = _moto_queue(url)
                queues[queue.name] = [self._dump_message(message) for message in list(queue._messages)]
        return {"queues": queues}

    @staticmethod
    def _dump_message(message: Any) -> dict[str, Any]:
        return {
            "message_id": message.id,
            "body": message.body,
            "message_attributes": _to_json_attributes(message.message_attributes),
            "system_attributes": _to_json_attributes(message.system_attributes),
            "sender_id": message.sender_id,
            "sent_timestamp": message.sent_timestamp,
            "first_receive_timestamp": message.approximate_first_receive_timestamp,
            "receive_count": message.approximate_receive_count,
            "group_id": message.group_id,
            "deduplication_id": message.deduplication_id,
            "sequence_number": message.sequence_number,
            "delayed_until": message.delayed_until,
        }

    def restore(self, data: Any) -> None:
        from moto.sqs.models import Message

        client = sqs()
        for name, messages in data.get("queues", {}).items():
            try:
                url = client.get_queue_url(QueueName=name)["QueueUrl"]
            except client.exceptions.QueueDoesNotExist:
                continue
            queue = _moto_queue(url)
            for saved in messages:
                message = Message(
                    saved["message_id"],
                    saved["body"],
                    _from_json_attributes(saved.get("system_attributes") or {}),
                )
                message.message_attributes = _from_json_attributes(saved.get("message_attributes") or {})
                message.sender_id = saved.get("sender_id") or message.sender_id
                message.sent_timestamp = saved.get("sent_timestamp")
                message.approximate_first_receive_timestamp = saved.get("first_receive_timestamp")
                message.approximate_receive_count = int(saved.get("receive_count") or 0)
                message.group_id = saved.get("group_id")
                message.deduplication_id = saved.get("deduplication_id")
                message.sequence_number = saved.get("sequence_number")
                message.delayed_until = float(saved.get("delayed_until") or 0.0)
                queue.add_message(message)


def _moto_queue(queue_url: str) -> Any:
    """moto's own queue object behind a URL (its ARN names the account and region it lives in)."""
    from moto.sqs.models import sqs_backends

    attributes = sqs().get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    _, _, _, region, account_id, name = attributes["QueueArn"].split(":")
    return sqs_backends[account_id][region].get_queue(name)


class S3Persister:
    name = "s3"

    def dump(self) -> dict[str, Any]:
        client = s3()
        return {
            "buckets": {
                bucket["Name"]: _read_consistently(partial(self._objects, bucket["Name"]))
                for bucket in client.list_buckets().get("Buckets", [])
            }
        }

    @staticmethod
    def _objects(bucket: str) -> list[dict[str, Any]]:
        client = s3()
        objects = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for listed in page.get("Contents", []):
                try:
                    stored = client.get_object(Bucket=bucket, Key=listed["Key"])
                except client.exceptions.NoSuchKey:
                    continue
                objects.append(
                    {
                        "key": listed["Key"],
                        "body": base64.b64encode(stored["Body"].read()).decode("ascii"),
                        "content_type": stored.get("ContentType", ""),
                        "metadata": stored.get("Metadata", {}),
                    }
                )
        return objects

    def restore(self, data: Any) -> None:
        client = s3()
        existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
        for bucket, objects in data.get("buckets", {}).items():
            if bucket not in existing:
                continue
            for saved in objects:
                arguments: dict[str, Any] = {
                    "Bucket": bucket,
                    "Key": saved["key"],
                    "Body": base64.b64decode(saved["body"]),
                    "Metadata": saved.get("metadata") or {},
                }
                if saved.get("content_type"):
                    arguments["ContentType"] = saved["content_type"]
                client.put_object(**arguments)


class SchedulerPersister:
    """Schedules, read from and put back into moto's own groups: the API would refuse a start date long past
    and give a restored schedule a new creation date, the anchor of its rate."""

    name = "scheduler"

    def dump(self) -> dict[str, Any]:
        return {
            "schedules": [
                schedule.to_dict()
                for group in _moto_schedule_groups().values()
                for schedule in list(group.schedules.values())
            ]
        }

    def restore(self, data: Any) -> None:
        from moto.scheduler.models import Schedule

        groups = _moto_schedule_groups()
        for saved in data.get("schedules", []):
            group = groups.get(saved.get("GroupName"))
            if group is None:
                continue
            _, _, _, region, account_id, _ = str(saved["Arn"]).split(":", 5)
            schedule = Schedule(
                region=region,
                account_id=account_id,
                group_name=group.name,
                name=saved["Name"],
                description=saved.get("Description"),
                schedule_expression=saved["ScheduleExpression"],
                schedule_expression_timezone=saved.get("ScheduleExpressionTimezone"),
                flexible_time_window=saved.get("FlexibleTimeWindow") or {"Mode": "OFF"},
                target=saved["Target"],
                state=saved.get("State"),
                kms_key_arn=saved.get("KmsKeyArn"),
                start_date=None,
                end_date=saved.get("EndDate"),
                action_after_completion=saved.get("ActionAfterCompletion"),
            )
            schedule.start_date = saved.get("StartDate")
            schedule.creation_date = saved.get("CreationDate", schedule.creation_date)
            schedule.last_modified_date = saved.get("LastModificationDate", schedule.last_modified_date)
            group.add_schedule(schedule)


def _moto_schedule_groups() -> dict[str, Any]:
    """moto's schedule groups (other than ``default``) of the account and region the client talks to."""
    from moto.scheduler.models import scheduler_backends

    client = aws.client("scheduler")
    found: dict[str, Any] = {}
    for page in client.get_paginator("list_schedule_groups").paginate():
        for listed in page.get("ScheduleGroups", []):
            if listed["Name"] == "default":
                continue
            _, _, _, region, account_id, _ = listed["Arn"].split(":", 5)
            found[listed["Name"]] = scheduler_backends[account_id][region].schedule_groups[listed["Name"]]
    return found


class KmsPersister:
    """The material of every KMS key, read from and put back into moto's own keys."""

    name = "kms"

    def dump(self) -> dict[str, Any]:
        saved = []
        for page in kms().get_paginator("list_keys").paginate():
            for listed in page["Keys"]:
                key = moto_keys(listed["KeyArn"])[listed["KeyId"]]
                saved.append({"arn": key.arn, "key_material": base64.b64encode(key.key_material).decode()})
        return {"keys": saved}

    def restore(self, data: Any) -> None:
        for saved in data.get("keys", []):
            key = moto_keys(saved["arn"]).get(saved["arn"].rsplit("/", 1)[1])
            if key is not None:
                key.key_material = base64.b64decode(saved["key_material"])


class DurablePersister:
    """The local durable execution service's executions and their names (``durable.DurableService``). Saved
    before the tables, so a restart never finds a step checkpointed whose writes the tables lack."""

    name = "lambda_durable"

    def __init__(self, service: DurableService) -> None:
        self._service = service

    def dump(self) -> dict[str, Any]:
        return self._service.dump()

    def restore(self, data: Any) -> None:
        self._service.restore(data)


def default_persisters(durable: DurableService | None = None) -> list[Persister]:
    first: list[Persister] = [DurablePersister(durable)] if durable is not None else []
    return [
        *first,
        DynamoDBPersister(),
        SecretsManagerPersister(),
        SqsPersister(),
        S3Persister(),
        SchedulerPersister(),
        KmsPersister(),
    ]


class LocalState:
    """The state document in memory and on disk; ``save`` is serialised and atomic."""

    def __init__(
        self, path: Path, persisters: list[Persister] | None = None, durable: DurableService | None = None
    ) -> None:
        self.path = path
        self.persisters = default_persisters(durable) if persisters is None else persisters
        self.document: dict[str, Any] = {"format": FORMAT}
        self._lock = threading.Lock()

    def read(self) -> None:
        if not self.path.exists():
            return
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise StateError(f"cannot read state file {self.path}: {error}") from error
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise StateError(
                f"{self.path} is not a state file of format {FORMAT}; move it away to start afresh"
            )
        self.document = document

    def restore(self) -> None:
        services = self.document.get("services", {})
        for persister in self.persisters:
            if persister.name in services:
                persister.restore(services[persister.name])

    def save(self) -> None:
        with self._lock:
            self.document["services"] = {persister.name: persister.dump() for persister in self.persisters}
            write_atomically(self.path, json.dumps(self.document, indent=1, sort_keys=True))

    def get(self, key: str) -> Any:
        return self.document.get(key)

    def set(self, key: str, value: Any) -> None:
        with self._lock:
            self.document[key] = value


class BackgroundSaver:
    """Runs ``save`` in a thread of its own when ``mark_dirty`` was called since the last save began, at most
    once per ``interval_s`` (counted from the end of the previous save, so a slow save never runs back to
    back). A burst of writes is one save; a write made while a save runs marks the state dirty again, so it
    is in the next one.

    There is no lock to take around all of moto: requests, stream handlers and queue pollers already use it
    from many threads at once, and holding them all off for a save would stall every open stream. A save
    reads through the same clients a request does or moto's own objects (a listing broken by a concurrent
    write is read again, see ``_read_consistently``); only DynamoDB's items are copied under a lock, which
    its writes hold (``moto_dynamodb.WRITES``, a few milliseconds), since moto updates them in place.
    ``LocalState.save`` is serialised, and ``stop`` waits for a save in progress, so the caller's final save
    is the last one written.
    """

    def __init__(self, save: Callable[[], None], interval_s: float = SAVE_INTERVAL_S) -> None:
        self._save = save
        self.interval_s = interval_s
        self._changed = threading.Condition()
        self._dirty = False
        self._stopping = False
        self._thread: threading.Thread | None = None

    @property
    def dirty(self) -> bool:
        with self._changed:
            return self._dirty

    def start(self) -> None:
        with self._changed:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name="switchboard-local-state-saver", daemon=True
            )
        self._thread.start()

    def mark_dirty(self) -> None:
        with self._changed:
            self._dirty = True
            self._changed.notify_all()

    def stop(self) -> None:
        """Stop the thread, waiting for a save in progress (the caller then makes the final save)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
            thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _run(self) -> None:
        earliest = time.monotonic() + self.interval_s
        while self._wait_for_work(earliest):
            try:
                self._save()
            except Exception:
                sys.stderr.write(f"[switchboard local] saving state failed:\n{traceback.format_exc()}")
                self.mark_dirty()
            earliest = time.monotonic() + self.interval_s

    def _wait_for_work(self, earliest: float) -> bool:
        """Wait until the state is dirty and ``earliest`` has passed (True, the flag now taken) or until
        ``stop`` (False)."""
        with self._changed:
            while not self._stopping:
                if not self._dirty:
                    self._changed.wait()
                elif (remaining := earliest - time.monotonic()) > 0:
                    self._changed.wait(remaining)
                else:
                    self._dirty = False
                    return True
            return False


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
