"""The credentials function: checks a run's request against its records before reading any secret, reads
everything in one BatchGetItem and at most one BatchGetSecretValue, caches by secret version, and never
lets a secret value reach a log line, an error or a resolution record."""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from switchboard import aws
from switchboard.domain.errors import Forbidden, NotFound, RequirementNotSatisfied, SwitchboardError
from switchboard.domain.ids import new_id, utcnow
from switchboard.domain.runs import Link, LinkStatus, Run
from switchboard.engine.definition import WorkflowDefinition
from switchboard.invoker import get_invoker, set_invoker
from switchboard.observability import logger
from switchboard.runtime.credentials import resolving as credentials
from switchboard.runtime.credentials.client import resolve_credentials, resolve_for_run
from switchboard.runtime.credentials.contract import CredentialsRequest
from switchboard.runtime.links import linking as links_runtime
from switchboard.settings import get_settings
from switchboard.store import apps, keys, link_secrets, links, secrets
from switchboard.store.control import to_item
from switchboard.store.table import Table, put_op, update_op
from tests.integration.conftest import SECRET_KEY, World, definition
from tests.support.invokers import HandlerInvoker
from tests.support.stack import LambdaContextStub, load_function

END_USER = "end-user-1"
USER_KEY = "user-SECRET-key-9876543210"
CREDENTIALS_FUNCTION = "CredentialsFunction"


# ---------------------------------------------------------------- fixtures


