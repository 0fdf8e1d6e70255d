"""Webhook deliveries and the reference to the App signing secret they are signed with.

Two kinds of delivery share one shape and one lifecycle:

- a run's callback (runs table, ``RUN#<run>`` / ``DELIVERY#<delivery>``): its URL, the caller's metadata and
  ``expires_at`` (the run's TTL); the body is built from the finished run at each attempt, or, for a
  notice sent while the run goes on (``run.awaiting_input``), fixed in ``body``. The caller's
  bearer token is the attribute ``auth_token``, present only while the delivery is pending: the write that
  makes it final removes it;
- a link event (links table, ``LINKEVENT#<event>`` / ``DELIVERY#<delivery>``): the App's ``event_url``, the
  event's fixed JSON ``body`` and ``ttl`` (DynamoDB TTL).

Both hold their status (``pending`` → ``delivered`` | ``failed`` | ``blocked``), every attempt so far
(``attempts``, at most a handful, each ``{number, at, status_code?, error?, duration_ms}``),
``attempt_count`` and ``next_attempt_at`` while pending. Recording an attempt is conditional on
``attempt_count`` and ``pending``, so a duplicated queue message cannot record twice.

The App's signing secret lives in Secrets Manager (``<prefix>apps/<app>/signing``, JSON
``{"signing_secret": "whsec_…"}``); the App item records its current VersionId as
``signing_secret_version`` so the credentials function can serve it from its version-keyed cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from switchboard import aws
from switchboard.domain.deliveries import Delivery, DeliveryAttempt, DeliveryStatus, EventDelivery
from switchboard.domain.errors import ServiceUnavailable
from switchboard.domain.ids import iso
from switchboard.domain.runs import Run
from switchboard.settings import get_settings
from switchboard.store import keys
from switchboard.store.control import control, from_item, to_item
from switchboard.store.links import links_table
from switchboard.store.runs import runs_table
from switchboard.store.table import Item, Table, put_op, update_op

SIGNING_SECRET_FIELD = "signing_secret"  # noqa: S105 (a field name)


def _item(delivery: Delivery) -> Item:
    item = to_item(delivery, keys.run_delivery(delivery.run_id, delivery.id))
    if delivery.auth_token is not None:
        item["auth_token"] = delivery.auth_token.get_secret_value()
    return item


def _location(delivery: Delivery | EventDelivery) -> tuple[Table, keys.Key]:
    if isinstance(delivery, EventDelivery):
        return links_table(), keys.link_event_delivery(delivery.event_id, delivery.id)
    return runs_table(), keys.run_delivery(delivery.run_id, delivery.id)


def create_run_deliveries(
    run: Run, deliveries: list[Delivery], public_callbacks: list[dict[str, Any]]
) -> None:
    """Create the run's deliveries and, in the same transaction, drop the tokens from the run record."""
    table = runs_table()
    ops = [put_op(table.name, _item(delivery), "attribute_not_exists(pk)") for delivery in deliveries]
    ops.append(
        update_op(
            table.name,
            keys.run(run.id),
            "SET #callbacks = :public",
            "attribute_exists(pk)",
            {":public": public_callbacks},
        )
    )
    table.transact(ops, "the run's deliveries already exist")


def create_notices(deliveries: list[Delivery]) -> None:
    """Deliveries of a notice about a running run (its callbacks' tokens copied; the run keeps them)."""
    table = runs_table()
    table.transact(
        [put_op(table.name, _item(delivery), "attribute_not_exists(pk)") for delivery in deliveries],
        "the notice's deliveries already exist",
    )


def get_delivery(run_id: str, delivery_id: str) -> Delivery | None:
    item = runs_table().get(keys.run_delivery(run_id, delivery_id))
    return from_item(Delivery, item) if item else None


def create_event_delivery(delivery: EventDelivery) -> None:
    table = links_table()
    item = to_item(delivery, keys.link_event_delivery(delivery.event_id, delivery.id))
    table.write(put_op(table.name, item, "attribute_not_exists(pk)"), "the event's delivery already exists")


def get_event_delivery(event_id: str, delivery_id: str) -> EventDelivery | None:
    item = links_table().get(keys.link_event_delivery(event_id, delivery_id))
    return from_item(EventDelivery, item) if item else None


def list_run_deliveries(run_id: str) -> list[Delivery]:
    partition, prefix = keys.run_deliveries_prefix(run_id)
    items = runs_table().query_all(partition, prefix=prefix)
    return sorted((from_item(Delivery, item) for item in items), key=lambda d: (d.callback_index, d.id))


def record_attempt(
    delivery: Delivery | EventDelivery,
    attempt: DeliveryAttempt,
    status: DeliveryStatus,
    next_attempt_at: datetime | None,
) -> Delivery | EventDelivery:
    """Append the attempt and move to ``status``; Conflict when another writer recorded this attempt."""
    values: Item = {
        ":attempt": [attempt.model_dump(mode="json", exclude_none=True)],
        ":count": attempt.number,
        ":previous": attempt.number - 1,
        ":pending": DeliveryStatus.pending.value,
        ":status": status.value,
        ":at": iso(attempt.at),
    }
    sets = [
        "attempts = list_append(attempts, :attempt)",
        "attempt_count = :count",
        "#status = :status",
        "updated_at = :at",
    ]
    removes = []
    if next_attempt_at is not None:
        sets.append("next_attempt_at = :next")
        values[":next"] = iso(next_attempt_at)
    else:
        removes.append("next_attempt_at")
    if status is not DeliveryStatus.pending and isinstance(delivery, Delivery):
        removes.append("auth_token")
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    table, key = _location(delivery)
    item = table.update_returning(
        update_op(table.name, key, expression, "attempt_count = :previous AND #status = :pending", values),
        "the attempt was already recorded",
    )
    return from_item(type(delivery), item)


def signing_secret_name(app_id: str) -> str:
    return f"{get_settings().secret_prefix}apps/{app_id}/signing"


@dataclass(frozen=True)
class SigningKeyRef:
    """Where an App's signing secret is, and which version is current (None when never recorded)."""

    app_id: str
    secret_name: str
    secret_version: str | None


def signing_key(app_id: str) -> SigningKeyRef | None:
    """The App's signing secret reference; None when the App does not exist."""
    item = control().get(keys.app(app_id))
    if item is None:
        return None
    version = item.get("signing_secret_version")
    return SigningKeyRef(app_id, signing_secret_name(app_id), str(version) if version else None)


def signing_secret_exists(secret_name: str) -> bool:
    """Whether the secret exists (DescribeSecret: metadata only, never the value)."""
    try:
        aws.secrets().describe_secret(SecretId=secret_name)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return False
        raise ServiceUnavailable("the secret store is unavailable, retry shortly") from None
    return True


def record_signing_secret(app_id: str, version: str, at: datetime, by: str, *, rotated: bool) -> None:
    """Point the App at its signing secret's current version; a rotation is an audited change of the App."""
    values: Item = {":version": version}
    sets = ["signing_secret_version = :version"]
    if rotated:
        sets += [
            "signing_secret_rotated_at = :at",
            "signing_secret_rotated_by = :by",
            "updated_at = :at",
            "updated_by = :by",
            "#version = #version + :one",
        ]
        values |= {":at": iso(at), ":by": by, ":one": 1}
    control().write(
        update_op(control().name, keys.app(app_id), "SET " + ", ".join(sets), "attribute_exists(pk)", values),
        "the App no longer exists",
    )
