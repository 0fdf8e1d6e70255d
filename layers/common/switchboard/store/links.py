"""End users' links (links table), and the one read the credentials function makes across tables.

A link's non-secret config is on its item, and so are its secret fields, sealed under the link secrets key
(``sealed_secret``, see ``switchboard.store.link_secrets``); each seal gets a new ``secret_version`` so a
reader can tell a cached value from a rotated one. A link made before sealed secrets has, instead, one
Secrets Manager secret named ``<prefix>apps/<app>/links/<link>`` (``secret_name``, its VersionId in
``secret_version``), read until the link is linked again, which deletes it. Creating a link is conditional
on there being none; replacing one and changing its status are conditional on its ``revision``.

Every creation, replacement and status change writes, in the same transaction, a transition record
(``LINKLOG#<link>``: from, to, reason, at, by); a new link also gets its reference by id (``LINKREF#<link>``:
App, user, requirement), which is never deleted, so a replaced link's history stays addressable.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from switchboard import aws
from switchboard.domain.errors import Conflict, ServiceUnavailable
from switchboard.domain.ids import iso, random_body
from switchboard.domain.models import App, Connection
from switchboard.domain.runs import SYSTEM_ACTOR, Link, LinkStatus, LinkTransition, Run
from switchboard.settings import get_settings
from switchboard.store import keys, link_secrets, secrets
from switchboard.store.control import from_item, to_item
from switchboard.store.table import Item, Table, from_dynamo, put_op, translate_errors, update_op

BATCH_GET_MAX_KEYS = 100
"""DynamoDB's limit of keys in one BatchGetItem request."""
UNPROCESSED_RETRIES = 4
"""How often keys DynamoDB left unprocessed (it was throttling) are asked for again."""


def links_table() -> Table:
    return Table(get_settings().links_table)


def link_secret_name(app_id: str, link_id: str) -> str:
    """Where a link made before sealed secrets keeps its secret (read until it is linked again)."""
    return f"{get_settings().secret_prefix}apps/{app_id}/links/{link_id}"


def _item(link: Link) -> Item:
    return to_item(
        link,
        keys.link(link.app_id, link.user_id, link.requirement_id),
        keys.link_index(link.app_id, link.user_id, link.requirement_id),
    )


def _transition_op(
    link: Link,
    *,
    to: LinkStatus,
    before: LinkStatus | None,
    reason: str | None,
    at: datetime,
    by: str,
    revision: int,
) -> Item:
    """The transition record's put: keyed by time and the link's revision after the change, so unique."""
    transition = LinkTransition(
        link_id=link.id,
        app_id=link.app_id,
        user_id=link.user_id,
        requirement_id=link.requirement_id,
        from_status=before,
        to_status=to,
        reason=reason,
        at=at,
        by=by,
    )
    item = to_item(transition, keys.link_transition(link.id, at, revision))
    return put_op(links_table().name, item, "attribute_not_exists(pk)")


def record_unchanged(link: Link, reason: str, at: datetime, by: str) -> None:
    """Record in the link's history a change that was refused (its status stays): e.g. a reconnect as
    another upstream account."""
    table = links_table()
    op = _transition_op(
        link, to=link.status, before=link.status, reason=reason, at=at, by=by, revision=link.revision
    )
    table.write(op, "the link's history already holds this moment")


def put_link(
    link: Link,
    secret_values: Mapping[str, object],
    *,
    replacing: Link | None = None,
    by: str = SYSTEM_ACTOR,
    reason: str | None = None,
) -> Link:
    """Seal the secret fields into the item (``switchboard.store.link_secrets``), then write it with its
    transition (and, for a new link id, its reference by id) in one transaction; return the link as stored
    (sealed secret, version, revision).

    Without ``replacing`` there must be no link for the (App, user, requirement) yet. With it, the stored
    link must still be at ``replacing.revision``; the new one gets the next revision and, when it is a
    different link, the old link's history records it ``revoked`` (replaced). A Secrets Manager secret the
    replaced link still had (a link made before sealed secrets) is deleted once the item no longer needs it.
    """
    same_link = replacing is not None and replacing.id == link.id
    stored = link.model_copy(
        update={
            "sealed_secret": link_secrets.seal_values(link, secret_values),
            "secret_name": None,
            "secret_version": f"sealed-{random_body()}",
            "revision": replacing.revision + 1 if replacing else 1,
        }
    )
    table = links_table().name
    if replacing is None:
        condition, values = "attribute_not_exists(pk)", None
        conflict = "the user already linked this requirement"
    else:
        condition, values = "#revision = :expected", {":expected": replacing.revision}
        conflict = "the link was changed concurrently; retry"
    at = stored.status_changed_at
    before = replacing.status if replacing is not None and same_link else None
    ops = [
        put_op(table, _item(stored), condition, values),
        _transition_op(
            stored, to=stored.status, before=before, reason=reason, at=at, by=by, revision=stored.revision
        ),
    ]
    if not same_link:
        ref = {"app_id": link.app_id, "user_id": link.user_id, "requirement_id": link.requirement_id}
        ops.append(put_op(table, {**keys.link_ref(link.id), **ref}, "attribute_not_exists(pk)"))
    if replacing is not None and not same_link:
        ops.append(
            _transition_op(
                replacing,
                to=LinkStatus.revoked,
                before=replacing.status,
                reason=f"replaced by {link.id}",
                at=at,
                by=by,
                revision=replacing.revision + 1,
            )
        )
    links_table().transact(ops, conflict)
    if replacing is not None and replacing.secret_name:
        secrets.delete_secret(replacing.secret_name)
    return stored