@pytest.fixture(autouse=True)
def credentials_function_name(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("CREDENTIALS_FUNCTION", CREDENTIALS_FUNCTION)
    get_settings.cache_clear()
    credentials.secret_cache.clear()
    yield
    credentials.secret_cache.clear()
    get_settings.cache_clear()


def invoke(payload: Any) -> dict[str, Any]:
    """The credentials function's handler, called as Lambda would (JSON in, JSON out)."""
    handler = load_function("credentials").lambda_handler
    result: dict[str, Any] = json.loads(
        json.dumps(handler(json.loads(json.dumps(payload)), LambdaContextStub()))
    )
    return result


class CredentialsInvoker(HandlerInvoker):
    """The function-invoker seam routed to the credentials handler in-process (and nothing else)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def invoke(self, function_name: str, payload: dict[str, Any]) -> Any:
        self.names.append(function_name)
        assert function_name == CREDENTIALS_FUNCTION
        return invoke(payload)


@pytest.fixture
def invoker() -> Iterator[CredentialsInvoker]:
    previous = get_invoker()
    seam = CredentialsInvoker()
    set_invoker(seam)
    yield seam
    set_invoker(previous)


@pytest.fixture
def aws_calls(world: World) -> Iterator[Counter[str]]:
    """``service.Operation`` → number of calls, on every client the code gets from switchboard.aws."""
    calls: Counter[str] = Counter()

    def count(model: Any, **kwargs: Any) -> None:
        calls[f"{model.service_model.service_name}.{model.name}"] += 1

    clients = [aws.dynamodb(), aws.dynamodb_resource().meta.client, aws.secrets(), aws.kms()]
    for client in clients:
        client.meta.events.register("before-call.*.*", count)
    yield calls
    for client in clients:
        client.meta.events.unregister("before-call.*.*", count)


@pytest.fixture
def output(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> Iterator[Any]:
    """Everything logged or printed during the test (the Powertools logger writes to its own stream)."""
    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    caplog.set_level(logging.INFO)

    def everything() -> str:
        printed = capsys.readouterr()
        return stream.getvalue() + caplog.text + printed.out + printed.err

    yield everything
    handler.setStream(previous)


@dataclass
class Scene:
    world: World
    run: Run
    link: Link


def write_run(
    world: World, *, user_id: str | None = END_USER, requirement_ids: list[str] | None = None
) -> Run:
    now = utcnow()
    run = Run(
        id=new_id("run"),
        app_id=world.app_id,
        org_id=world.org_id,
        project_id=world.project_id,
        workflow_id=world.workflow_id,
        version=1,
        requirement_ids=["crm"] if requirement_ids is None else requirement_ids,
        user_id=user_id,
        created_at=now,
        created_by="test",
        expires_at=int((now + timedelta(days=1)).timestamp()),
    )
    runs = Table(get_settings().runs_table)
    runs.write(put_op(runs.name, to_item(run, keys.run(run.id)), "attribute_not_exists(pk)"))
    return run


def link_requirement(
    world: World,
    requirement_id: str = "crm",
    *,
    user_id: str = END_USER,
    key: str = USER_KEY,
    expires_in: timedelta | None = None,
) -> Link:
    now = utcnow()
    return links.put_link(
        Link(
            id=new_id("link"),
            app_id=world.app_id,
            org_id=world.org_id,
            project_id=world.project_id,
            user_id=user_id,
            requirement_id=requirement_id,
            connection_type="http_api_key",
            status=LinkStatus.active,
            status_changed_at=now,
            config={"url": "https://crm.example.test/", "header": "X-Api-Key", "scheme": ""},
            secret_fields=["api_key"],
            linked_at=now,
            expires_at=now + expires_in if expires_in is not None else None,
        ),
        {"api_key": key},
    )


@pytest.fixture
def scene(world: World) -> Scene:
    return Scene(world, write_run(world), link_requirement(world))


def request(scene: Scene, **changes: Any) -> dict[str, Any]:
    payload = {
        "run_id": scene.run.id,
        "app_id": scene.world.app_id,
        "user_id": END_USER,
        "connection_ids": [scene.world.connection_id],
        "requirement_ids": ["crm"],
    }
    return {**payload, **changes}


def add_connection(world: World, name: str, key: str, project_id: str | None = None) -> str:
    return world.builder.connection(project_id or world.project_id, name, f"https://{name}.example.test", key)


# ---------------------------------------------------------------- resolving


def test_a_connection_and_a_linked_requirement_resolve_with_config_and_secret_merged(scene: Scene, output):
    # Given a run of the App for the end user, who has linked the crm requirement, and the world's connection
    # When the executor asks for the run's connection and the user's link
    answer = invoke(request(scene))

    # Then each reference gets its type and the non-secret config merged with the secret's fields
    assert set(answer) == {"credentials", "resolutions"}
    assert answer["credentials"] == {
        f"connection:{scene.world.connection_id}": {
            "type": "http_api_key",
            "config": {
                "url": "https://crm.example.test/",
                "header": "Authorization",
                "scheme": "Bearer",
                "api_key": SECRET_KEY,
            },
            "secret_fields": ["api_key"],
        },
        "requirement:crm": {
            "type": "http_api_key",
            "config": {
                "url": "https://crm.example.test/",
                "header": "X-Api-Key",
                "scheme": "",
                "api_key": USER_KEY,
            },
            "secret_fields": ["api_key"],
        },
    }
    # And each resolution names the record and the secret version it used, without a value
    connection = scene.world.call(
        "GET", f"/v1/connections/{scene.world.connection_id}", token=scene.world.admin.token
    )
    stored_connection = connection.body["data"]
    assert answer["resolutions"] == [
        {
            "reference": f"connection:{scene.world.connection_id}",
            "kind": "connection",
            "id": scene.world.connection_id,
            "secret_version": _recorded_version(scene.world.connection_id),
            "status": "active",
            "cached": False,
            "last_used_at": None,
        },
        {
            "reference": "requirement:crm",
            "kind": "link",
            "id": scene.link.id,
            "secret_version": scene.link.secret_version,
            "status": "active",
            "cached": False,
            "last_used_at": None,
        },
    ]
    assert SECRET_KEY not in json.dumps(answer["resolutions"]) + json.dumps(stored_connection)
    # And no secret value was logged or printed
    logged = output()
    assert "credentials resolved" in logged
    assert SECRET_KEY not in logged
    assert USER_KEY not in logged


def test_a_links_resolution_carries_its_last_recorded_use(scene: Scene, aws_calls: Counter[str]):
    # Given the user's link recorded as used a while ago
    used_at = utcnow() - timedelta(minutes=30)
    assert links.touch_link(scene.world.app_id, END_USER, "crm", scene.link.id, used_at)
    aws_calls.clear()

    # When the executor asks for the run's credentials
    answer = invoke(request(scene))

    # Then the link's resolution says when it was last used, read in the same BatchGetItem
    by_kind = {r["kind"]: r for r in answer["resolutions"]}
    assert datetime.fromisoformat(by_kind["link"]["last_used_at"]) == used_at
    assert by_kind["connection"]["last_used_at"] is None
    assert aws_calls["dynamodb.BatchGetItem"] == 1


def test_the_executor_client_returns_credentials_with_their_secret_values_for_redaction(
    scene: Scene, invoker: CredentialsInvoker, output
):
    # Given a run, its connection and its user's crm link, and the credentials function behind the invoker
    # When the executor's client resolves through the invoker seam
    result = resolve_credentials(CredentialsRequest.model_validate(request(scene)))

    # Then it invoked the credentials function by its configured name, once
    assert invoker.names == [CREDENTIALS_FUNCTION]
    # And it gets engine credentials keyed like credential_key, carrying the secret values to redact
    connection = result.credentials[f"connection:{scene.world.connection_id}"]
    linked = result.credentials["requirement:crm"]
    assert connection.connection_type == "http_api_key"
    assert connection.config["api_key"] == SECRET_KEY
    assert connection.secret_values == (SECRET_KEY,)
    assert linked.config["api_key"] == USER_KEY
    assert linked.secret_values == (USER_KEY,)
    assert SECRET_KEY not in repr(connection)
    # And resolution records for the trace, with no value in them
    assert [r["reference"] for r in result.resolutions] == [
        f"connection:{scene.world.connection_id}",
        "requirement:crm",
    ]
    assert SECRET_KEY not in json.dumps(result.resolutions)
    assert USER_KEY not in output()


def test_resolve_for_run_asks_for_what_the_nodes_reference(world: World, invoker: CredentialsInvoker):
    # Given a run of a workflow whose nodes use the shared connection and the user's requirement
    run = write_run(world)
    link_requirement(world)
    with_connection = WorkflowDefinition.model_validate(definition(world.connection_id))
    with_requirement = WorkflowDefinition.model_validate(definition(requirement=True))
    without_any = WorkflowDefinition.model_validate(definition())

    # When each definition's credentials are resolved for the run
    by_connection = resolve_for_run(run, with_connection)
    by_requirement = resolve_for_run(run, with_requirement)
    nothing = resolve_for_run(run, without_any)

    # Then each gets exactly what its nodes reference, and a workflow without connections invokes nothing
    assert set(by_connection.credentials) == {f"connection:{world.connection_id}"}
    assert set(by_requirement.credentials) == {"requirement:crm"}
    assert nothing.credentials == {}
    assert invoker.names == [CREDENTIALS_FUNCTION, CREDENTIALS_FUNCTION]


# ---------------------------------------------------------------- requirements not satisfied


def test_unlinked_revoked_and_expired_requirements_are_named_with_their_status(scene: Scene, invoker, output):
    # Given a run declaring four requirements: one linked, one revoked, one expired, one never linked
    world = scene.world
    run = write_run(world, requirement_ids=["crm", "billing", "tickets", "calendar"])
    revoked = link_requirement(world, "billing")
    links.set_link_status(revoked, LinkStatus.revoked, "revoked by the user", utcnow())
    link_requirement(world, "tickets", expires_in=timedelta(seconds=-1))

    # When all four are asked for
    answer = invoke(request(scene, run_id=run.id, requirement_ids=["crm", "billing", "tickets", "calendar"]))

    # Then the answer is requirement_not_satisfied naming each unmet requirement with its status
    assert answer == {
        "error": {
            "code": "requirement_not_satisfied",
            "message": "the user has not linked every connection the run needs",
            "details": [
                {"requirement_id": "billing", "status": "revoked"},
                {"requirement_id": "tickets", "status": "expired"},
                {"requirement_id": "calendar", "status": "missing"},
            ],
        }
    }
    # And through the client it is the typed domain error (422)
    with pytest.raises(RequirementNotSatisfied) as raised:
        resolve_credentials(
            CredentialsRequest.model_validate(
                request(scene, run_id=run.id, requirement_ids=["crm", "billing", "tickets", "calendar"])
            )
        )
    assert raised.value.status == 422
    assert raised.value.error_code == "requirement_not_satisfied"
    assert [d["requirement_id"] for d in raised.value.details] == ["billing", "tickets", "calendar"]
    assert USER_KEY not in output()


def test_another_users_link_does_not_satisfy_the_requirement(world: World):
    # Given a run for a user who never linked, while another user did
    run = write_run(world, user_id="someone-else")
    link_requirement(world)

    # When the run's requirement is asked for / Then it is missing
    answer = invoke(
        {
            "run_id": run.id,
            "app_id": world.app_id,
            "user_id": "someone-else",
            "connection_ids": [],
            "requirement_ids": ["crm"],
        }
    )
    assert answer["error"]["code"] == "requirement_not_satisfied"
    assert answer["error"]["details"] == [{"requirement_id": "crm", "status": "missing"}]


def test_a_requirement_without_a_user_is_never_satisfied(world: World):
    # Given a run with no end user (and a link that exists for someone)
    run = write_run(world, user_id=None)
    link_requirement(world)

    # When a requirement is asked for without user_id
    answer = invoke(
        {"run_id": run.id, "app_id": world.app_id, "connection_ids": [], "requirement_ids": ["crm"]}
    )

    # Then it is missing
    assert answer["error"]["code"] == "requirement_not_satisfied"
    assert answer["error"]["details"] == [{"requirement_id": "crm", "status": "missing"}]


@pytest.mark.parametrize("status", [LinkStatus.unauthorized, LinkStatus.expired])
def test_a_link_marked_unusable_is_reported_with_that_status(scene: Scene, status: LinkStatus):
    # Given the user's link marked unusable
    links.set_link_status(scene.link, status, "the upstream answered 401", utcnow())

    # When the run's requirement is asked for / Then its status is reported
    answer = invoke(request(scene))
    assert answer["error"]["details"] == [{"requirement_id": "crm", "status": status.value}]


# ---------------------------------------------------------------- refused requests


def test_a_connection_of_another_project_is_forbidden(scene: Scene, invoker):
    # Given a connection in another project of the same org
    other_project = scene.world.builder.project("Other")
    foreign = add_connection(scene.world, "foreign", "foreign-SECRET", other_project)

    # When the run asks for it
    answer = invoke(request(scene, connection_ids=[scene.world.connection_id, foreign]))

    # Then it is refused, naming that connection only, and no secret is in the answer
    assert answer["error"]["code"] == "forbidden"
    assert answer["error"]["details"] == {"connection_ids": [foreign]}
    assert "SECRET" not in json.dumps(answer)
    with pytest.raises(Forbidden):
        resolve_credentials(CredentialsRequest.model_validate(request(scene, connection_ids=[foreign])))


def test_a_requirement_the_runs_version_does_not_declare_is_forbidden(scene: Scene):
    # Given the user's link for a requirement the run's version does not declare
    link_requirement(scene.world, "payroll")

    # When the run asks for it / Then it is refused as undeclared
    answer = invoke(request(scene, requirement_ids=["crm", "payroll"]))
    assert answer["error"]["code"] == "forbidden"
    assert answer["error"]["details"] == {"requirement_ids": ["payroll"]}


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"app_id": "app-someotherapp"}, "forbidden"),
        ({"user_id": "someone-else"}, "forbidden"),
        ({"user_id": None}, "forbidden"),
        ({"run_id": "run-doesnotexist"}, "not_found"),
        ({"connection_ids": ["con-doesnotexist"]}, "not_found"),
    ],
)
def test_a_request_outside_the_run_is_refused(scene: Scene, aws_calls: Counter[str], changes, code):
    # Given a run of the App for the end user, with its connection and link
    # When the request names another App or user than the run's, or records that do not exist
    answer = invoke(request(scene, **changes))

    # Then it is refused with an error document, before any secret is read
    assert answer["error"]["code"] == code
    assert set(answer) == {"error"}
    assert aws_calls["dynamodb.BatchGetItem"] == 1
    assert aws_calls["secretsmanager.BatchGetSecretValue"] == 0


def test_unknown_app_is_not_found(world: World):
    run = write_run(world)
    # Given a run whose App record is gone
    Table(get_settings().control_table).write(
        {"Delete": {"TableName": get_settings().control_table, "Key": keys.app(world.app_id)}}
    )
    # When the credentials of the run are asked for
    answer = invoke(
        {
            "run_id": run.id,
            "app_id": world.app_id,
            "user_id": END_USER,
            "connection_ids": [],
            "requirement_ids": [],
        }
    )
    # Then it is refused as not_found
    assert answer["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "payload_change",
    [
        {"extra": "field"},
        {"connection_ids": "con-notalist"},
        {"requirement_ids": [1]},
        {"run_id": 42},
        {"user_id": ""},
        {"requirement_ids": ["Not An Identifier"]},
    ],
)
def test_an_invalid_request_is_an_invalid_request_document(scene: Scene, invoker, payload_change):
    # Given a credentials request with an unknown field, a wrong type, an empty user or a malformed id
    # When the payload has an unknown field or a wrongly typed one
    answer = invoke(request(scene, **payload_change))

    # Then the answer is an error document (not a Lambda error) naming the fields, echoing no value
    (field, value), details = next(iter(payload_change.items())), answer["error"]["details"]
    assert answer["error"]["code"] == "invalid_request"
    assert [detail["loc"][0] for detail in details] == [field]
    assert all(set(detail) == {"loc", "code", "message"} for detail in details)
    if isinstance(value, str) and value:
        assert value not in json.dumps(details)


def test_a_missing_field_is_an_invalid_request(scene: Scene):
    # Given a credentials request without its connection_ids
    payload = request(scene)
    del payload["connection_ids"]
    # When it is sent
    answer = invoke(payload)
    # Then it is an invalid_request document naming the missing field
    assert answer["error"]["code"] == "invalid_request"
    assert answer["error"]["details"][0]["loc"] == ["connection_ids"]


def test_a_deleted_secret_is_not_found(scene: Scene, invoker):
    # Given the connection's secret deleted behind the record's back
    stored = links.read_credential_records(
        scene.run.id, scene.world.app_id, [scene.world.connection_id], None, []
    )
    secret_name = stored.connections[scene.world.connection_id].secret_name
    aws.secrets().delete_secret(SecretId=str(secret_name), ForceDeleteWithoutRecovery=True)

    # When it is asked for / Then the answer is not_found, and the client raises NotFound
    answer = invoke(request(scene))
    assert answer["error"]["code"] == "not_found"
    with pytest.raises(NotFound):
        resolve_credentials(CredentialsRequest.model_validate(request(scene)))


# ---------------------------------------------------------------- calls, cache and rotation


def test_one_batch_get_item_and_one_batch_get_secret_value_whatever_the_number_of_references(
    scene: Scene, aws_calls: Counter[str]
):
    # Given five connections in the project and two linked requirements
    world = scene.world
    connection_ids = [world.connection_id] + [
        add_connection(world, f"crm{n}", f"crm-key-{n}") for n in range(4)
    ]
    run = write_run(world, requirement_ids=["crm", "billing"])
    link_requirement(world, "billing")
    aws_calls.clear()

    # When all of them are asked for
    answer = invoke(
        request(scene, run_id=run.id, connection_ids=connection_ids, requirement_ids=["crm", "billing"])
    )

    # Then everything came from one BatchGetItem, one BatchGetSecretValue (the connections) and one KMS
    # Decrypt per link (its sealed secret's data key), and nothing else
    assert len(answer["credentials"]) == 7
    assert aws_calls == Counter(
        {"dynamodb.BatchGetItem": 1, "secretsmanager.BatchGetSecretValue": 1, "kms.Decrypt": 2}
    )

    # When the same run asks again on the warm instance
    aws_calls.clear()
    again = invoke(
        request(scene, run_id=run.id, connection_ids=connection_ids, requirement_ids=["crm", "billing"])
    )

    # Then the secrets come from the cache: no Secrets Manager or KMS call at all
    assert again["credentials"] == answer["credentials"]
    assert all(resolution["cached"] for resolution in again["resolutions"])
    assert aws_calls == Counter({"dynamodb.BatchGetItem": 1})


def test_a_rotated_connection_is_read_again_by_the_next_request(
    scene: Scene, aws_calls: Counter[str], output
):
    # Given the connection resolved once (so its secret is cached)
    world = scene.world
    first = invoke(request(scene))
    assert first["credentials"][f"connection:{world.connection_id}"]["config"]["api_key"] == SECRET_KEY

    # When its config is replaced through the management API (a new secret version)
    rotated_key = "sk-ROTATED-value-4242"
    reply = world.call(
        "PATCH",
        f"/v1/connections/{world.connection_id}",
        token=world.admin.token,
        body={"config": {"url": "https://crm.example.test", "api_key": rotated_key}},
    )
    assert reply.status == 200
    aws_calls.clear()
    second = invoke(request(scene))

    # Then the very next request reads the new version (the unchanged link stays cached)
    assert second["credentials"][f"connection:{world.connection_id}"]["config"]["api_key"] == rotated_key
    by_reference = {r["reference"]: r for r in second["resolutions"]}
    assert by_reference[f"connection:{world.connection_id}"]["cached"] is False
    assert by_reference[f"connection:{world.connection_id}"]["secret_version"] == _recorded_version(
        world.connection_id
    )
    assert by_reference["requirement:crm"]["cached"] is True
    assert aws_calls["secretsmanager.BatchGetSecretValue"] == 1
    logged = output()
    assert rotated_key not in logged
    assert SECRET_KEY not in logged


def test_a_secret_newer_than_its_record_is_used_and_reported_without_values(scene: Scene, output):
    # Given the connection's secret given a new current version the record does not know yet
    stored = links.read_credential_records(
        scene.run.id, scene.world.app_id, [scene.world.connection_id], None, []
    )
    connection = stored.connections[scene.world.connection_id]
    newer = aws.secrets().put_secret_value(
        SecretId=str(connection.secret_name), SecretString=json.dumps({"api_key": "sk-NEWER-SECRET-value"})
    )

    # When the connection is asked for
    answer = invoke(request(scene))

    # Then the current version is used, and a warning names the versions but no value
    resolution = answer["resolutions"][0]
    assert (
        answer["credentials"][f"connection:{scene.world.connection_id}"]["config"]["api_key"]
        == "sk-NEWER-SECRET-value"
    )
    assert resolution["secret_version"] == newer["VersionId"]
    warnings = [
        line
        for line in (json.loads(text) for text in output().splitlines() if text.startswith("{"))
        if line.get("level") == "WARNING"
    ]
    assert [(w["recorded_version"], w["current_version"]) for w in warnings] == [
        (connection.secret_version, newer["VersionId"])
    ]
    assert "sk-NEWER-SECRET-value" not in json.dumps(warnings)


def test_a_failed_invocation_is_service_unavailable(scene: Scene):
    # Given an invoker whose function fails (a Lambda function error)
    from switchboard.domain.errors import ServiceUnavailable
    from switchboard.invoker import FunctionError

    class Failing(HandlerInvoker):
        def invoke(self, function_name: str, payload: dict[str, Any]) -> Any:
            raise FunctionError(function_name, {"errorType": "Throttled", "errorMessage": "busy"})

    previous = get_invoker()
    set_invoker(Failing())
    try:
        # When credentials are resolved / Then the client raises ServiceUnavailable (503)
        with pytest.raises(ServiceUnavailable) as raised:
            resolve_credentials(CredentialsRequest.model_validate(request(scene)))
    finally:
        set_invoker(previous)
    assert raised.value.status == 503


# ---------------------------------------------------------------- the links store


def test_put_link_seals_the_secret_into_the_item_and_records_its_version(world: World):
    # Given the world's App, its end user without a link
    # When a link is put
    link = link_requirement(world)

    # Then its secret is sealed into its item (no Secrets Manager secret), under a version of its own
    item = links.links_table().get(keys.link(world.app_id, END_USER, "crm"))
    assert item is not None
    assert link.secret_name is None
    assert item["sealed_secret"] == link.sealed_secret
    assert link.secret_version is not None
    assert link.secret_version.startswith("sealed-")
    assert link_secrets.open_values(link) == {"api_key": USER_KEY}
    assert links.get_link(world.app_id, END_USER, "crm") == link
    assert USER_KEY not in json.dumps(item, default=str)
    assert not [s for s in aws.secrets().list_secrets()["SecretList"] if "/links/" in s["Name"]]


def test_a_second_link_for_the_same_requirement_is_a_conflict_and_leaves_the_first(world: World):
    from switchboard.domain.errors import Conflict

    # Given a link
    first = link_requirement(world)

    # When a second link is put for the same requirement without replacing it
    with pytest.raises(Conflict):
        link_requirement(world, key="second-SECRET-key")

    # Then the first link and its sealed secret are untouched
    assert links.get_link(world.app_id, END_USER, "crm") == first
    assert link_secrets.open_values(first) == {"api_key": USER_KEY}


def test_replacing_a_link_seals_the_new_secret_for_the_new_link_only(world: World):
    # Given the end user's link for the crm requirement
    old = link_requirement(world)
    now = utcnow()
    # When the link is replaced by a new link for the same requirement, with a new secret
    new = links.put_link(
        old.model_copy(update={"id": new_id("link"), "linked_at": now, "status_changed_at": now}),
        {"api_key": "replacement-SECRET-key"},
        replacing=old,
    )

    # Then the item is the new link at the next revision, with the new secret sealed for it
    assert links.get_link(world.app_id, END_USER, "crm") == new
    assert new.revision == old.revision + 1
    assert link_secrets.open_values(new) == {"api_key": "replacement-SECRET-key"}
    # And the old link's sealed secret, copied onto the new link's record, does not open there
    with pytest.raises(SwitchboardError) as refused:
        link_secrets.open_values(new.model_copy(update={"sealed_secret": old.sealed_secret}))
    assert refused.value.error_code == "invalid_secret"


def test_set_link_status_is_conditional_on_the_revision(scene: Scene):
    from switchboard.domain.errors import Conflict

    # Given the end user's crm link at its current revision
    # When the status is changed from the current revision
    changed = links.set_link_status(scene.link, LinkStatus.unauthorized, "upstream 401", utcnow())

    # Then it is stored with the reason and the next revision; a change from the stale one is a conflict
    assert changed.status is LinkStatus.unauthorized
    assert changed.status_reason == "upstream 401"
    assert changed.revision == scene.link.revision + 1
    assert links.get_link(scene.world.app_id, END_USER, "crm") == changed
    with pytest.raises(Conflict):
        links.set_link_status(scene.link, LinkStatus.active, None, utcnow())
    restored = links.set_link_status(changed, LinkStatus.active, None, utcnow())
    assert restored.status_reason is None


def _recorded_version(connection_id: str) -> str | None:
    from switchboard.store import connections

    connection = connections.get_connection(connection_id)
    assert connection is not None
    return connection.secret_version


# ---------------------------------------------------------------- links made before sealed secrets


def links_request(world: World, run: Run, user_id: str = END_USER) -> dict[str, Any]:
    """The run's request for the user's ``crm`` link only."""
    return {
        "run_id": run.id,
        "app_id": world.app_id,
        "user_id": user_id,
        "connection_ids": [],
        "requirement_ids": ["crm"],
    }


def legacy_link(world: World, key: str = USER_KEY) -> Link:
    """A link as stored before sealed secrets: its secret in Secrets Manager, named on its item."""
    link = link_requirement(world, key="replaced-by-the-legacy-SECRET")
    name = links.link_secret_name(world.app_id, link.id)
    version = secrets.create_secret(name, {"api_key": key}, {"switchboard:app": world.app_id})
    links.links_table().write(
        update_op(
            links.links_table().name,
            keys.link(world.app_id, END_USER, "crm"),
            "SET secret_name = :name, secret_version = :version REMOVE sealed_secret",
            "attribute_exists(pk)",
            {":name": name, ":version": version},
        )
    )
    stored = links.get_link(world.app_id, END_USER, "crm")
    assert stored is not None
    assert (stored.sealed_secret, stored.secret_name) == (None, name)
    return stored


def test_a_link_made_before_sealed_secrets_resolves_from_its_old_secret(world: World, aws_calls):
    # Given a run and a link whose secret is still in Secrets Manager (no sealed secret on its item)
    run = write_run(world)
    legacy_link(world)
    aws_calls.clear()

    # When the run's credentials are resolved
    answer = invoke(links_request(world, run))

    # Then the link's value comes from its Secrets Manager secret, without any KMS call
    assert answer["credentials"]["requirement:crm"]["config"]["api_key"] == USER_KEY
    assert aws_calls["secretsmanager.BatchGetSecretValue"] == 1
    assert aws_calls["kms.Decrypt"] == 0


def test_relinking_a_link_made_before_sealed_secrets_seals_it_and_deletes_the_old_secret(world: World):
    # Given a link whose secret is still in Secrets Manager, and a run
    old = legacy_link(world)
    run = write_run(world)

    # When the user links again (a new link replacing it)
    now = utcnow()
    new = links.put_link(
        old.model_copy(update={"id": new_id("link"), "linked_at": now, "status_changed_at": now}),
        {"api_key": "relinked-SECRET-key"},
        replacing=old,
    )

    # Then the new secret is sealed in the item, the old secret is scheduled for deletion, and runs resolve
    # the new value
    assert new.secret_name is None
    assert link_secrets.open_values(new) == {"api_key": "relinked-SECRET-key"}
    assert "DeletedDate" in aws.secrets().describe_secret(SecretId=str(old.secret_name))
    answer = invoke(links_request(world, run))
    assert answer["credentials"]["requirement:crm"]["config"]["api_key"] == "relinked-SECRET-key"


def test_revoking_a_link_made_before_sealed_secrets_deletes_its_old_secret(world: World):
    # Given a link whose secret is still in Secrets Manager
    old = legacy_link(world)

    # When it is revoked
    app = apps.get_app(world.app_id)
    assert app is not None
    revoked = links_runtime.revoke_link(app, old, "test")

    # Then it is revoked and its secret is scheduled for deletion
    assert revoked.status is LinkStatus.revoked
    assert "DeletedDate" in aws.secrets().describe_secret(SecretId=str(old.secret_name))


def test_a_sealed_secret_copied_to_another_users_link_does_not_resolve(world: World):
    # Given two users' links, and a run of the second user
    mine = link_requirement(world)
    theirs = link_requirement(world, user_id="end-user-2", key="other-SECRET-key")
    run = write_run(world, user_id="end-user-2")

    # When the first user's sealed secret is copied into the second user's item
    links.links_table().write(
        update_op(
            links.links_table().name,
            keys.link(world.app_id, "end-user-2", "crm"),
            "SET sealed_secret = :sealed",
            "attribute_exists(pk)",
            {":sealed": mine.sealed_secret},
        )
    )
    # And the second user's run asks for its credentials
    with pytest.raises(SwitchboardError) as refused:
        invoke(links_request(world, run, "end-user-2"))

    # Then the run gets no credential (the ciphertext is bound to the first user's record), and the error
    # names the link, never a value
    assert (refused.value.error_code, refused.value.details) == ("invalid_secret", theirs.id)
    assert USER_KEY not in str(refused.value)
