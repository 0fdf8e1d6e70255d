"""The local stack reads template.yaml like CloudFormation: short tags, intrinsics, Globals, local values."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard_cli.local import environment
from switchboard_cli.local.aws_backend import table_definition
from switchboard_cli.local.functions import function_specs
from switchboard_cli.local.template import Template, TemplateError, load_template, references

ROOT = Path(__file__).resolve().parents[2]

TAGS = """
Parameters:
  Stage: {Type: String, Default: dev}
  Domain: {Type: String, Default: ""}
  Count: {Type: Number, Default: 3}
Conditions:
  HasDomain: !Not [!Equals [!Ref Domain, ""]]
  IsDev: !Equals [!Ref Stage, dev]
  Both: !And [!Condition HasDomain, !Condition IsDev]
Mappings:
  Sizes: {dev: {memory: 256}}
Resources:
  Table: {Type: AWS::DynamoDB::Table}
  Queue: {Type: AWS::SQS::Queue}
  Role: {Type: AWS::IAM::Role}
  Mapped:
    Type: AWS::ApiGatewayV2::ApiMapping
    Condition: HasDomain
  Values:
    Type: Custom::Values
    Properties:
      ref_param: !Ref Stage
      ref_number: !Ref Count
      ref_table: !Ref Table
      ref_queue: !Ref Queue
      sub_pseudo: !Sub >-
        ${AWS::StackName}/${AWS::Region}/${AWS::AccountId}/${AWS::Partition}/${AWS::URLSuffix}
      sub_attr: !Sub "${Table.Arn}/index/*"
      sub_escape: !Sub "${!Literal}-${Stage}"
      sub_vars: !Sub ["${Name}-${Stage}", {Name: !Ref Table}]
      getatt_short: !GetAtt Table.Arn
      getatt_list: !GetAtt [Role, Arn]
      join: !Join ["-", [a, !Ref Stage, c]]
      select: !Select [1, [x, y, z]]
      split: !Split [",", "a,b"]
      if_true: !If [IsDev, yes-dev, not-dev]
      if_novalue: !If [HasDomain, present, !Ref AWS::NoValue]
      list_novalue: [one, !If [HasDomain, two, !Ref AWS::NoValue]]
      find: !FindInMap [Sizes, !Ref Stage, memory]
      both: !Condition Both
      base64: !Base64 hi
      long_form: {"Fn::Sub": "x-${Stage}"}
