"""The `switchboard` command: arguments, and `admin bootstrap` against a (moto) deployed stack."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from switchboard import aws
from switchboard import invoker as seam
from switchboard.settings import get_settings
from switchboard_cli import admin
from switchboard_cli.local import server
from switchboard_cli.local.aws_backend import table_definition
from switchboard_cli.local.stack import LocalStack
from switchboard_cli.local.template import Template
from switchboard_cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[2]

STACK = "switchboard-test"
PHYSICAL = {logical: f"{STACK}-{logical}-1A2B3C" for logical in admin.STACK_TABLES.values()}


def stubbed_cloudformation(stack_name: str = STACK) -> Any:
    """A CloudFormation client answering for a deployed stack (moto's needs extras this project lacks)."""
    client = boto3.client("cloudformation", region_name="eu-west-1")
    stubber = Stubber(client)
    for logical_id, physical_id in PHYSICAL.items():
        stubber.add_response(
            "describe_stack_resource",
            {
                "StackResourceDetail": {
                    "LogicalResourceId": logical_id,
                    "PhysicalResourceId": physical_id,
                    "ResourceType": "AWS::DynamoDB::Table",
                    "LastUpdatedTimestamp": datetime(2026, 1, 1, tzinfo=UTC),
                    "ResourceStatus": "CREATE_COMPLETE",
                }
            },
            {"StackName": stack_name, "LogicalResourceId": logical_id},
        )
    stubber.add_response(
        "describe_stacks",
        {
            "Stacks": [
                {
                    "StackName": stack_name,
                    "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
                    "StackStatus": "CREATE_COMPLETE",
                    "Parameters": [{"ParameterKey": "Stage", "ParameterValue": "prod"}],
                    "Outputs": [{"OutputKey": "SecretPrefix", "OutputValue": f"switchboard/{stack_name}/"}],
                }
            ]
        },
        {"StackName": stack_name},
    )
    stubber.activate()
    return client


@pytest.fixture
def deployed(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Every variable the command sets is registered first, so the test leaves the environment as it was.
    for name in (*admin.STACK_TABLES, "SECRET_PREFIX", "STAGE", "APPS_DOMAIN", "APPS_BASE_URL"):
        monkeypatch.setenv(name, "unset")
    for name in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.setenv(name, "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    template = Template.from_file(ROOT / "template.yaml")
    with mock_aws():
        aws.reset()
        for logical_id, physical_id in PHYSICAL.items():
            properties = template.resolve(template.resources[logical_id]["Properties"])
            boto3.client("dynamodb", region_name="eu-west-1").create_table(
                **table_definition(physical_id, properties)
            )
        yield
    aws.reset()
    get_settings.cache_clear()


def test_bootstrap_against_a_deployed_stack_uses_its_tables(deployed: None):
    # When an admin is bootstrapped against the stack
    result = admin.bootstrap_on_stack(
        STACK, "eu-west-1", "owner@example.com", "Acme", stubbed_cloudformation()
    )

    # Then the use case ran on the stack's physical tables with the stack's settings
    assert result.email == "owner@example.com"
    assert result.token.startswith("sb_pat_")
    settings = get_settings()
    assert settings.control_table == PHYSICAL["ControlTable"]
    assert settings.idempotency_table == PHYSICAL["IdempotencyTable"]
    assert settings.secret_prefix == f"switchboard/{STACK}/"
    assert settings.stage == "prod"
    control = boto3.client("dynamodb", region_name="eu-west-1").scan(TableName=PHYSICAL["ControlTable"])
    assert control["Count"] > 0


def test_bootstrapping_the_same_email_twice_is_a_clear_error(deployed: None):
    admin.bootstrap_on_stack(STACK, "eu-west-1", "a@b.c", "A", stubbed_cloudformation())
    with pytest.raises(admin.BootstrapError, match=r"a@b\.c already has an account"):
        admin.bootstrap_on_stack(STACK, "eu-west-1", "a@b.c", "A", stubbed_cloudformation())


def test_an_unknown_stack_is_a_clear_error():
    client = boto3.client("cloudformation", region_name="eu-west-1")
    stubber = Stubber(client)
    stubber.add_client_error(
        "describe_stack_resource", "ValidationError", "Stack with id nope does not exist"
    )
    stubber.activate()
    with pytest.raises(admin.BootstrapError, match=r"cannot read stack nope: .*does not exist"):
        admin.stack_environment(client, "nope")


def test_a_failed_bootstrap_exits_1_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    def refuse(*_: Any) -> admin.BootstrapResult:
        raise admin.BootstrapError("a@b.c already has an account: taken")

    monkeypatch.setattr(admin, "bootstrap_on_stack", refuse)
    assert main(["admin", "bootstrap", "--stack-name", "s", "--email", "a@b.c", "--org", "A"]) == 1
    assert "switchboard: a@b.c already has an account" in capsys.readouterr().err


def test_local_bootstrap_needs_a_readable_state_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    missing = tmp_path / "absent.json"
    code = main(
        [
            "admin",
            "bootstrap",
            "--local-url",
            "http://127.0.0.1:9",
            "--state-file",
            str(missing),
            "--email",
            "a@b.c",
            "--org",
            "A",
        ]
    )
    assert code == 1
    assert "cannot read the control token" in capsys.readouterr().err


def test_local_bootstrap_explains_an_unreachable_server(tmp_path: Path):
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"format": 1, "control_token": "t"}))
    with pytest.raises(admin.BootstrapError, match="is `switchboard local serve` running"):
        admin.bootstrap_on_local("http://127.0.0.1:9", state, "a@b.c", "A")


