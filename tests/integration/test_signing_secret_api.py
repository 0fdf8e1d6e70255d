"""The per-App webhook signing secret: created with the App and shown once, rotated by editors, stored only in
Secrets Manager (the App records its version), and handed out only by the credentials function."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from switchboard import aws
from switchboard.runtime.credentials import resolving as credentials
from switchboard.runtime.identity.bootstrap import bootstrap_admin
from switchboard.store import keys
from switchboard.store.control import control
from tests.integration.conftest import World, mint_pat
from tests.support.stack import LambdaContextStub, load_function

PREFIX = "switchboard/switchboard-local/"


def _create_app(world: World, token: str | None = None) -> dict[str, Any]:
    reply = world.call(
        "POST",
        "/v1/apps",
        token=token or world.admin.token,
        body={"project_id": world.project_id, "name": "Hooks", "workflow_id": world.workflow_id},
    )
    assert reply.status == 201, reply.body
    data: dict[str, Any] = reply.body["data"]
    return data


def _stored_secret(app_id: str) -> tuple[str, str]:
    """(value, version) of the App's signing secret, read straight from (moto) Secrets Manager."""
    secret = aws.secrets().get_secret_value(SecretId=f"{PREFIX}apps/{app_id}/signing")
    return json.loads(secret["SecretString"])["signing_secret"], secret["VersionId"]


def _recorded_version(app_id: str) -> str | None:
    item = control().get(keys.app(app_id))
    assert item is not None
    version = item.get("signing_secret_version")
    return str(version) if version else None


def _ask_credentials(event: Any) -> dict[str, Any]:
    answer: dict[str, Any] = load_function("credentials").lambda_handler(event, LambdaContextStub())
    return answer


@pytest.fixture
def fresh_cache() -> Iterator[None]:
    credentials.secret_cache.clear()
    yield
    credentials.secret_cache.clear()