"""


@pytest.fixture
def tagged(tmp_path: Path) -> Template:
    path = tmp_path / "template.yaml"
    path.write_text(TAGS)
    return Template.from_file(path)


def test_short_tags_become_long_forms(tmp_path: Path):
    # Given a template written with short tags
    path = tmp_path / "template.yaml"
    path.write_text(TAGS)

    # When it is loaded
    document = load_template(path)

    # Then every tag is the long form CloudFormation documents
    values = document["Resources"]["Values"]["Properties"]
    assert values["ref_param"] == {"Ref": "Stage"}
    assert values["getatt_short"] == {"Fn::GetAtt": ["Table", "Arn"]}
    assert values["getatt_list"] == {"Fn::GetAtt": ["Role", "Arn"]}
    assert values["sub_vars"] == {"Fn::Sub": ["${Name}-${Stage}", {"Name": {"Ref": "Table"}}]}
    assert values["both"] == {"Condition": "Both"}
    assert document["Conditions"]["HasDomain"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "Domain"}, ""]}]}


def test_intrinsics_resolve_to_local_values(tagged: Template):
    # When every intrinsic is evaluated
    values = tagged.resolve(tagged.resources["Values"]["Properties"])

    # Then refs are logical ids (a queue's is its URL), pseudo parameters describe the fake account
    assert values["ref_param"] == "dev"
    assert values["ref_number"] == "3"
    assert values["ref_table"] == "Table"
    assert values["ref_queue"] == "https://sqs.us-east-1.amazonaws.com/123456789012/Queue"
    assert values["sub_pseudo"] == "switchboard-local/us-east-1/123456789012/aws/amazonaws.com"
    assert values["sub_attr"] == "arn:aws:dynamodb:us-east-1:123456789012:table/Table/index/*"
    assert values["sub_escape"] == "${Literal}-dev"
    assert values["sub_vars"] == "Table-dev"
    assert values["getatt_short"] == "arn:aws:dynamodb:us-east-1:123456789012:table/Table"
    assert values["getatt_list"] == "arn:aws:iam::123456789012:role/Role"
    assert values["join"] == "a-dev-c"
    assert values["select"] == "y"
    assert values["split"] == ["a", "b"]
    assert values["if_true"] == "yes-dev"
    assert "if_novalue" not in values
    assert values["list_novalue"] == ["one"]
    assert values["find"] == 256
    assert values["both"] is False
    assert values["base64"] == "aGk="
    assert values["long_form"] == "x-dev"


def test_parameter_overrides_change_conditions_and_resources(tmp_path: Path):
    # Given a domain parameter override
    path = tmp_path / "template.yaml"
    path.write_text(TAGS)
    template = Template.from_file(path, {"Domain": "apps.localhost:3000"})

    # Then conditions and conditional resources follow it
    values = template.resolve(template.resources["Values"]["Properties"])
    assert values["if_novalue"] == "present"
    assert values["list_novalue"] == ["one", "two"]
    assert values["both"] is True
    assert "Mapped" in template.resources_of_type("AWS::ApiGatewayV2::ApiMapping")


def test_conditional_resources_are_absent_when_false(tagged: Template):
    assert tagged.resources_of_type("AWS::ApiGatewayV2::ApiMapping") == {}


def test_unsupported_intrinsic_is_a_clear_error(tagged: Template):
    with pytest.raises(TemplateError, match="Fn::ImportValue"):
        tagged.resolve({"Fn::ImportValue": "Elsewhere"})


def test_references_finds_refs_getatts_and_sub_variables():
    value = {
        "a": {"Ref": "One"},
        "b": [{"Fn::GetAtt": ["Two", "Arn"]}],
        "c": {"Fn::Sub": "${Three.Arn}-${AWS::Region}"},
    }
    assert references(value) == {"One", "Two", "Three"}


def test_function_environment_merges_globals_and_resolves_refs():
    # Given the project's template
    template = Template.from_file(ROOT / "template.yaml", {"AppsDomain": "apps.localhost:3000"})

    # When the management function is read
    management = function_specs(template)["ManagementFunction"]

    # Then it has Globals' variables resolved locally plus its own, and Globals' sizing
    assert management.environment["CONTROL_TABLE"] == "ControlTable"
    assert management.environment["IDEMPOTENCY_TABLE"] == "IdempotencyTable"
    assert management.environment["SECRET_PREFIX"] == "switchboard/switchboard-local/"
    assert management.environment["APPS_DOMAIN"] == "apps.localhost:3000"
    assert management.environment["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"
    assert management.environment["APPS_BASE_URL"] == "https://AppsApi.execute-api.us-east-1.amazonaws.com"
    assert management.environment["POWERTOOLS_SERVICE_NAME"] == "management"
    assert (management.memory_mb, management.timeout_s, management.handler) == (512, 29, "app.lambda_handler")
    assert management.code_dir == ROOT / "functions" / "management"
    assert [(e.api_id, e.path, e.method) for e in management.http_events] == [
        ("ManagementApi", "/v1/{proxy+}", "ANY")
    ]


def test_shared_environment_pins_local_values_and_reports_collisions():
    # Given the project's functions
    specs = function_specs(Template.from_file(ROOT / "template.yaml"))

    # When their environments are merged for one process
    shared = environment.shared_environment(specs.values(), {"APPS_BASE_URL": "http://127.0.0.1:3000"})

    # Then the local values win and per-function service names collapse into one
    assert shared.variables["APPS_BASE_URL"] == "http://127.0.0.1:3000"
    assert shared.variables["POWERTOOLS_SERVICE_NAME"] == "switchboard-local"
    assert shared.variables["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert shared.variables["POWERTOOLS_DEV"] == "false"
    assert shared.variables["POWERTOOLS_METRICS_NAMESPACE"] == "Switchboard"
    assert "POWERTOOLS_SERVICE_NAME" not in shared.collisions


def test_isolation_from_aws_forces_fake_credentials_and_keeps_the_region():
    # Given a shell with a real-looking profile and a region
    target = {"AWS_PROFILE": "prod", "AWS_ACCESS_KEY_ID": "AKIAREAL", "AWS_DEFAULT_REGION": "eu-west-1"}

    # When the process is isolated
    environment.isolate_from_aws(target)

    # Then nothing can reach a real account, and the region stays
    assert "AWS_PROFILE" not in target
    assert target["AWS_ACCESS_KEY_ID"] == "testing"
    assert target["AWS_REGION"] == target["AWS_DEFAULT_REGION"] == "eu-west-1"


def test_table_definition_comes_from_the_tables_own_properties():
    # Given the project's runs table
    template = Template.from_file(ROOT / "template.yaml")
    properties = template.resolve(template.resources["RunsTable"]["Properties"])

    # When it becomes create_table arguments
    definition = table_definition("RunsTable", properties)

    # Then keys, index and billing mode are the template's
    assert definition["TableName"] == "RunsTable"
    assert definition["BillingMode"] == "PAY_PER_REQUEST"
    assert definition["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert definition["GlobalSecondaryIndexes"][0]["IndexName"] == "gsi1"
    assert "ProvisionedThroughput" not in definition
    assert "ProvisionedThroughput" not in definition["GlobalSecondaryIndexes"][0]


def test_provisioned_tables_get_throughput_everywhere():
    properties = {
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "i",
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    }
    definition = table_definition("T", properties)
    assert definition["BillingMode"] == "PROVISIONED"
    assert definition["ProvisionedThroughput"] == {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5}
    assert definition["GlobalSecondaryIndexes"][0]["ProvisionedThroughput"]["ReadCapacityUnits"] == 5