def get_link(app_id: str, user_id: str, requirement_id: str) -> Link | None:
    item = links_table().get(keys.link(app_id, user_id, requirement_id))
    return from_item(Link, item) if item else None


def set_link_status(
    link: Link,
    status: LinkStatus,
    reason: str | None,
    at: datetime,
    *,
    by: str = SYSTEM_ACTOR,
    also: Iterable[Item] = (),
) -> Link:
    """Change the status, and record the transition, if nobody changed the link since ``link.revision`` was
    read (409 otherwise). A revoked link's sealed secret is removed from its item. ``also``: more writes of
    the same transaction (an OAuth link's pending revocation at its provider)."""
    revision = link.revision + 1
    values: Item = {
        ":status": status.value,
        ":at": iso(at),
        ":expected": link.revision,
        ":next": revision,
    }
    expression = "SET #status = :status, status_changed_at = :at, #revision = :next"
    removed = []
    if reason is None:
        removed.append("status_reason")
    else:
        expression += ", status_reason = :reason"
        values[":reason"] = reason
    if status is LinkStatus.revoked:
        removed.append("sealed_secret")  # a revoked link's secret is deleted, wherever it was kept
    if removed:
        expression += " REMOVE " + ", ".join(removed)
    table = links_table().name
    links_table().transact(
        [
            update_op(
                table,
                keys.link(link.app_id, link.user_id, link.requirement_id),
                expression,
                "#revision = :expected AND #id = :id",
                {**values, ":id": link.id},
            ),
            _transition_op(
                link, to=status, before=link.status, reason=reason, at=at, by=by, revision=revision
            ),
            *also,
        ],
        "the link was changed concurrently; retry",
    )
    changes: dict[str, object] = {
        "status": status,
        "status_reason": reason,
        "status_changed_at": at,
        "revision": revision,
    }
    if status is LinkStatus.revoked:
        changes["sealed_secret"] = None
    return link.model_copy(update=changes)


TOUCH_INTERVAL = timedelta(hours=1)
"""``last_used_at`` is written at most once per interval per link: a run does not cost a write each time."""


def touch_is_due(last_used_at: datetime | None, at: datetime) -> bool:
    """Whether a use at ``at`` is worth recording, judged from a ``last_used_at`` already read: never
    recorded, or older than the interval (the same rule ``touch_link``'s condition enforces)."""
    return last_used_at is None or last_used_at < at - TOUCH_INTERVAL


def touch_link(app_id: str, user_id: str, requirement_id: str, link_id: str, at: datetime) -> bool:
    """Record that the link was used at ``at`` unless it was within the hour (or the link was replaced);
    no revision bump, since nothing about the link changed. True when written."""
    try:
        links_table().write(
            update_op(
                links_table().name,
                keys.link(app_id, user_id, requirement_id),
                "SET last_used_at = :at",
                "#id = :id AND (attribute_not_exists(last_used_at) OR last_used_at < :threshold)",
                {":at": iso(at), ":id": link_id, ":threshold": iso(at - TOUCH_INTERVAL)},
            )
        )
    except Conflict:
        return False
    return True


def list_user_links(app_id: str, user_id: str) -> list[Link]:
    """Every link of the user for the App, in one Query."""
    partition, prefix = keys.user_links_prefix(app_id, user_id)
    return [from_item(Link, item) for item in links_table().query_all(partition, prefix=prefix)]


