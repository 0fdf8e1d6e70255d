"""Triggers through the management API on moto: schedule and webhook triggers created, read, changed and
deleted; their EventBridge Scheduler schedules kept in step; validation and authorization; the events they
recorded."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from botocore.exceptions import ClientError

from switchboard import aws
from switchboard.domain.errors import Conflict
from switchboard.domain.ids import new_id
from switchboard.domain.triggers import TriggerEvent, TriggerEventStatus
from switchboard.runtime.identity.bootstrap import bootstrap_admin
from switchboard.runtime.triggers import schedules as trigger_schedules
from switchboard.settings import get_settings
from switchboard.store import trigger_events
from switchboard.store import triggers as trigger_store
from switchboard_cli.local.template import Template
from tests.integration.apps_runtime import new_app
from tests.integration.conftest import Reply, World
from tests.support.stack import SETTINGS_ENV

GROUP = SETTINGS_ENV["SCHEDULE_GROUP"]
TRIGGER_FUNCTION_ARN = SETTINGS_ENV["TRIGGER_FUNCTION_ARN"]
SCHEDULER_ROLE_ARN = SETTINGS_ENV["SCHEDULER_ROLE_ARN"]
TRIGGER_DLQ_ARN = SETTINGS_ENV["TRIGGER_DLQ_ARN"]
TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

WEEKDAYS = {"cron": "*/15 9-17 * * 1-5", "timezone": "Europe/Berlin"}


def _triggers(world: World, app_id: str | None = None) -> str:
    return f"/v1/apps/{app_id or world.app_id}/triggers"


def create(world: World, token: str | None = None, *, app_id: str | None = None, **body: Any) -> Reply:
    return world.call("POST", _triggers(world, app_id), token=token or world.admin.token, body=body)


def schedule_trigger(world: World, name: str = "weekday-digest", **extra: Any) -> dict[str, Any]:
    reply = create(world, name=name, type="schedule", config=extra.pop("config", WEEKDAYS), **extra)
    assert reply.status == 201, reply.body
    return reply.body["data"]  # type: ignore[no-any-return]


def webhook_trigger(world: World, name: str = "crm-updates", **extra: Any) -> dict[str, Any]:
    reply = create(world, name=name, type="webhook", **extra)
    assert reply.status == 201, reply.body
    return reply.body["data"]  # type: ignore[no-any-return]


def schedule(trigger_id: str) -> dict[str, Any]:
    found: dict[str, Any] = aws.client("scheduler").get_schedule(Name=trigger_id, GroupName=GROUP)
    return found


def schedules() -> list[str]:
    listed = aws.client("scheduler").list_schedules(GroupName=GROUP)["Schedules"]
    return sorted(str(item["Name"]) for item in listed)


def trigger_secret_names() -> list[str]:
    """Secrets Manager secrets of any trigger (webhook secrets were kept there once; none should be)."""
    return [str(s["Name"]) for s in aws.secrets().list_secrets()["SecretList"] if "/triggers/" in s["Name"]]


def later(**delta: float) -> datetime:
    return (datetime.now(UTC) + timedelta(**delta)).replace(microsecond=0)


def test_the_test_environment_targets_what_the_template_gives_the_management_function() -> None:
    # Given the template the local stack runs
    # When the management function's environment is resolved from it, as the local stack resolves it
    template = Template.from_file(TEMPLATE)
    variables = template.resolve(template.resources["ManagementFunction"]["Properties"]["Environment"])
    names = ("SCHEDULE_GROUP", "TRIGGER_FUNCTION_ARN", "SCHEDULER_ROLE_ARN", "TRIGGER_DLQ_ARN")

    # Then the values these tests check schedules against are those
    assert {name: variables["Variables"][name] for name in names} == {
        name: SETTINGS_ENV[name] for name in names
    }


# ---------------------------------------------------------------- schedule triggers


def test_creating_a_schedule_trigger_creates_its_schedule(world: World) -> None:
    # Given the world's App, and its admin as the editor
    # When an editor creates a cron trigger with static input, a transformer and an end user
    reply = create(
        world,
        name="weekday-digest",
        type="schedule",
        config=WEEKDAYS,
        input={"question": "What happened?"},
        input_transformer="{fired_at: scheduled_time}",
        user_id="user-1",
    )

    # Then it is created as given, with no webhook URL and no secret
    assert reply.status == 201, reply.body
    trigger = reply.body["data"]
    assert trigger["id"].startswith("trg-")
    assert {key: trigger[key] for key in trigger if key not in ("id", "created_at", "updated_at")} == {
        "app_id": world.app_id,
        "name": "weekday-digest",
        "type": "schedule",
        "config": {"cron": "*/15 9-17 * * 1-5", "timezone": "Europe/Berlin"},
        "input": {"question": "What happened?"},
        "input_transformer": "{fired_at: scheduled_time}",
        "user_id": "user-1",
        "enabled": True,
        "webhook_url": None,
        "signing_secret": None,
        "created_by": world.admin.user_id,
        "updated_by": world.admin.user_id,
    }

    # And its schedule, named after it in the stack's group, fires the trigger function in Berlin time on
    # Scheduler's form of the cron, with retries and a dead-letter queue
    created = schedule(trigger["id"])
    assert created["GroupName"] == GROUP
    assert created["ScheduleExpression"] == "cron(0/15 9-17 ? * MON-FRI *)"
    assert created["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert created["State"] == "ENABLED"
    assert created["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert "StartDate" not in created
    assert "EndDate" not in created
    target = created["Target"]
    assert target["Arn"] == TRIGGER_FUNCTION_ARN
    assert target["RoleArn"] == SCHEDULER_ROLE_ARN
    assert json.loads(target["Input"]) == {
        "trigger_id": trigger["id"],
        "scheduled_time": "<aws.scheduler.scheduled-time>",
        "execution_id": "<aws.scheduler.execution-id>",
    }
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
    assert target["DeadLetterConfig"] == {"Arn": TRIGGER_DLQ_ARN}


def test_a_rate_trigger_in_a_window_sends_its_start_and_end(world: World) -> None:
    # Given a window that starts tomorrow and ends in a month
    starts_at, ends_at = later(days=1), later(days=30)

    # When a rate trigger is created with it, disabled
    trigger = schedule_trigger(
        world,
        name="every-five",
        config={"rate": "5 minutes", "starts_at": starts_at.isoformat(), "ends_at": ends_at.isoformat()},
        enabled=False,
    )

    # Then the schedule has Scheduler's rate, the window, and is disabled
    created = schedule(trigger["id"])
    assert created["ScheduleExpression"] == "rate(5 minutes)"
    assert created["ScheduleExpressionTimezone"] == "UTC"
    assert created["StartDate"] == starts_at
    assert created["EndDate"] == ends_at
    assert created["State"] == "DISABLED"
    assert trigger["enabled"] is False
    assert trigger["config"]["starts_at"] == starts_at.isoformat().replace("+00:00", "Z")


def test_a_one_time_trigger_is_an_at_schedule_on_the_wall_clock_of_its_time_zone(world: World) -> None:
    # Given a moment next week, written in UTC
    run_at = later(days=7)

    # When a one-time trigger in New York is created for it
    trigger = schedule_trigger(
        world, name="once", config={"run_at": run_at.isoformat(), "timezone": "America/New_York"}
    )

    # Then the schedule is at() that moment on New York's clock
    local = run_at.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%dT%H:%M:%S")
    created = schedule(trigger["id"])
    assert created["ScheduleExpression"] == f"at({local})"
    assert created["ScheduleExpressionTimezone"] == "America/New_York"


def test_changing_disabling_and_enabling_a_trigger_updates_its_schedule(world: World) -> None:
    # Given a cron trigger and a second member who edits it
    trigger = schedule_trigger(world)
    path = f"{_triggers(world)}/{trigger['id']}"
    editor = world.token_for("editor@example.com", project_role="editor")

    # When its config changes
    changed = world.call(
        "PATCH", path, token=editor, body={"config": {"cron": "0 8 * * *", "timezone": "Asia/Tokyo"}}
    )

    # Then the record and the schedule have the new expression and time zone, with who changed it
    assert changed.status == 200, changed.body
    assert changed.body["data"]["config"] == {"cron": "0 8 * * *", "timezone": "Asia/Tokyo"}
    assert changed.body["data"]["updated_by"] != world.admin.user_id
    assert changed.body["data"]["created_by"] == world.admin.user_id
    updated = schedule(trigger["id"])
    assert updated["ScheduleExpression"] == "cron(0 8 * * ? *)"
    assert updated["ScheduleExpressionTimezone"] == "Asia/Tokyo"
    assert updated["State"] == "ENABLED"
    assert updated["Target"]["Arn"] == TRIGGER_FUNCTION_ARN
    assert updated["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3600}
    assert updated["Target"]["DeadLetterConfig"] == {"Arn": TRIGGER_DLQ_ARN}

    # When it is disabled / Then its schedule is disabled, with the same expression
    disabled = world.call("PATCH", path, token=editor, body={"enabled": False})
    assert disabled.status == 200, disabled.body
    assert disabled.body["data"]["enabled"] is False
    assert schedule(trigger["id"])["State"] == "DISABLED"
    assert schedule(trigger["id"])["ScheduleExpression"] == "cron(0 8 * * ? *)"

    # When it is enabled again / Then so is its schedule
    enabled = world.call("PATCH", path, token=editor, body={"enabled": True})
    assert enabled.status == 200, enabled.body
    assert schedule(trigger["id"])["State"] == "ENABLED"

    # And a GET shows the last state
    got = world.call("GET", path, token=world.admin.token)
    assert got.status == 200
    assert got.body["data"] == enabled.body["data"]


def test_changing_input_leaves_the_schedule_alone_and_null_removes_a_field(world: World) -> None:
    # Given a trigger with input, a transformer and a user
    trigger = schedule_trigger(world, input={"question": "a"}, input_transformer="@", user_id="user-1")
    path = f"{_triggers(world)}/{trigger['id']}"
    before = schedule(trigger["id"])

    # When its input changes, its transformer is removed and enabled is sent as null
    reply = world.call(
        "PATCH",
        path,
        token=world.admin.token,
        body={"input": {"question": "b"}, "input_transformer": None, "enabled": None},
    )

    # Then the record changed as asked (null enabled is no change) and the schedule was not touched
    assert reply.status == 200, reply.body
    data = reply.body["data"]
    assert (data["input"], data["input_transformer"], data["user_id"], data["enabled"]) == (
        {"question": "b"},
        None,
        "user-1",
        True,
    )
    assert schedule(trigger["id"])["LastModificationDate"] == before["LastModificationDate"]


def test_deleting_a_schedule_trigger_deletes_its_schedule_and_frees_its_name(world: World) -> None:
    # Given a schedule trigger
    trigger = schedule_trigger(world)
    path = f"{_triggers(world)}/{trigger['id']}"

    # When it is deleted
    deleted = world.call("DELETE", path, token=world.admin.token)

    # Then it is gone with its schedule, and its name can be used again
    assert deleted.status == 204
    assert deleted.raw == ""
    gone = world.call("GET", path, token=world.admin.token)
    assert gone.status == 404
    assert gone.body["error"]["code"] == "not_found"
    with pytest.raises(ClientError) as missing:
        schedule(trigger["id"])
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert schedules() == []
    assert schedule_trigger(world)["name"] == trigger["name"]


def test_a_trigger_is_deleted_even_when_its_schedule_went_missing(world: World) -> None:
    # Given a schedule trigger whose schedule someone deleted behind Switchboard's back
    trigger = schedule_trigger(world)
    aws.client("scheduler").delete_schedule(Name=trigger["id"], GroupName=GROUP)
    path = f"{_triggers(world)}/{trigger['id']}"

    # When it is disabled / Then its schedule is created again, disabled
    assert world.call("PATCH", path, token=world.admin.token, body={"enabled": False}).status == 200
    assert schedule(trigger["id"])["State"] == "DISABLED"

    # When it is deleted twice over (schedule first, then the record) / Then deleting succeeds
    aws.client("scheduler").delete_schedule(Name=trigger["id"], GroupName=GROUP)
    assert world.call("DELETE", path, token=world.admin.token).status == 204


class _FailingScheduler:
    def __getattr__(self, operation: str) -> Any:
        def fail(**_: Any) -> None:
            raise ClientError({"Error": {"Code": "InternalServerException", "Message": "boom"}}, operation)

        return fail


def test_when_scheduler_fails_nothing_is_created_and_the_answer_is_503(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Scheduler failing
    with monkeypatch.context() as patch:
        patch.setattr(trigger_schedules, "_scheduler", _FailingScheduler)

        # When a schedule trigger is created
        reply = create(world, name="weekday-digest", type="schedule", config=WEEKDAYS)

    # Then 503, and neither the trigger nor its name claim stayed
    assert reply.status == 503, reply.body
    assert reply.body["error"]["code"] == "service_unavailable"
    listed = world.call("GET", _triggers(world), token=world.admin.token)
    assert listed.body == {"data": [], "next_token": None}
    assert schedule_trigger(world)["name"] == "weekday-digest"


def test_when_scheduler_fails_a_change_is_not_recorded(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a trigger, then Scheduler failing
    trigger = schedule_trigger(world)
    path = f"{_triggers(world)}/{trigger['id']}"
    with monkeypatch.context() as patch:
        patch.setattr(trigger_schedules, "_scheduler", _FailingScheduler)

        # When it is disabled / Then 503, and it is still enabled
        reply = world.call("PATCH", path, token=world.admin.token, body={"enabled": False})
    assert reply.status == 503, reply.body
    assert world.call("GET", path, token=world.admin.token).body["data"]["enabled"] is True
    assert schedule(trigger["id"])["State"] == "ENABLED"


def test_a_change_that_loses_a_race_leaves_the_schedule_as_the_record_says(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a trigger, and a record write that loses to a concurrent change
    trigger = schedule_trigger(world)
    path = f"{_triggers(world)}/{trigger['id']}"

    def lost(*_: Any, **__: Any) -> None:
        raise Conflict("the trigger was changed concurrently; reload and retry")

    with monkeypatch.context() as patch:
        patch.setattr(trigger_store, "update_trigger", lost)

        # When it is disabled
        reply = world.call("PATCH", path, token=world.admin.token, body={"enabled": False})

    # Then 409, and the schedule (disabled first) is enabled again, as the record still says
    assert reply.status == 409, reply.body
    assert reply.body["error"]["code"] == "conflict"
    assert world.call("GET", path, token=world.admin.token).body["data"]["enabled"] is True
    assert schedule(trigger["id"])["State"] == "ENABLED"


# ---------------------------------------------------------------- webhook triggers


def test_creating_a_webhook_trigger_shows_its_url_and_signing_secret_once(world: World) -> None:
    # Given the world's App
    # When a webhook trigger is created
    reply = create(world, name="crm-updates", type="webhook", input_transformer="{question: data.summary}")

    # Then the answer has the URL on the App's host and a Standard Webhooks secret, and no schedule exists
    assert reply.status == 201, reply.body
    created = reply.body["data"]
    trigger_id = created["id"]
    secret = created["signing_secret"]
    assert secret.startswith("whsec_")
    assert (
        created["webhook_url"] == f"https://{world.app_id}.apps.example.test/v1/triggers/{trigger_id}/events"
    )
    assert created["config"] == {}
    assert schedules() == []

    # And the secret is in the trigger's item, encrypted under the trigger secrets key for this trigger of
    # this App only (another trigger's context does not decrypt it), and not in Secrets Manager
    item = aws.dynamodb().get_item(
        TableName="ControlTable", Key={"pk": {"S": f"TRIGGER#{trigger_id}"}, "sk": {"S": "TRIGGER"}}
    )["Item"]
    ciphertext = base64.b64decode(item["encrypted_secret"]["S"])
    context = {"switchboard:app": world.app_id, "switchboard:trigger": trigger_id}
    key = SETTINGS_ENV["TRIGGER_SECRETS_KEY"]
    decrypted = aws.kms().decrypt(CiphertextBlob=ciphertext, KeyId=key, EncryptionContext=context)
    assert decrypted["Plaintext"].decode() == secret
    elsewhere = {**context, "switchboard:trigger": "trg-x"}
    with pytest.raises(ClientError, match="InvalidCiphertext"):
        aws.kms().decrypt(CiphertextBlob=ciphertext, KeyId=key, EncryptionContext=elsewhere)
    assert trigger_secret_names() == []

    # And reading the trigger again never shows it
    got = world.call("GET", f"{_triggers(world)}/{trigger_id}", token=world.admin.token)
    listed = world.call("GET", _triggers(world), token=world.admin.token)
    assert got.status == 200
    assert "signing_secret" not in got.body["data"]
    assert got.body["data"]["webhook_url"] == created["webhook_url"]
    assert secret not in got.raw + listed.raw
    assert {key: value for key, value in created.items() if key != "signing_secret"} == got.body["data"]

    # And no table holds it
    items = aws.dynamodb().scan(TableName="ControlTable")["Items"]
    assert secret not in json.dumps(items)


def test_without_an_apps_domain_the_webhook_url_is_under_the_apps_path(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a stack without an Apps domain
    monkeypatch.setenv("APPS_DOMAIN", "")
    get_settings.cache_clear()

    # When a webhook trigger is created / Then its URL is on the Apps API under /apps/{app_id}
    created = webhook_trigger(world)
    expected = f"https://apps-api.example.test/apps/{world.app_id}/v1/triggers/{created['id']}/events"
    assert created["webhook_url"] == expected


def test_deleting_a_webhook_trigger_deletes_its_encrypted_secret_with_its_item(world: World) -> None:
    # Given a webhook trigger, its encrypted secret in its item
    created = webhook_trigger(world)
    key = {"pk": {"S": f"TRIGGER#{created['id']}"}, "sk": {"S": "TRIGGER"}}
    assert "encrypted_secret" in aws.dynamodb().get_item(TableName="ControlTable", Key=key)["Item"]

    # When it is deleted / Then the item is gone, and with it the only copy of the secret
    assert world.call("DELETE", f"{_triggers(world)}/{created['id']}", token=world.admin.token).status == 204
    assert "Item" not in aws.dynamodb().get_item(TableName="ControlTable", Key=key)
    assert trigger_secret_names() == []


def test_a_webhook_trigger_can_be_disabled_and_takes_no_config(world: World) -> None:
    # Given a webhook trigger
    created = webhook_trigger(world)
    path = f"{_triggers(world)}/{created['id']}"

    # When it is disabled / Then it is, with no schedule anywhere
    disabled = world.call("PATCH", path, token=world.admin.token, body={"enabled": False})
    assert disabled.status == 200, disabled.body
    assert disabled.body["data"]["enabled"] is False
    assert schedules() == []

    # When it is given a config / Then 422
    refused = world.call("PATCH", path, token=world.admin.token, body={"config": {"cron": "0 8 * * *"}})
    assert refused.status == 422
    assert refused.body["error"]["details"][0]["code"] == "webhook_config"


# ---------------------------------------------------------------- names, listing, App deletion


def test_names_are_unique_per_app(world: World) -> None:
    # Given a trigger named crm-updates
    webhook_trigger(world, name="crm-updates")

    # When another trigger of the same App takes the name / Then 409 name_taken
    taken = create(world, name="crm-updates", type="schedule", config=WEEKDAYS)
    assert taken.status == 409, taken.body
    assert taken.body["error"]["code"] == "name_taken"
    assert schedules() == []

    # When a trigger of another App takes it / Then that is fine
    elsewhere = create(world, app_id=new_app(world), name="crm-updates", type="webhook")
    assert elsewhere.status == 201, elsewhere.body


def test_name_and_type_cannot_change(world: World) -> None:
    # Given a schedule trigger
    trigger = schedule_trigger(world)
    path = f"{_triggers(world)}/{trigger['id']}"

    # When it is renamed / Then 400 name_immutable
    renamed = world.call("PATCH", path, token=world.admin.token, body={"name": "another"})
    assert renamed.status == 400
    assert renamed.body["error"]["code"] == "name_immutable"

    # When its type changes / Then 400 type_immutable
    retyped = world.call("PATCH", path, token=world.admin.token, body={"type": "webhook"})
    assert retyped.status == 400
    assert retyped.body["error"]["code"] == "type_immutable"

    # When the current name is sent along with a change / Then that is accepted
    same = world.call(
        "PATCH", path, token=world.admin.token, body={"name": trigger["name"], "enabled": False}
    )
    assert same.status == 200, same.body
    assert same.body["data"]["name"] == trigger["name"]


def test_listing_is_by_name_and_pages(world: World) -> None:
    # Given three triggers
    for name in ("charlie", "alpha", "bravo"):
        webhook_trigger(world, name=name)

    # When they are listed two at a time
    first = world.call("GET", _triggers(world), token=world.admin.token, query={"limit": "2"})
    second = world.call(
        "GET",
        _triggers(world),
        token=world.admin.token,
        query={"limit": "2", "next_token": first.body["next_token"]},
    )

    # Then they come by name, without secrets
    assert [t["name"] for t in first.body["data"]] == ["alpha", "bravo"]
    assert [t["name"] for t in second.body["data"]] == ["charlie"]
    assert second.body["next_token"] is None
    assert all("signing_secret" not in t for t in first.body["data"] + second.body["data"])


def test_a_trigger_of_another_app_is_not_found_under_this_one(world: World) -> None:
    # Given a trigger of another App of the same project
    other = webhook_trigger(world, name="x", app_id=new_app(world))

    # When it is addressed under this App / Then it does not exist there
    for method, body in (("GET", None), ("PATCH", {"enabled": False}), ("DELETE", None)):
        reply = world.call(method, f"{_triggers(world)}/{other['id']}", token=world.admin.token, body=body)
        assert reply.status == 404, (method, reply.body)


def test_deleting_an_app_deletes_its_triggers_schedules_and_secrets(world: World) -> None:
    # Given an App with a schedule trigger and a webhook trigger
    scheduled = schedule_trigger(world)
    hooked = webhook_trigger(world)

    # When the App is deleted
    deleted = world.call("DELETE", f"/v1/apps/{world.app_id}", token=world.admin.token)

    # Then the schedule is gone and no trigger item (a webhook's encrypted secret with it) remains
    assert deleted.status == 204, deleted.body
    assert schedules() == []
    assert trigger_secret_names() == []
    items = json.dumps(aws.dynamodb().scan(TableName="ControlTable")["Items"])
    assert scheduled["id"] not in items
    assert hooked["id"] not in items
    assert "TRIGGERNAME#" not in items


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("body", "loc", "code"),
    [
        (
            {"name": "t", "type": "schedule", "config": {"cron": "0 9 1 * 1"}},
            ["config", "cron"],
            "invalid_cron",
        ),
        (
            {"name": "t", "type": "schedule", "config": {"cron": "61 * * * *"}},
            ["config", "cron"],
            "invalid_cron",
        ),
        (
            {"name": "t", "type": "schedule", "config": {"cron": "0 9 * * *", "timezone": "Mars/Olympus"}},
            ["config", "timezone"],
            "unknown_timezone",
        ),
        (
            {"name": "t", "type": "schedule", "config": {"run_at": "2020-01-01T00:00:00Z"}},
            ["config", "run_at"],
            "run_at_in_past",
        ),
        (
            {
                "name": "t",
                "type": "schedule",
                "config": {"run_at": "2999-01-01T00:00:00Z", "ends_at": "2999-02-01T00:00:00Z"},
            },
            ["config", "ends_at"],
            "one_time_window",
        ),
        ({"name": "t", "type": "schedule", "config": {}}, ["config"], "schedule_kind"),
        (
            {"name": "t", "type": "schedule", "config": {"rate": "5 minute"}},
            ["config", "rate"],
            "invalid_rate",
        ),
        (
            {"name": "t", "type": "webhook", "input_transformer": "data.[summary"},
            ["input_transformer"],
            "invalid_jmespath",
        ),
        ({"name": "t", "type": "webhook", "config": {"cron": "0 9 * * *"}}, ["config"], "webhook_config"),
        ({"name": "t", "type": "webhook", "input": {"text": "x" * 100_001}}, ["input"], "input_too_large"),
        ({"name": "Not A Slug", "type": "webhook"}, ["name"], "string_pattern_mismatch"),
        ({"name": "t", "type": "email"}, ["type"], "enum"),
        ({"name": "t", "type": "webhook", "schedule_name": "x"}, ["schedule_name"], "extra_forbidden"),
    ],
)
def test_invalid_triggers_are_422_naming_the_problem_and_create_nothing(
    world: World, body: dict[str, Any], loc: list[str], code: str
) -> None:
    # Given a trigger body with one problem: a bad schedule, a bad transformer, a webhook with config, a
    # too large input, a bad name, an unknown type or an unknown field
    # When an invalid trigger is submitted
    reply = world.call("POST", _triggers(world), token=world.admin.token, body=body)

    # Then 422 names the field and the problem, and nothing was created
    assert reply.status == 422, reply.body
    assert reply.body["error"]["code"] == "validation_failed"
    assert {"loc": loc, "code": code} in [
        {"loc": detail["loc"], "code": detail["code"]} for detail in reply.body["error"]["details"]
    ]
    assert world.call("GET", _triggers(world), token=world.admin.token).body["data"] == []
    assert schedules() == []


def test_an_invalid_change_is_422_and_changes_nothing(world: World) -> None:
    # Given a schedule trigger
    trigger = schedule_trigger(world, input_transformer="@")
    path = f"{_triggers(world)}/{trigger['id']}"

    for body, loc in (
        ({"config": {"cron": "0 9 1 * 1"}}, ["config", "cron"]),
        ({"config": {"run_at": "2020-01-01T00:00:00Z"}}, ["config", "run_at"]),
        ({"input_transformer": "a.["}, ["input_transformer"]),
    ):
        # When the change is submitted / Then 422, and the trigger and its schedule are as they were
        reply = world.call("PATCH", path, token=world.admin.token, body=body)
        assert reply.status == 422, (body, reply.body)
        assert reply.body["error"]["details"][0]["loc"] == loc
    current = world.call("GET", path, token=world.admin.token).body["data"]
    assert {key: value for key, value in trigger.items() if key != "signing_secret"} == current
    assert schedule(trigger["id"])["ScheduleExpression"] == "cron(0/15 9-17 ? * MON-FRI *)"


# ---------------------------------------------------------------- authorization


@pytest.fixture
def trigger_id(world: World) -> str:
    return str(schedule_trigger(world)["id"])


def _trigger_routes(world: World, trigger_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    base = _triggers(world)
    return [
        ("POST", base, {"name": "another", "type": "webhook"}),
        ("GET", base, None),
        ("GET", f"{base}/{trigger_id}", None),
        ("PATCH", f"{base}/{trigger_id}", {"enabled": False}),
        ("DELETE", f"{base}/{trigger_id}", None),
        ("GET", f"{base}/{trigger_id}/events", None),
        ("GET", f"{base}/{trigger_id}/events/tev-aaaaaaaaaaaaaaaaaaaa", None),
    ]


def test_an_access_key_is_the_wrong_kind_of_token(world: World, trigger_id: str) -> None:
    # Given an access key of the org
    key = world.builder.access_key().token

    for method, path, body in _trigger_routes(world, trigger_id):
        # When it calls a trigger route / Then 403 wrong_token_type
        reply = world.call(method, path, token=key, body=body)
        assert reply.status == 403, (method, path)
        assert reply.body["error"]["code"] == "wrong_token_type"


def test_another_org_sees_nothing(world: World, trigger_id: str) -> None:
    # Given a schedule trigger of the App, and an admin of another org
    stranger = bootstrap_admin("stranger@example.org", "Elsewhere")
    for method, path, body in _trigger_routes(world, trigger_id):
        # When an admin of another org calls a trigger route / Then 404, as if nothing existed
        reply = world.call(method, path, token=stranger.token, body=body)
        assert reply.status == 404, (method, path, reply.body)
    # And the trigger's schedule is still enabled
    assert schedule(trigger_id)["State"] == "ENABLED"


def test_members_of_another_project_see_nothing(world: World, trigger_id: str) -> None:
    # Given an org member who is an editor of another project only
    other = world.call(
        "POST", "/v1/projects", token=world.admin.token, body={"org_id": world.org_id, "name": "Other"}
    ).body["data"]["id"]
    token = world.token_for("elsewhere@example.com")
    world.call(
        "POST",
        f"/v1/projects/{other}/members",
        token=world.admin.token,
        body={"email": "elsewhere@example.com", "role": "editor"},
    )

    for method, path, body in _trigger_routes(world, trigger_id):
        # When they call a trigger route of this project's App / Then it is invisible to them
        reply = world.call(method, path, token=token, body=body)
        assert reply.status == 404, (method, path, reply.body)


def test_viewers_read_but_cannot_write(world: World, trigger_id: str) -> None:
    # Given a viewer of the project
    viewer = world.token_for("viewer@example.com", project_role="viewer")

    for method, path, body in _trigger_routes(world, trigger_id):
        reply = world.call(method, path, token=viewer, body=body)
        if method == "GET":
            # When they read / Then they may (an unknown event is simply not found)
            assert reply.status == (404 if "/events/" in path else 200), (method, path, reply.body)
        else:
            # When they write / Then 403: their role is too low
            assert reply.status == 403, (method, path, reply.body)
            assert reply.body["error"]["code"] == "forbidden"
    assert schedule(trigger_id)["State"] == "ENABLED"
    assert len(world.call("GET", _triggers(world), token=viewer).body["data"]) == 1


# ---------------------------------------------------------------- events


def _event(trigger_id: str, app_id: str, received_at: datetime, **fields: Any) -> TriggerEvent:
    event = TriggerEvent(
        id=new_id("trigger_event"),
        trigger_id=trigger_id,
        app_id=app_id,
        received_at=received_at,
        firing_key=f"schedule:{received_at.isoformat()}",
        **{"status": TriggerEventStatus.accepted, **fields},
    )
    trigger_events.record_event(event, int((received_at + timedelta(days=30)).timestamp()))
    return event


def test_events_are_listed_newest_first_and_read_with_their_payload(world: World, trigger_id: str) -> None:
    # Given three recorded events of the trigger
    start = datetime.now(UTC).replace(microsecond=0)
    accepted = _event(trigger_id, world.app_id, start, run_id="run-aaaaaaaaaaaaaaaaaaaa", payload={"n": 1})
    rejected = _event(
        trigger_id,
        world.app_id,
        start + timedelta(minutes=1),
        status=TriggerEventStatus.rejected,
        reason="requirement 'crm' is not linked",
        payload={"n": 2},
    )
    skipped = _event(
        trigger_id, world.app_id, start + timedelta(minutes=2), status=TriggerEventStatus.skipped
    )
    base = f"{_triggers(world)}/{trigger_id}/events"

    # When they are listed two at a time
    first = world.call("GET", base, token=world.admin.token, query={"limit": "2"})
    second = world.call(
        "GET", base, token=world.admin.token, query={"limit": "2", "next_token": first.body["next_token"]}
    )

    # Then they come newest first, without payloads
    assert first.status == 200, first.body
    assert [e["id"] for e in first.body["data"] + second.body["data"]] == [
        skipped.id,
        rejected.id,
        accepted.id,
    ]
    assert first.body["data"][1] == {
        "id": rejected.id,
        "trigger_id": trigger_id,
        "received_at": (start + timedelta(minutes=1)).isoformat().replace("+00:00", "Z"),
        "status": "rejected",
        "reason": "requirement 'crm' is not linked",
        "run_id": None,
    }
    assert all("payload" not in e for e in first.body["data"])

    # When one is read / Then it has its raw payload and the run it started
    one = world.call("GET", f"{base}/{accepted.id}", token=world.admin.token)
    assert one.status == 200, one.body
    assert one.body["data"]["payload"] == {"n": 1}
    assert one.body["data"]["run_id"] == "run-aaaaaaaaaaaaaaaaaaaa"
    assert one.body["data"]["status"] == "accepted"

    # When an unknown event is read / Then 404
    unknown = world.call("GET", f"{base}/tev-aaaaaaaaaaaaaaaaaaaa", token=world.admin.token)
    assert unknown.status == 404
    assert unknown.body["error"]["code"] == "not_found"