def test_arguments():
    parser = build_parser()
    serve = parser.parse_args(["local", "serve", "--port", "3001", "--state-file", "s.json"])
    assert (serve.port, serve.state_file, serve.host) == (3001, Path("s.json"), "127.0.0.1")
    assert serve.allow_loopback_egress is False
    assert serve.drain_seconds == 10.0
    assert parser.parse_args(["local", "serve", "--drain-seconds", "2.5"]).drain_seconds == 2.5
    assert parser.parse_args(["local", "serve", "--allow-loopback-egress"]).allow_loopback_egress
    assert parser.parse_args(["local", "serve", "--allow-loopback-callbacks"]).allow_loopback_egress
    with pytest.raises(SystemExit):
        parser.parse_args(["admin", "bootstrap", "--email", "a@b.c", "--org", "A"])
    with pytest.raises(SystemExit):
        main(["admin", "bootstrap", "--local-url", "http://127.0.0.1:3000", "--email", "a@b.c", "--org", "A"])


def test_human_output_shows_the_token_once():
    text = admin.render(admin.BootstrapResult("a@b.c", "usr_1", "org_1", "sb_pat_x"), as_json=False)
    assert text.count("sb_pat_x") == 1
    assert "shown only this once" in text


SWITCH_TEMPLATE = """
Resources:
  FirstFunction:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: report/, Handler: app.handler}
  SecondFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: report/
      Handler: app.handler
      Environment: {Variables: {OWN: "1"}}
"""

REPORT = """
    import os

    def handler(event, context):
        return f'{os.environ.get("ALLOW_LOOPBACK_EGRESS")},{os.environ.get("ALLOW_LOOPBACK_CALLBACKS")}'
"""


@pytest.fixture
def switch_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    (tmp_path / "template.yaml").write_text(SWITCH_TEMPLATE)
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "app.py").write_text(textwrap.dedent(REPORT))
    environ, path, invoker = dict(os.environ), list(sys.path), seam.get_invoker()
    yield tmp_path
    os.environ.clear()
    os.environ.update(environ)
    sys.path[:] = path
    seam.set_invoker(invoker)
    aws.reset()
    get_settings.cache_clear()


@pytest.mark.parametrize(
    ("flag", "expected"),
    [(["--allow-loopback-egress"], "true"), (["--allow-loopback-callbacks"], "true"), ([], "false")],
)
def test_the_loopback_egress_flag_reaches_every_function(
    switch_project: Path, monkeypatch: pytest.MonkeyPatch, flag: list[str], expected: str
):
    # Given a shell that already says "true" under both names (the flag alone decides)
    monkeypatch.setenv("ALLOW_LOOPBACK_EGRESS", "true")
    monkeypatch.setenv("ALLOW_LOOPBACK_CALLBACKS", "true")
    seen: dict[str, Any] = {}

    def bootstrap(email: str, org_name: str) -> Any:
        return SimpleNamespace(user_id="usr_1", org_id="org_1", token="sb_pat_x")

    def serve_and_ask(template_path: Path, state_path: Path, port: int, host: str, drain_s: float) -> int:
        stack = LocalStack(template_path, state_path, bootstrap, host)
        stack.start(port)
        try:
            seen.update({name: function.call({}) for name, function in stack.functions.items()})
        finally:
            stack.stop(drain_s)
        return 0

    monkeypatch.setattr(server, "serve", serve_and_ask)

    # When `switchboard local serve` starts the stack with or without the flag
    code = main(
        [
            "local",
            "serve",
            "--template",
            str(switch_project / "template.yaml"),
            "--state-file",
            str(switch_project / "state.json"),
            *flag,
        ]
    )

    # Then every function's environment holds the switch's value, under its name and its older one
    assert code == 0
    both = f"{expected},{expected}"
    assert seen == {"FirstFunction": both, "SecondFunction": both}