def list_app_links(
    app_id: str, user_id: str | None, limit: int, next_token: str | None
) -> tuple[list[Link], str | None]:
    """The App's links, by user then requirement; one user's from their own partition."""
    if user_id is not None:
        partition, prefix = keys.user_links_prefix(app_id, user_id)
        page = links_table().query(partition, prefix=prefix, limit=limit, next_token=next_token)
    else:
        page = links_table().query(
            keys.app_links(app_id), index=keys.GSI1, limit=limit, next_token=next_token
        )
    return [from_item(Link, item) for item in page.items], page.next_token


@dataclass(frozen=True)
class LinkRef:
    """Where a link (by id) lives: its App, user and requirement."""

    link_id: str
    app_id: str
    user_id: str
    requirement_id: str


def get_link_ref(link_id: str) -> LinkRef | None:
    item = links_table().get(keys.link_ref(link_id))
    if item is None:
        return None
    return LinkRef(link_id, str(item["app_id"]), str(item["user_id"]), str(item["requirement_id"]))


def get_link_by_id(link_id: str) -> Link | None:
    """The link with this id, while it is the user's current link for its requirement (not replaced)."""
    ref = get_link_ref(link_id)
    if ref is None:
        return None
    link = get_link(ref.app_id, ref.user_id, ref.requirement_id)
    return link if link is not None and link.id == link_id else None


def list_transitions(link_id: str) -> list[LinkTransition]:
    """The link's history, oldest first."""
    partition, prefix = keys.link_transitions_prefix(link_id)
    return [from_item(LinkTransition, item) for item in links_table().query_all(partition, prefix=prefix)]


# ---------------------------------------------------------------- the credentials function's read


@dataclass(frozen=True)
class CredentialRecords:
    """What one credentials request needs: the run, its App, the connections and the user's links."""

    run: Run | None
    app: App | None
    connections: dict[str, Connection] = field(default_factory=dict)
    links: dict[str, Link] = field(default_factory=dict)
    """By requirement id; only the links that exist."""


def read_credential_records(
    run_id: str,
    app_id: str,
    connection_ids: Iterable[str],
    user_id: str | None,
    requirement_ids: Iterable[str],
) -> CredentialRecords:
    """Every record in one consistent BatchGetItem spanning the runs, control and links tables.

    A request over 100 keys (DynamoDB's limit) takes one call per 100; keys left unprocessed under
    throttling are asked for again a few times, then the read fails as unavailable (503).
    """
    settings = get_settings()
    wanted: dict[tuple[str, str, str], tuple[str, str]] = {}

    def want(table: str, key: keys.Key, kind: str, entity_id: str) -> None:
        wanted[(table, key["pk"], key["sk"])] = (kind, entity_id)

    want(settings.runs_table, keys.run(run_id), "run", run_id)
    want(settings.control_table, keys.app(app_id), "app", app_id)
    for connection_id in connection_ids:
        want(settings.control_table, keys.connection(connection_id), "connection", connection_id)
    if user_id is not None:
        for requirement_id in requirement_ids:
            want(settings.links_table, keys.link(app_id, user_id, requirement_id), "link", requirement_id)

    found: dict[str, dict[str, Item]] = {"run": {}, "app": {}, "connection": {}, "link": {}}
    for table, item in _batch_get([(table, {"pk": pk, "sk": sk}) for table, pk, sk in wanted]):
        kind, entity_id = wanted[(table, item["pk"], item["sk"])]
        found[kind][entity_id] = item
    run = found["run"].get(run_id)
    app = found["app"].get(app_id)
    return CredentialRecords(
        run=from_item(Run, run) if run else None,
        app=from_item(App, app) if app else None,
        connections={cid: from_item(Connection, item) for cid, item in found["connection"].items()},
        links={rid: from_item(Link, item) for rid, item in found["link"].items()},
    )


def _batch_get(table_keys: list[tuple[str, keys.Key]]) -> list[tuple[str, Item]]:
    found: list[tuple[str, Item]] = []
    for start in range(0, len(table_keys), BATCH_GET_MAX_KEYS):
        request: dict[str, Any] = {}
        for table, key in table_keys[start : start + BATCH_GET_MAX_KEYS]:
            request.setdefault(table, {"Keys": [], "ConsistentRead": True})["Keys"].append(key)
        for attempt in range(UNPROCESSED_RETRIES + 1):
            if attempt:
                time.sleep(0.05 * 2**attempt)
            with translate_errors():
                response = aws.dynamodb_resource().batch_get_item(RequestItems=request)
            for table, items in response.get("Responses", {}).items():
                found.extend((table, from_dynamo(item)) for item in items)
            request = dict(response.get("UnprocessedKeys") or {})
            if not request:
                break
        else:
            raise ServiceUnavailable("the service is busy, retry shortly")
    return found
