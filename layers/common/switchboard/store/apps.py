"""Apps and their deployment history.

Creating or deleting an App adjusts ``app_count`` on its project and workflow in the same transaction, so a
project or workflow in use can never be deleted. A deployment bumps ``deployment_count`` with a condition on
its previous value: concurrent deploys to one App take turns and never interleave.
"""

from __future__ import annotations

from datetime import datetime

from switchboard.domain.ids import iso
from switchboard.domain.models import App, AppAccess, Deployment, DeploymentRef, RunLimits
from switchboard.store import keys
from switchboard.store.control import control, from_item, to_item
from switchboard.store.table import Item, delete_op, put_op, update_op

EXISTS = "attribute_exists(pk)"


def create_app(app: App) -> None:
    table = control().name
    index = keys.listing_index(keys.project_apps(app.project_id), app.created_at, app.id)
    control().transact(
        [
            put_op(table, to_item(app, keys.app(app.id), index), "attribute_not_exists(pk)"),
            update_op(table, keys.project(app.project_id), "ADD app_count :one", EXISTS, {":one": 1}),
            update_op(table, keys.workflow(app.workflow_id), "ADD app_count :one", EXISTS, {":one": 1}),
        ],
        "the project or workflow no longer exists",
    )


def get_app(app_id: str) -> App | None:
    item = control().get(keys.app(app_id))
    return from_item(App, item) if item else None


def list_apps(project_id: str, limit: int, next_token: str | None) -> tuple[list[App], str | None]:
    page = control().query(keys.project_apps(project_id), index=keys.GSI1, limit=limit, next_token=next_token)
    return [from_item(App, i) for i in page.items], page.next_token


def all_apps(project_id: str) -> list[App]:
    return [from_item(App, i) for i in control().query_all(keys.project_apps(project_id), index=keys.GSI1)]


def update_app(
    app: App,
    name: str | None,
    access: AppAccess | None,
    by: str,
    at: datetime,
    *,
    event_url: str | None = None,
    connect_return_urls: list[str] | None = None,
    limits: RunLimits | None = None,
) -> App:
    """Set what is given (None: unchanged); an empty ``event_url`` removes it."""
    values: Item = {":at": iso(at), ":by": by, ":one": 1, ":expected": app.version}
    sets = ["updated_at = :at", "updated_by = :by", "#version = #version + :one"]
    removes: list[str] = []
    if name is not None:
        sets.append("#name = :name")
        values[":name"] = name
    if access is not None:
        sets.append("#access = :access")
        values[":access"] = access.value
    if event_url == "":
        removes.append("event_url")
    elif event_url is not None:
        sets.append("event_url = :event_url")
        values[":event_url"] = event_url
    if connect_return_urls is not None:
        sets.append("connect_return_urls = :return_urls")
        values[":return_urls"] = connect_return_urls
    for field, value in (limits.model_dump(exclude_none=True) if limits is not None else {}).items():
        sets.append(f"{field} = :{field}")
        values[f":{field}"] = value
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    item = control().update_returning(
        update_op(
            control().name,
            keys.app(app.id),
            expression,
            f"{EXISTS} AND #version = :expected",
            values,
        ),
        "the App was changed concurrently; retry",
    )
    return from_item(App, item)


def delete_app(app: App) -> None:
    table = control().name
    control().transact(
        [
            delete_op(table, keys.app(app.id), "#version = :expected", {":expected": app.version}),
            update_op(table, keys.project(app.project_id), "ADD app_count :minus", EXISTS, {":minus": -1}),
            update_op(table, keys.workflow(app.workflow_id), "ADD app_count :minus", EXISTS, {":minus": -1}),
        ],
        "the App was changed concurrently; retry",
    )
    partition, prefix = keys.deployments_prefix(app.id)
    for item in control().query_all(partition, prefix=prefix):
        control().write(delete_op(table, {"pk": item["pk"], "sk": item["sk"]}))


def record_deployment(app: App, deployment: Deployment) -> App:
    table = control().name
    ref = DeploymentRef(
        id=deployment.id,
        sequence=deployment.sequence,
        version=deployment.version,
        deployed_at=deployment.deployed_at,
        deployed_by=deployment.deployed_by,
    )
    control().transact(
        [
            update_op(
                table,
                keys.app(app.id),
                "SET deployment = :ref, deployment_count = :n, updated_at = :at, updated_by = :by, "
                "#version = #version + :one",
                f"{EXISTS} AND deployment_count = :previous",
                {
                    ":ref": ref.model_dump(mode="json"),
                    ":n": deployment.sequence,
                    ":previous": deployment.sequence - 1,
                    ":at": iso(deployment.deployed_at),
                    ":by": deployment.deployed_by,
                    ":one": 1,
                },
            ),
            put_op(
                table,
                to_item(deployment, keys.deployment(app.id, deployment.sequence)),
                "attribute_not_exists(sk)",
            ),
        ],
        "another deployment of this App happened concurrently; reload and retry",
        "deployment_conflict",
    )
    return app.model_copy(
        update={
            "deployment": ref,
            "deployment_count": deployment.sequence,
            "version": app.version + 1,
            "updated_at": deployment.deployed_at,
            "updated_by": deployment.deployed_by,
        }
    )


def get_deployment(app_id: str, sequence: int) -> Deployment | None:
    item = control().get(keys.deployment(app_id, sequence))
    return from_item(Deployment, item) if item else None


def list_deployments(app_id: str, limit: int, next_token: str | None) -> tuple[list[Deployment], str | None]:
    partition, prefix = keys.deployments_prefix(app_id)
    page = control().query(partition, prefix=prefix, limit=limit, next_token=next_token, newest_first=True)
    return [from_item(Deployment, i) for i in page.items], page.next_token