def test_creating_an_app_shows_its_signing_secret_once(world: World) -> None:
    # Given an admin of the world's project
    # When an App is created
    created = _create_app(world)
    # Then the response carries a Standard Webhooks secret, the very value stored in Secrets Manager
    secret = created["signing_secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    value, version = _stored_secret(created["id"])
    assert value == secret
    # And the App records the secret's version, not its value
    assert _recorded_version(created["id"]) == version
    assert secret not in json.dumps(control().get(keys.app(created["id"])))
    # And no later read shows it
    one = world.call("GET", f"/v1/apps/{created['id']}", token=world.admin.token)
    listed = world.call("GET", "/v1/apps", token=world.admin.token, query={"project_id": world.project_id})
    assert one.status == listed.status == 200
    assert "signing_secret" not in one.body["data"]
    assert secret not in one.raw + listed.raw


def test_rotation_writes_a_new_version_and_shows_the_new_secret_once(world: World) -> None:
    # Given an App, created with its first signing secret
    created = _create_app(world)
    # When an editor rotates it
    editor = world.token_for("editor@example.com", project_role="editor")
    rotated = world.call("POST", f"/v1/apps/{created['id']}/signing-secret", token=editor)
    # Then the answer is 201 with the new secret, which is now the current version, recorded on the App
    assert rotated.status == 201, rotated.body
    data = rotated.body["data"]
    assert set(data) == {"app_id", "signing_secret", "rotated_at"}
    assert data["app_id"] == created["id"]
    assert data["signing_secret"].startswith("whsec_")
    assert data["signing_secret"] != created["signing_secret"]
    value, version = _stored_secret(created["id"])
    assert value == data["signing_secret"]
    assert _recorded_version(created["id"]) == version
    assert rotated.headers["cache-control"] == "no-store"
    # And the rotation is an audited change of the App
    app = world.call("GET", f"/v1/apps/{created['id']}", token=world.admin.token).body["data"]
    assert app["updated_by"] != created["updated_by"]
    assert app["updated_at"] >= created["updated_at"]
    assert data["signing_secret"] not in json.dumps(app)


def test_only_editors_of_the_apps_project_may_rotate(world: World) -> None:
    # Given an App, a viewer of its project, and a user of the org outside the project
    created = _create_app(world)
    viewer = world.token_for("viewer@example.com", project_role="viewer")
    outsider = world.token_for("outsider@example.com")
    # When the viewer, the outsider, anyone for an unknown App, and a caller without a token try to rotate it
    refused = world.call("POST", f"/v1/apps/{created['id']}/signing-secret", token=viewer)
    # Then the viewer is 403 without a secret, the outsider and the unknown App 404, no token 401
    assert refused.status == 403
    assert "signing_secret" not in refused.raw
    assert world.call("POST", f"/v1/apps/{created['id']}/signing-secret", token=outsider).status == 404
    assert (
        world.call("POST", "/v1/apps/app-doesnotexist/signing-secret", token=world.admin.token).status == 404
    )
    assert world.call("POST", f"/v1/apps/{created['id']}/signing-secret").status == 401
    # And nothing changed
    assert _stored_secret(created["id"])[0] == created["signing_secret"]


def test_an_app_created_before_signing_secrets_gets_one_on_rotation(world: World) -> None:
    # Given an App with neither a signing secret nor a recorded version (as Apps made before the feature)
    created = _create_app(world)
    aws.secrets().delete_secret(
        SecretId=f"{PREFIX}apps/{created['id']}/signing", ForceDeleteWithoutRecovery=True
    )
    control().write(
        {
            "Update": {
                "TableName": control().name,
                "Key": keys.app(created["id"]),
                "UpdateExpression": "REMOVE signing_secret_version",
            }
        }
    )
    # When it is rotated / Then it gets its first secret
    rotated = world.call("POST", f"/v1/apps/{created['id']}/signing-secret", token=world.admin.token)
    assert rotated.status == 201, rotated.body
    value, version = _stored_secret(created["id"])
    assert value == rotated.body["data"]["signing_secret"]
    assert _recorded_version(created["id"]) == version


def test_deleting_an_app_schedules_its_signing_secret_for_deletion(world: World) -> None:
    # Given an App
    created = _create_app(world)
    # When it is deleted
    assert world.call("DELETE", f"/v1/apps/{created['id']}", token=world.admin.token).status == 204
    # Then its signing secret is scheduled for deletion in Secrets Manager
    described = aws.secrets().describe_secret(SecretId=f"{PREFIX}apps/{created['id']}/signing")
    assert "DeletedDate" in described


def test_the_credentials_function_serves_the_signing_secret_from_its_version_keyed_cache(
    world: World, fresh_cache: None
) -> None:
    # Given an App and an empty secret cache
    created = _create_app(world)
    request = {"kind": "signing_secret", "app_id": created["id"]}
    # When the executor asks twice
    first, second = _ask_credentials(request), _ask_credentials(request)
    # Then it gets the secret, read once and then from the cache, under the recorded version
    version = _recorded_version(created["id"])
    assert first == {
        "app_id": created["id"],
        "signing_secret": created["signing_secret"],
        "secret_version": version,
        "cached": False,
    }
    assert second == {**first, "cached": True}
    # When the secret is rotated / Then the very next request reads the new version
    rotated = world.call("POST", f"/v1/apps/{created['id']}/signing-secret", token=world.admin.token)
    third = _ask_credentials(request)
    assert third["signing_secret"] == rotated.body["data"]["signing_secret"]
    assert third["secret_version"] == _recorded_version(created["id"]) != version
    assert third["cached"] is False


@pytest.mark.parametrize(
    ("event", "code", "loc"),
    [
        ({"kind": "signing_secret", "app_id": "app-doesnotexist"}, "not_found", None),
        ({"kind": "signing_secret", "app_id": "not-an-app"}, "invalid_request", ["app_id"]),
        ({"kind": "signing_secret", "app_id": "app-x", "run_id": "run-x"}, "invalid_request", ["run_id"]),
        ({"kind": "secrets", "app_id": "app-x"}, "invalid_request", []),
        (["signing_secret"], "invalid_request", []),
    ],
)
def test_the_credentials_function_refuses_bad_signing_requests(
    world: World, event: Any, code: str, loc: list[Any] | None
) -> None:
    # Given a signing-secret request for an unknown or malformed App, with a run_id, of a wrong kind,
    # or not an object
    # When the credentials function is asked
    answer = _ask_credentials(event)
    # Then it answers an error document with its code, naming the field at fault where there is one
    assert answer["error"]["code"] == code
    if loc is not None:
        assert answer["error"]["details"][0]["loc"] == loc


def test_an_app_of_another_org_is_404_for_rotation(world: World) -> None:
    # Given an App, and an admin of another org
    created = _create_app(world)
    stranger = bootstrap_admin("stranger@example.com", "Elsewhere")
    token = mint_pat(stranger.user_id)
    # When that admin rotates the App's signing secret / Then it is 404: the App is not theirs to see
    assert world.call("POST", f"/v1/apps/{created['id']}/signing-secret", token=token).status == 404
