"""What CloudFormation deploys, proven on the SAM-transformed template: function settings, least-privilege
roles (nothing internet-facing can read a secret; only the executor role may invoke the credentials function;
only the trigger role may decrypt webhook triggers' secrets; only Scheduler and the Apps function may fire
triggers), tables, the run queue, trigger schedules, API routes and the optional Apps domain."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import partial
from typing import Any

import pytest

from switchboard_cli.local.template import Template, load_template, references
from tests.infra.conftest import APPS_CERTIFICATE_ARN, APPS_DOMAIN, STACK, TEMPLATE
from tests.support.iam import (
    Statement,
    action_matches,
    allows,
    function_role,
    permits,
    role_statements,
    roles,
    roles_allowed,
    statement_covers,
    statement_resources,
    wildcard_match,
)
from tests.support.iam import allowed_on as _allowed_on
from tests.support.iam import as_list as _as_list

SECRET_READERS = frozenset({"CredentialsFunction"})
"""Functions whose role may read secret values: the credentials function, and nothing else."""

SECRET_READS = ("secretsmanager:GetSecretValue", "secretsmanager:BatchGetSecretValue")
SECRET_WRITES = (
    "secretsmanager:CreateSecret",
    "secretsmanager:PutSecretValue",
    "secretsmanager:UpdateSecret",
    "secretsmanager:DeleteSecret",
)
CONTROL_TABLE_WRITES = ("dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")

SECRET_PREFIX_ARN = (
    f"arn:{STACK.partition}:secretsmanager:{STACK.region}:{STACK.account_id}:"
    f"secret:switchboard/{STACK.stack_name}/"
)


def _sam_resources_of_type(resource_type: str) -> list[str]:
    """Logical ids in template.yaml, read at collection time so each one is its own test case."""
    resources = load_template(TEMPLATE)["Resources"]
    return sorted(
        logical_id for logical_id, resource in resources.items() if resource["Type"] == resource_type
    )


FUNCTIONS = _sam_resources_of_type("AWS::Serverless::Function")
TABLES = _sam_resources_of_type("AWS::DynamoDB::Table")


# ---------------------------------------------------------------- IAM evaluation helpers


def api_routes(resources: dict[str, Any], api_id: str) -> dict[str, str]:
    """Route key (``METHOD /path``) → logical id of the function its Lambda proxy integration invokes."""
    routes: dict[str, str] = {}
    for path, operations in resources[api_id]["Properties"]["Body"]["paths"].items():
        for method, operation in operations.items():
            verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
            integration = operation["x-amazon-apigateway-integration"]
            assert integration["payloadFormatVersion"] == "2.0", f"{verb} {path} is not payload format 2.0"
            (function_id,) = references(integration["uri"])
            routes[f"{verb} {path}"] = function_id
    return routes


# ---------------------------------------------------------------- the helpers themselves


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("secretsmanager:GetSecretValue", "secretsmanager:GetSecretValue", True),
        ("SecretsManager:getsecretvalue", "secretsmanager:GetSecretValue", True),
        ("secretsmanager:*", "secretsmanager:GetSecretValue", True),
        ("secretsmanager:Get*", "secretsmanager:GetSecretValue", True),
        ("secretsmanager:*Get*", "secretsmanager:BatchGetSecretValue", True),
        ("secretsmanager:GetSecret?alue", "secretsmanager:GetSecretValue", True),
        ("*", "secretsmanager:BatchGetSecretValue", True),
        ("secrets*:*", "secretsmanager:GetSecretValue", True),
        ("secretsmanager:Get*", "secretsmanager:BatchGetSecretValue", False),
        ("secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue", False),
        ("secretsmanager:GetSecretValues", "secretsmanager:GetSecretValue", False),
        ("s3:*", "secretsmanager:GetSecretValue", False),
        ("secretsmanager:[G]etSecretValue", "secretsmanager:GetSecretValue", False),
    ],
)
def test_action_matching_follows_iam_wildcards(pattern: str, action: str, expected: bool) -> None:
    # Given an Action entry and an action name / When they are compared / Then IAM's wildcard rules apply
    assert action_matches(pattern, action) is expected


def test_not_action_allow_covers_everything_it_does_not_name() -> None:
    # Given an Allow with NotAction excluding only S3
    statement = {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"}

    # When / Then it allows reading secrets but not S3 actions
    assert allows(statement, "secretsmanager:GetSecretValue")
    assert not allows(statement, "s3:GetObject")


def test_secret_reader_detection_sees_wildcards_and_attached_policies() -> None:
    # Given roles that read secrets through a wildcard, through an attached AWS::IAM::Policy, and one that
    # only denies it
    def role(*statements: Statement) -> dict[str, Any]:
        policies = (
            [{"PolicyName": "inline", "PolicyDocument": {"Statement": list(statements)}}]
            if statements
            else []
        )
        return {"Type": "AWS::IAM::Role", "Properties": {"Policies": policies}}

    resources = {
        "WildcardRole": role({"Effect": "Allow", "Action": ["secretsmanager:Get*"], "Resource": "arn:x"}),
        "AttachedRole": role(),
        "AttachedPolicy": {
            "Type": "AWS::IAM::Policy",
            "Properties": {
                "Roles": [{"Ref": "AttachedRole"}],
                "PolicyDocument": {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}},
            },
        },
        "DenyingRole": role(
            {"Effect": "Deny", "Action": list(SECRET_READS), "Resource": "*"},
            {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "arn:table"},
        ),
    }

    # When the roles allowed to read secret values are collected
    readers = roles_allowed(resources, SECRET_READS)

    # Then exactly the two that can read are found
    assert readers == {"WildcardRole", "AttachedRole"}


# ---------------------------------------------------------------- functions


def test_the_template_declares_the_api_and_runtime_functions() -> None:
    # Given the functions template.yaml declares / Then the API and runtime functions are among them (so
    # the per-function cases below cannot silently shrink to nothing)
    assert {
        "ManagementFunction",
        "AppsFunction",
        "ExecutorFunction",
        "BackgroundExecutorFunction",
        "CredentialsFunction",
        "TriggerFunction",
    } <= set(FUNCTIONS)


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_function_runtime_tracing_and_layer(cfn: Template, function_id: str) -> None:
    # Given the transformed function
    resources = cfn.resources
    function = resources[function_id]
    properties = function["Properties"]

    # When its common layer is looked up by name
    common_layers = [
        logical_id
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::LayerVersion"
        and cfn.resolve(resource["Properties"]["LayerName"]) == f"{STACK.stack_name}-common"
    ]

    # Then it is a Python 3.11 arm64 Lambda function with active tracing and the common layer
    assert function["Type"] == "AWS::Lambda::Function"
    assert properties["Runtime"] == "python3.13"
    assert properties["Architectures"] == ["arm64"]
    assert properties["TracingConfig"] == {"Mode": "Active"}
    assert len(common_layers) == 1
    assert {"Ref": common_layers[0]} in properties["Layers"]


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_function_logs_json_to_its_own_log_group_with_retention(cfn: Template, function_id: str) -> None:
    # Given the transformed function's logging configuration
    logging_config = cfn.resources[function_id]["Properties"]["LoggingConfig"]

    # When its log group is followed
    log_group_ref = logging_config.get("LogGroup")
    assert isinstance(log_group_ref, dict), "LoggingConfig names no LogGroup of this stack"
    assert set(log_group_ref) == {"Ref"}, "LogGroup must Ref a log group of this stack"
    log_group = cfn.resources[log_group_ref["Ref"]]

    # Then it logs JSON into a log group of this stack whose retention is the LogRetentionDays parameter
    assert logging_config["LogFormat"] == "JSON"
    assert log_group["Type"] == "AWS::Logs::LogGroup"
    assert log_group["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_every_log_group_keeps_logs_for_the_configured_retention(cfn: Template) -> None:
    # Given every log group of the stack (functions' and APIs' access logs)
    log_groups = cfn.resources_of_type("AWS::Logs::LogGroup")

    # When their retention is read / Then each one comes from the parameter
    assert log_groups
    assert {
        logical_id: group["Properties"].get("RetentionInDays") for logical_id, group in log_groups.items()
    } == {logical_id: {"Ref": "LogRetentionDays"} for logical_id in log_groups}


# ---------------------------------------------------------------- IAM: secrets


def test_management_role_writes_secrets_only_under_the_stack_prefix(cfn: Template) -> None:
    # Given the management function's role
    statements = role_statements(cfn.resources, function_role(cfn.resources, "ManagementFunction"))

    for action in SECRET_WRITES:
        # When the statements allowing a secret write are collected
        granting = [statement for statement in statements if allows(statement, action)]
        resources = [resource for statement in granting for resource in statement_resources(statement, cfn)]

        # Then any write allowed is allowed only on secrets named under switchboard/<stack name>/
        outside = [resource for resource in resources if not resource.startswith(SECRET_PREFIX_ARN)]
        assert outside == [], f"{action} is allowed outside {SECRET_PREFIX_ARN}*"


def _secret_arn(name: str) -> str:
    """A secret of this stack as its ARN names it (the name, "-" and six random characters)."""
    return f"{SECRET_PREFIX_ARN}{name}-AbC123"


def test_management_role_writes_connection_and_signing_secrets_but_cannot_overwrite_link_secrets(
    cfn: Template,
) -> None:
    # Given the management function's role, a connection's secret, an App's signing secret and an end user's
    # link secret of this stack
    role = function_role(cfn.resources, "ManagementFunction")
    connection = _secret_arn("projects/prj-1/connections/con-1")
    signing = _secret_arn("apps/app-1/signing")
    link = _secret_arn("apps/app-1/links/lnk-1")
    creates = ("CreateSecret", "PutSecretValue", "TagResource", "DeleteSecret")

    # Then it creates (tagged), rotates and deletes connections' and Apps' signing secrets
    for arn in (connection, signing):
        for action in creates:
            assert permits(cfn, role, f"secretsmanager:{action}", arn), (action, arn)
    assert permits(cfn, role, "secretsmanager:DescribeSecret", signing)
    # And it cannot write a link secret in any way (create, put a value, update, restore, tag, change its
    # policy), only delete it when a builder revokes the link
    for action in (
        "CreateSecret",
        "PutSecretValue",
        "UpdateSecret",
        "UpdateSecretVersionStage",
        "RestoreSecret",
        "RotateSecret",
        "TagResource",
        "PutResourcePolicy",
    ):
        assert not permits(cfn, role, f"secretsmanager:{action}", link), action
    assert permits(cfn, role, "secretsmanager:DeleteSecret", link)
    # And it reads none of them
    for arn in (connection, signing, link):
        assert not any(permits(cfn, role, action, arn) for action in SECRET_READS), arn


def test_management_role_cannot_read_secret_values_and_denies_it_explicitly(cfn: Template) -> None:
    # Given the management function's role
    statements = role_statements(cfn.resources, function_role(cfn.resources, "ManagementFunction"))

    for action in SECRET_READS:
        # When the statements applying to a secret read are collected
        allowing = [statement for statement in statements if allows(statement, action)]
        denying = [
            statement
            for statement in statements
            if statement.get("Effect") == "Deny"
            and statement_covers(statement, action)
            and "Condition" not in statement
            and "*" in statement_resources(statement, cfn)
        ]

        # Then nothing allows it, and an unconditional Deny on every resource forbids it
        assert allowing == [], f"the management role is allowed {action}"
        assert denying, f"the management role has no unconditional Deny of {action} on *"


def test_apps_role_only_deletes_old_link_secrets_and_denies_reading_any(cfn: Template) -> None:
    # Given the Apps function's role
    statements = role_statements(cfn.resources, function_role(cfn.resources, "AppsFunction"))
    link_secrets = f"{SECRET_PREFIX_ARN}apps/*/links/*"

    # Then it deletes secrets only under apps/<app>/links/ of this stack's prefix (links made before sealed
    # secrets, when they are linked again or revoked)
    granted = [
        resource
        for statement in statements
        if allows(statement, "secretsmanager:DeleteSecret")
        for resource in statement_resources(statement, cfn)
    ]
    assert granted == [link_secrets]
    # And it creates no secret, cannot change one's value or settings in place, nor tag, describe or list one
    for action in (
        "secretsmanager:CreateSecret",
        "secretsmanager:TagResource",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecret",
        "secretsmanager:UntagResource",
        "secretsmanager:DescribeSecret",
        "secretsmanager:ListSecrets",
    ):
        assert not any(allows(statement, action) for statement in statements), action
    # And reading a value is denied explicitly, on everything
    for action in SECRET_READS:
        assert not any(allows(statement, action) for statement in statements), action
        assert any(
            statement.get("Effect") == "Deny"
            and statement_covers(statement, action)
            and "Condition" not in statement
            and statement_resources(statement, cfn) == ["*"]
            for statement in statements
        ), action


def test_only_allow_listed_functions_can_read_secret_values(cfn: Template) -> None:
    # Given the roles of the functions allowed to read secrets
    unknown = SECRET_READERS - set(FUNCTIONS)
    assert not unknown, f"SECRET_READERS names functions that do not exist: {sorted(unknown)}"
    permitted = {function_role(cfn.resources, function_id) for function_id in SECRET_READERS}

    # When every role in the stack is checked for a secret read
    readers = roles_allowed(cfn.resources, SECRET_READS)

    # Then no other role can read a secret value
    assert readers - permitted == set()


def test_secret_writes_anywhere_in_the_stack_stay_under_the_stack_prefix(cfn: Template) -> None:
    # Given every role's statements that allow writing a secret
    outside = {
        (role_id, resource)
        for role_id in roles(cfn.resources)
        for statement in role_statements(cfn.resources, role_id)
        if any(allows(statement, action) for action in SECRET_WRITES)
        for resource in statement_resources(statement, cfn)
        if not resource.startswith(SECRET_PREFIX_ARN)
    }

    # Then none reaches a secret outside this stack's prefix
    assert outside == set()


def test_roles_attach_only_managed_policies_known_to_grant_no_data_access(cfn: Template) -> None:
    # Given the AWS managed policies attached to each role (their statements are not in the template, so
    # the checks above cannot see them)
    known = {
        f"arn:{STACK.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        f"arn:{STACK.partition}:iam::aws:policy/AWSXrayWriteOnlyAccess",
    }
    attached = {
        (role_id, str(cfn.resolve(arn)))
        for role_id in roles(cfn.resources)
        for arn in cfn.resources[role_id]["Properties"].get("ManagedPolicyArns", [])
    }

    # Then every one is a logging or tracing policy
    assert {(role_id, arn) for role_id, arn in attached if arn not in known} == set()


def test_credentials_role_reads_secret_values_only_under_the_stack_prefix(cfn: Template) -> None:
    # Given the credentials function's role
    statements = role_statements(cfn.resources, function_role(cfn.resources, "CredentialsFunction"))

    # When the statements allowing GetSecretValue and BatchGetSecretValue are collected
    get_resources = [
        resource
        for statement in statements
        if allows(statement, "secretsmanager:GetSecretValue")
        for resource in statement_resources(statement, cfn)
    ]
    batch = [statement for statement in statements if allows(statement, "secretsmanager:BatchGetSecretValue")]

    # Then GetSecretValue (which BatchGetSecretValue needs for every secret it returns) is granted only on
    # this stack's secrets, and BatchGetSecretValue, which has no resource-level permissions, on "*" alone
    assert get_resources
    assert [resource for resource in get_resources if not resource.startswith(SECRET_PREFIX_ARN)] == []
    assert batch
    assert all(statement_resources(statement, cfn) == ["*"] for statement in batch)


# ---------------------------------------------------------------- IAM: DynamoDB


def _update(leading_key: str, *attributes: str, returns: str | None = None) -> dict[str, str | list[str]]:
    """The condition keys of an UpdateItem on the item with partition key ``leading_key``."""
    context: dict[str, str | list[str]] = {
        "dynamodb:LeadingKeys": [leading_key],
        "dynamodb:Attributes": ["pk", "sk", *attributes],
    }
    if returns is not None:
        context["dynamodb:ReturnValues"] = returns
    return context


def test_apps_role_updates_only_an_access_keys_last_use_in_the_control_table(cfn: Template) -> None:
    # Given the Apps function's role and the control table
    role = function_role(cfn.resources, "AppsFunction")
    control = cfn.get_att("ControlTable", "Arn")
    update = partial(permits, cfn, role, "dynamodb:UpdateItem", control)

    # Then it records a token's last use (what authentication writes, its condition included)
    assert update(_update("TOKEN#tok-1", "last_used_at"))
    assert update(_update("TOKEN#tok-1", "last_used_at", returns="NONE"))
    # And it cannot update any other item, any other attribute of a token (revoke it, change its scopes or
    # hash), read back the whole item through the update, or write the control table otherwise
    assert not update(_update("APP#app-1", "last_used_at"))
    assert not update(_update("USER#usr-1", "last_used_at"))
    assert not update(_update("TOKEN#tok-1", "last_used_at", "revoked_at"))
    assert not update(_update("TOKEN#tok-1", "secret_hash"))
    assert not update(_update("TOKEN#tok-1", "last_used_at", returns="ALL_NEW"))
    assert not update(_update("TOKEN#tok-1", "last_used_at", returns="ALL_OLD"))
    for action in CONTROL_TABLE_WRITES:
        assert not permits(cfn, role, action, control, _update("TOKEN#tok-1", "last_used_at")), action


def _dynamodb_statements(cfn: Template) -> list[tuple[str, Statement]]:
    return [
        (role_id, statement)
        for role_id in roles(cfn.resources)
        for statement in role_statements(cfn.resources, role_id)
        if statement.get("Effect") == "Allow"
        and (
            "NotAction" in statement
            or any(_is_dynamodb(pattern) for pattern in _as_list(statement.get("Action", [])))
        )
    ]


def _is_dynamodb(pattern: str) -> bool:
    return action_matches(pattern.split(":", maxsplit=1)[0], "dynamodb")


def test_dynamodb_grants_name_actions_and_tables(cfn: Template) -> None:
    # Given every Allow statement that grants DynamoDB actions, and the ARNs of the stack's tables
    statements = _dynamodb_statements(cfn)
    tables = [cfn.get_att(table_id, "Arn") for table_id in cfn.resources_of_type("AWS::DynamoDB::Table")]
    allowed_resources = {arn + suffix for arn in tables for suffix in ("", "/index/*", "/stream/*")}

    # When their actions and resources are examined
    service_wide = [
        (role_id, pattern)
        for role_id, statement in statements
        for pattern in _as_list(statement.get("Action", "*"))
        if "NotAction" in statement or (_is_dynamodb(pattern) and pattern.split(":")[-1] == "*")
    ]
    elsewhere = [
        (role_id, resource)
        for role_id, statement in statements
        for resource in statement_resources(statement, cfn)
        if resource not in allowed_resources
    ]

    # Then no role holds dynamodb:* (or *), and every grant names a table of this stack (never "*")
    assert statements, "no role is granted DynamoDB access"
    assert service_wide == []
    assert elsewhere == []


def test_apps_function_reads_and_writes_links_but_never_deletes_them(cfn: Template) -> None:
    # Given the Apps function's role and the links table
    statements = role_statements(cfn.resources, function_role(cfn.resources, "AppsFunction"))
    links = cfn.get_att("LinksTable", "Arn")

    # Then it reads the user's links, writes tokens, links and their transitions (puts and updates, which is
    # what its transactions need), and neither deletes, batch-writes nor scans anything there
    for action in ("GetItem", "Query", "PutItem", "UpdateItem"):
        assert _allowed_on(cfn, statements, f"dynamodb:{action}", links), action
    for action in ("DeleteItem", "BatchWriteItem", "Scan"):
        assert not _allowed_on(cfn, statements, f"dynamodb:{action}", links), action
    assert not _allowed_on(cfn, statements, "dynamodb:PutItem", f"{links}/index/gsi1")


def test_apps_function_deletes_only_a_run_record_nothing_could_start(cfn: Template) -> None:
    # Given the Apps function's role and the runs table
    role = function_role(cfn.resources, "AppsFunction")
    runs = cfn.get_att("RunsTable", "Arn")
    delete = partial(permits, cfn, role, "dynamodb:DeleteItem", runs)

    # Then it may delete a run's record (a run neither started nor queued, before its 503)
    assert delete({"dynamodb:LeadingKeys": ["RUN#run-1"]})
    # And no other item of the runs table (a session, an App's runs, a trigger's events), nor any item of the
    # control table, and it never batch-writes or scans the runs table
    for leading_key in ("SESSION#app-1#ses-1", "APP#app-1", "TRIGGER#trg-1#EVENTS"):
        assert not delete({"dynamodb:LeadingKeys": [leading_key]}), leading_key
    control = cfn.get_att("ControlTable", "Arn")
    assert not permits(cfn, role, "dynamodb:DeleteItem", control, {"dynamodb:LeadingKeys": ["RUN#run-1"]})
    for action in ("dynamodb:BatchWriteItem", "dynamodb:Scan"):
        assert not permits(cfn, role, action, runs), action


def test_management_function_reads_and_revokes_links_but_never_deletes_them(cfn: Template) -> None:
    # Given the management function's role and the links table
    statements = role_statements(cfn.resources, function_role(cfn.resources, "ManagementFunction"))
    links = cfn.get_att("LinksTable", "Arn")

    # Then it lists links (the App's by the index), reads their history, and records a revocation (an update
    # and its transition, plus an event delivery), without deleting or scanning
    for action in ("GetItem", "Query", "PutItem", "UpdateItem"):
        assert _allowed_on(cfn, statements, f"dynamodb:{action}", links), action
    assert _allowed_on(cfn, statements, "dynamodb:Query", f"{links}/index/gsi1")
    for action in ("DeleteItem", "BatchWriteItem", "Scan"):
        assert not _allowed_on(cfn, statements, f"dynamodb:{action}", links), action


def test_apps_function_cannot_write_control_table_items(cfn: Template) -> None:
    # Given the Apps function's role and the control table's ARN
    statements = role_statements(cfn.resources, function_role(cfn.resources, "AppsFunction"))
    control_table = cfn.get_att("ControlTable", "Arn")

    # When the statements allowing an item write are matched against the control table
    writes = [
        (action, resource)
        for action in CONTROL_TABLE_WRITES
        for statement in statements
        if allows(statement, action)
        for resource in statement_resources(statement, cfn)
        if wildcard_match(resource, control_table, ignore_case=False)
    ]

    # Then none reaches it
    assert writes == []


# ---------------------------------------------------------------- tables


def test_the_template_declares_the_tables_the_functions_use() -> None:
    # Given the tables template.yaml declares / Then the four the settings name are among them
    assert {"ControlTable", "RunsTable", "LinksTable", "IdempotencyTable"} <= set(TABLES)


@pytest.mark.parametrize("table_id", TABLES)
def test_table_is_on_demand_recoverable_encrypted_and_retained(cfn: Template, table_id: str) -> None:
    # Given a table of the transformed template
    table = cfn.resources[table_id]
    properties = table["Properties"]

    # Then it bills per request, keeps point-in-time backups, is encrypted, and survives stack deletion
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"]["SSEEnabled"] is True
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize(
    ("table_id", "attribute"),
    [("RunsTable", "expires_at"), ("IdempotencyTable", "expiration"), ("LinksTable", "ttl")],
)
def test_table_expires_items_by_ttl(cfn: Template, table_id: str, attribute: str) -> None:
    # Given a table whose items expire / Then TTL is enabled on the attribute the code writes
    assert cfn.resources[table_id]["Properties"]["TimeToLiveSpecification"] == {
        "AttributeName": attribute,
        "Enabled": True,
    }


# ---------------------------------------------------------------- APIs


def test_management_api_proxies_v1_to_the_management_function(cfn: Template) -> None:
    # Given the transformed management HTTP API
    assert cfn.resources["ManagementApi"]["Type"] == "AWS::ApiGatewayV2::Api"

    # When its routes are read / Then there is exactly the /v1 proxy, integrated with the management function
    assert api_routes(cfn.resources, "ManagementApi") == {"ANY /v1/{proxy+}": "ManagementFunction"}


def test_apps_api_routes_path_and_host_addressing_to_the_apps_function(cfn: Template) -> None:
    # Given the transformed Apps HTTP API
    assert cfn.resources["AppsApi"]["Type"] == "AWS::ApiGatewayV2::Api"

    # When its routes are read / Then path (/apps/{app_id}) and host (/) addressing reach the Apps function,
    # and so does the deployment's one OAuth 2.0 redirect URI
    assert api_routes(cfn.resources, "AppsApi") == {
        "ANY /apps/{app_id}": "AppsFunction",
        "ANY /apps/{app_id}/{proxy+}": "AppsFunction",
        "ANY /": "AppsFunction",
        "ANY /{proxy+}": "AppsFunction",
        "GET /v1/oauth2/callback": "AppsFunction",
    }


def test_outputs_give_both_api_urls(cfn: Template) -> None:
    # Given the stack outputs
    outputs = cfn.document["Outputs"]

    # Then each API's URL is an output built from that API
    assert references(outputs["ManagementApiUrl"]["Value"]) == {"ManagementApi"}
    assert references(outputs["AppsApiUrl"]["Value"]) == {"AppsApi"}
    assert cfn.resolve(outputs["AppsApiUrl"]["Value"]).startswith("https://")


def test_apps_domain_creates_a_wildcard_domain_mapped_to_the_apps_api(cfn_with_apps_domain: Template) -> None:
    # Given the stack deployed with AppsDomain and a certificate
    cfn = cfn_with_apps_domain

    # When the custom domain resources that exist under those parameters are read
    domains = cfn.resources_of_type("AWS::ApiGatewayV2::DomainName")
    mappings = cfn.resources_of_type("AWS::ApiGatewayV2::ApiMapping")
    assert list(domains) == ["AppsDomainName"]
    assert list(mappings) == ["AppsDomainMapping"]
    domain = cfn.resolve(domains["AppsDomainName"]["Properties"])
    mapping = mappings["AppsDomainMapping"]["Properties"]
    stage = cfn.resources[mapping["Stage"]["Ref"]]

    # Then *.<AppsDomain> uses the certificate and maps to the Apps API's stage, and its target is an output
    assert domain["DomainName"] == f"*.{APPS_DOMAIN}"
    assert domain["DomainNameConfigurations"][0]["CertificateArn"] == APPS_CERTIFICATE_ARN
    assert mapping["ApiId"] == {"Ref": "AppsApi"}
    assert mapping["DomainName"] == {"Ref": "AppsDomainName"}
    assert stage["Type"] == "AWS::ApiGatewayV2::Stage"
    assert stage["Properties"]["ApiId"] == {"Ref": "AppsApi"}
    assert cfn.condition(cfn.document["Outputs"]["AppsDomainTarget"]["Condition"])


def test_without_apps_domain_no_custom_domain_is_created(cfn: Template) -> None:
    # Given the stack deployed with the default (empty) AppsDomain
    # When the custom domain resources that exist under those parameters are read
    domain_resources = cfn.resources_of_type("AWS::ApiGatewayV2::DomainName", "AWS::ApiGatewayV2::ApiMapping")

    # Then there are none, and no domain target is output
    assert domain_resources == {}
    assert not cfn.condition(cfn.document["Outputs"]["AppsDomainTarget"]["Condition"])


# ---------------------------------------------------------------- runs: executor, credentials, queue

INVOKE = "lambda:InvokeFunction"


def _with_statement(cfn: Template, role_id: str, statement: Statement) -> Template:
    """The template with one more inline policy of the role: someone widening its IAM permissions."""
    role = cfn.resources[role_id]
    policies = [
        *role["Properties"].get("Policies", []),
        {"PolicyName": "widened", "PolicyDocument": {"Statement": [statement]}},
    ]
    widened = {**role, "Properties": {**role["Properties"], "Policies": policies}}
    document = {**cfn.document, "Resources": {**cfn.resources, role_id: widened}}
    return Template(document, cfn.directory, cfn.parameter_overrides, cfn.context)


def _credentials_resource_policies(cfn: Template) -> dict[str, dict[str, Any]]:
    return {
        logical_id: policy
        for logical_id, policy in cfn.resources_of_type("AWS::Lambda::ResourcePolicy").items()
        if references(policy["Properties"]["ResourceArn"]) == {"CredentialsFunction"}
    }


def _condition_values(condition: dict[str, Any], operators: Iterable[str], key: str) -> list[Any]:
    """Values a condition block compares ``key`` with under any of ``operators`` (keys compare
    case-insensitively, as IAM does)."""
    values: list[Any] = []
    for operator, comparisons in condition.items():
        if operator not in operators:
            continue
        for condition_key, value in comparisons.items():
            if condition_key.lower() == key.lower():
                values.extend(_as_list(value))
    return values


def test_credentials_function_policy_denies_invoke_to_everyone_but_the_executor_role(cfn: Template) -> None:
    # Given the resource policy attached to the credentials function
    policies = _credentials_resource_policies(cfn)
    assert len(policies) == 1, (
        f"expected one resource policy on the credentials function, got {sorted(policies)}"
    )
    (policy,) = policies.values()
    assert policy["Properties"]["ResourceArn"] == {"Fn::GetAtt": ["CredentialsFunction", "Arn"]}
    statements = _as_list(policy["Properties"]["PolicyDocument"]["Statement"])

    # When its statements about invoking are read
    invoking = [statement for statement in statements if statement_covers(statement, INVOKE)]
    denials = [
        statement
        for statement in invoking
        if statement.get("Effect") == "Deny"
        and statement.get("Principal") == "*"
        and "NotPrincipal" not in statement
    ]
    arn = cfn.get_att("CredentialsFunction", "Arn")

    # Then nothing in it allows an invoke, and one Deny for every principal, on the function and on every
    # version or alias of it, exempts exactly the executor role, by its ARN
    assert [statement for statement in invoking if statement.get("Effect") != "Deny"] == []
    assert len(denials) == 1
    assert statement_resources(denials[0], cfn) == [arn, f"{arn}:*"]
    condition = denials[0]["Condition"]
    assert set(condition) <= {"ArnNotEquals", "StringNotEquals"}, condition
    exempt = _condition_values(condition, ("ArnNotEquals", "StringNotEquals"), "aws:PrincipalArn")
    assert exempt == [{"Fn::GetAtt": ["ExecutorRole", "Arn"]}]
    assert [key for comparisons in condition.values() for key in comparisons] == ["aws:PrincipalArn"]


def test_no_lambda_permission_opens_the_credentials_function(cfn: Template) -> None:
    # Given every AWS::Lambda::Permission of the stack (SAM adds them for API and other push events)
    permissions = cfn.resources_of_type("AWS::Lambda::Permission")

    # When those on the credentials function are kept / Then there are none
    assert [
        logical_id
        for logical_id, permission in permissions.items()
        if "CredentialsFunction" in references(permission["Properties"]["FunctionName"])
    ] == []


def test_only_the_executor_role_may_invoke_the_credentials_function(cfn: Template) -> None:
    # Given the credentials function's ARN, unqualified and qualified
    arn = cfn.get_att("CredentialsFunction", "Arn")
    targets = (arn, f"{arn}:live", f"{arn}:7")

    # When every role's statements allowing an invoke are matched against it
    invokers = {
        role_id
        for role_id in roles(cfn.resources)
        for statement in role_statements(cfn.resources, role_id)
        if allows(statement, INVOKE)
        for resource in statement_resources(statement, cfn)
        if any(wildcard_match(resource, target, ignore_case=False) for target in targets)
    }

    # Then the executor role (the executor's runs, the dispatcher's deliveries) is the only one; and even a
    # role given an Allow by someone else would be denied by the function's resource policy, on any
    # qualifier, while the executor role is let through
    assert invokers == {"ExecutorRole"}
    for role_id in roles(cfn.resources):
        for target in targets:
            assert permits(cfn, role_id, INVOKE, target) is (role_id == "ExecutorRole" and target == arn), (
                role_id,
                target,
            )
    bent = _with_statement(cfn, "TriggerRole", {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"})
    assert permits(bent, "TriggerRole", INVOKE, cfn.get_att("RunQueue", "Arn"))
    assert not any(permits(bent, "TriggerRole", INVOKE, target) for target in targets)


def test_executor_runs_with_its_explicit_role_and_runtime_settings(cfn: Template) -> None:
    # Given the transformed executor function and its role
    properties = cfn.resources["ExecutorFunction"]["Properties"]
    role = cfn.resources["ExecutorRole"]["Properties"]

    # Then it uses ExecutorRole, which only Lambda can assume, with the longest timeout Lambda allows and the
    # credentials function's name in its environment
    assert function_role(cfn.resources, "ExecutorFunction") == "ExecutorRole"
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert properties["Timeout"] == 900
    assert properties["MemorySize"] == 1024
    variables = properties["Environment"]["Variables"]
    assert variables["CREDENTIALS_FUNCTION"] == {"Ref": "CredentialsFunction"}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "executor"


def test_the_executor_is_a_durable_function_on_an_alias_and_outlives_the_longest_run(cfn: Template) -> None:
    # Given the executor function as SAM transformed it
    properties = cfn.resources["ExecutorFunction"]["Properties"]
    # Then it is a durable function whose executions outlast the longest run an App may allow (24 h) and
    # are kept two weeks; every caller starts executions on its published alias
    durable = properties["DurableConfig"]
    assert durable["ExecutionTimeout"] > 86_400
    assert durable["ExecutionTimeout"] <= 31_622_400
    assert 1 <= durable["RetentionPeriodInDays"] <= 90
    assert cfn.resources["ExecutorFunctionAliaslive"]["Type"] == "AWS::Lambda::Alias"
    assert properties["Environment"]["Variables"]["EXECUTOR_INVOCATION_SECONDS"] == "840"
    assert int(properties["Environment"]["Variables"]["EXECUTOR_INVOCATION_SECONDS"]) < properties["Timeout"]
    for caller in ("AppsFunction", "DispatcherFunction", "TriggerFunction"):
        variables = cfn.resources[caller]["Properties"]["Environment"]["Variables"]
        if "EXECUTOR_FUNCTION" in variables:
            assert variables["EXECUTOR_FUNCTION"] == {"Ref": "ExecutorFunctionAliaslive"}, caller


def test_durable_execution_apis_are_granted_on_the_executors_only(cfn: Template) -> None:
    # Given the executor role's statements, the Apps role's, and both executors' versions (a run's execution
    # is on the sync or on the background executor)
    executors_versions = [
        cfn.get_att(f, "Arn") + ":live" for f in ("ExecutorFunction", "BackgroundExecutorFunction")
    ]
    elsewhere = cfn.get_att("CredentialsFunction", "Arn") + ":live"
    executor = role_statements(cfn.resources, "ExecutorRole")
    apps = role_statements(cfn.resources, function_role(cfn.resources, "AppsFunction"))
    # Then each executor checkpoints and reads its own executions, and the dispatcher (same role) may stop
    # them and fail their callbacks (the sweeper), on the executors' versions only
    for action in (
        "lambda:CheckpointDurableExecution",
        "lambda:GetDurableExecutionState",
        "lambda:GetDurableExecution",
        "lambda:StopDurableExecution",
        "lambda:SendDurableExecutionCallbackFailure",
    ):
        for versions in executors_versions:
            assert _allowed_on(cfn, executor, action, versions), (action, versions)
        assert not _allowed_on(cfn, executor, action, elsewhere), action
    # And the Apps function answers input requests (callback success or failure) of either, nothing more
    for action in (
        "lambda:SendDurableExecutionCallbackSuccess",
        "lambda:SendDurableExecutionCallbackFailure",
    ):
        for versions in executors_versions:
            assert _allowed_on(cfn, apps, action, versions), (action, versions)
        assert not _allowed_on(cfn, apps, action, elsewhere), action
    for action in ("lambda:CheckpointDurableExecution", "lambda:StopDurableExecution"):
        for versions in executors_versions:
            assert not _allowed_on(cfn, apps, action, versions), (action, versions)


def test_unfinished_runs_are_indexed_for_the_sweeper_which_runs_every_minute(cfn: Template) -> None:
    # Given the runs table's indexes and the sweep schedule
    indexes = {
        index["IndexName"]: index
        for index in cfn.resources["RunsTable"]["Properties"]["GlobalSecondaryIndexes"]
    }
    schedule = cfn.resources["RunSweepSchedule"]["Properties"]
    # Then gsi2 holds (sparse) unfinished runs by when they are due, with their status
    assert [key["AttributeName"] for key in indexes["gsi2"]["KeySchema"]] == ["gsi2pk", "gsi2sk"]
    assert indexes["gsi2"]["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["status"]}
    # And the dispatcher sweeps every minute, a missed sweep not retried (the next one comes)
    assert schedule["ScheduleExpression"] == "rate(1 minute)"
    assert schedule["Target"]["Arn"] == {"Fn::GetAtt": ["DispatcherFunction", "Arn"]}
    assert json.loads(schedule["Target"]["Input"]) == {"sweep": True}
    assert schedule["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 0}


def test_run_artifacts_are_written_by_the_executor_and_read_by_the_apis(cfn: Template) -> None:
    # Given an artifact of a run, and one outside any run's prefix
    artifact = cfn.get_att("FilesBucket", "Arn") + "/apps/app-1/runs/run-1/output.json"
    stray = cfn.get_att("FilesBucket", "Arn") + "/other/output.json"
    executor = role_statements(cfn.resources, "ExecutorRole")
    # Then the executor writes and reads it; the Apps and management functions read it (to show or sign it)
    assert _allowed_on(cfn, executor, "s3:PutObject", artifact)
    assert _allowed_on(cfn, executor, "s3:GetObject", artifact)
    assert not _allowed_on(cfn, executor, "s3:PutObject", stray)
    for function_id in ("AppsFunction", "ManagementFunction"):
        statements = role_statements(cfn.resources, function_role(cfn.resources, function_id))
        assert _allowed_on(cfn, statements, "s3:GetObject", artifact), function_id
        assert not _allowed_on(cfn, statements, "s3:DeleteObject", artifact), function_id
    assert not _allowed_on(
        cfn,
        role_statements(cfn.resources, function_role(cfn.resources, "ManagementFunction")),
        "s3:PutObject",
        artifact,
    )


def test_executor_role_reaches_only_what_running_needs(cfn: Template) -> None:
    # Given the executor role's statements and the ARNs involved
    statements = role_statements(cfn.resources, "ExecutorRole")
    control, runs, links = (
        cfn.get_att(table, "Arn") for table in ("ControlTable", "RunsTable", "LinksTable")
    )
    queue = cfn.get_att("RunQueue", "Arn")
    allowed_on = partial(_allowed_on, cfn, statements)

    # Then it reads the control table without writing it, writes runs, reads and updates links and puts their
    # transitions and event deliveries (never deleting, scanning or listing them), consumes the run queue,
    # and reads no secret
    assert all(allowed_on(f"dynamodb:{a}", control) for a in ("GetItem", "Query", "BatchGetItem"))
    assert not any(allowed_on(action, control) for action in (*CONTROL_TABLE_WRITES, "dynamodb:UpdateItem"))
    assert all(allowed_on(f"dynamodb:{a}", runs) for a in ("GetItem", "PutItem", "UpdateItem", "Query"))
    assert all(allowed_on(f"dynamodb:{a}", links) for a in ("GetItem", "UpdateItem", "PutItem"))
    links_elsewhere = ("DeleteItem", "BatchWriteItem", "Query", "Scan", "BatchGetItem")
    assert not any(allowed_on(f"dynamodb:{a}", links) for a in links_elsewhere)
    assert not allowed_on("dynamodb:Query", f"{links}/index/gsi1")
    for action in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes", "ChangeMessageVisibility"):
        assert allowed_on(f"sqs:{action}", queue), action
    assert not any(allows(statement, action) for statement in statements for action in SECRET_READS)


def test_background_runs_and_deliveries_reach_the_dispatcher_one_message_at_a_time(cfn: Template) -> None:
    # Given the event source mappings of the dispatcher (the executor, a durable function, has none: an
    # event source would cap a run at 15 minutes and start a new execution on every redelivery)
    mappings = [
        mapping["Properties"]
        for mapping in cfn.resources_of_type("AWS::Lambda::EventSourceMapping").values()
        if mapping["Properties"]["FunctionName"] == {"Ref": "DispatcherFunction"}
    ]
    assert not [
        mapping
        for mapping in cfn.resources_of_type("AWS::Lambda::EventSourceMapping").values()
        if "ExecutorFunction" in json.dumps(mapping["Properties"]["FunctionName"])
    ]

    # Then one reads the run queue and one the delivery queue, one message per invocation, reporting failures
    sources = sorted(mapping["EventSourceArn"]["Fn::GetAtt"][0] for mapping in mappings)
    assert sources == ["DeliveryQueue", "RunQueue"]
    for mapping in mappings:
        assert mapping["BatchSize"] == 1
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_run_queue_is_encrypted_outlasts_the_dispatcher_and_redrives_to_its_dead_letter_queue(
    cfn: Template,
) -> None:
    # Given the run queue, its dead-letter queue and the timeout of the dispatcher that consumes it
    queue = cfn.resources["RunQueue"]["Properties"]
    dead_letters = cfn.resources["RunDeadLetterQueue"]["Properties"]
    dispatcher_timeout = cfn.resources["DispatcherFunction"]["Properties"]["Timeout"]

    # Then a message stays invisible for six dispatcher timeouts, is retried twice, then kept 14 days aside
    assert queue["SqsManagedSseEnabled"] is True
    assert dead_letters["SqsManagedSseEnabled"] is True
    assert queue["VisibilityTimeout"] >= 6 * dispatcher_timeout
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["RunDeadLetterQueue", "Arn"]},
        "maxReceiveCount": 3,
    }
    assert dead_letters["MessageRetentionPeriod"] == 14 * 24 * 3600


def _sends_to(cfn: Template, function_id: str) -> list[str]:
    statements = role_statements(cfn.resources, function_role(cfn.resources, function_id))
    return sorted(
        resource
        for statement in statements
        if allows(statement, "sqs:SendMessage")
        for resource in statement_resources(statement, cfn)
    )


def test_apps_function_enqueues_background_runs_and_link_events(cfn: Template) -> None:
    # Given the Apps function's environment and the queues its role may send to
    variables = cfn.resources["AppsFunction"]["Properties"]["Environment"]["Variables"]

    # Then it knows the run and delivery queues' URLs and may send to those two queues only
    assert variables["RUN_QUEUE_URL"] == {"Ref": "RunQueue"}
    assert variables["DELIVERY_QUEUE_URL"] == {"Ref": "DeliveryQueue"}
    assert _sends_to(cfn, "AppsFunction") == sorted(
        cfn.get_att(q, "Arn") for q in ("RunQueue", "DeliveryQueue")
    )


def test_management_function_enqueues_link_events_and_oauth_revocations_only(cfn: Template) -> None:
    # Given the management function's environment / Then it sends to the delivery queue (link events) and the
    # run queue (a revoked OAuth link's revocation at its provider, for the dispatcher), and nowhere else
    variables = cfn.resources["ManagementFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["DELIVERY_QUEUE_URL"] == {"Ref": "DeliveryQueue"}
    assert variables["RUN_QUEUE_URL"] == {"Ref": "RunQueue"}
    assert sorted(_sends_to(cfn, "ManagementFunction")) == sorted(
        [cfn.get_att("DeliveryQueue", "Arn"), cfn.get_att("RunQueue", "Arn")]
    )


def test_apps_function_starts_runs_on_the_executors_aliases_and_invokes_the_trigger_function_for_webhooks(
    cfn: Template,
) -> None:
    # Given the Apps function's environment and role
    variables = cfn.resources["AppsFunction"]["Properties"]["Environment"]["Variables"]
    statements = role_statements(cfn.resources, function_role(cfn.resources, "AppsFunction"))

    # When the statements allowing an invoke are collected
    resources = [
        resource
        for statement in statements
        if allows(statement, INVOKE)
        for resource in statement_resources(statement, cfn)
    ]

    # Then it knows both executors' aliases (durable executions start on a qualified ARN: sync and stream
    # runs on the sync executor, a background run the queue refused on the background one) and the trigger
    # function's name, and may invoke those three only
    assert variables["EXECUTOR_FUNCTION"] == {"Ref": "ExecutorFunctionAliaslive"}
    assert variables["BACKGROUND_EXECUTOR_FUNCTION"] == {"Ref": "BackgroundExecutorFunctionAliaslive"}
    assert variables["TRIGGER_FUNCTION"] == {"Ref": "TriggerFunction"}
    assert sorted(resources) == sorted(
        [
            cfn.get_att("ExecutorFunction", "Arn") + ":live",
            cfn.get_att("BackgroundExecutorFunction", "Arn") + ":live",
            cfn.get_att("TriggerFunction", "Arn"),
        ]
    )


def test_run_files_are_private_encrypted_and_tls_only(cfn: Template) -> None:
    # Given the files bucket and its policy
    bucket = cfn.resources["FilesBucket"]
    policy = cfn.resources["FilesBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    # Then it blocks public access, encrypts, expires objects and denies plain HTTP
    block = bucket["Properties"]["PublicAccessBlockConfiguration"]
    assert all(
        block[flag] is True
        for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    assert bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] > 0
    assert any(
        statement["Effect"] == "Deny" and statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        for statement in policy
    )
    assert bucket["DeletionPolicy"] == "Retain"


# ---------------------------------------------------------------- triggers: schedules, trigger function

SCHEDULE_ACTIONS = ("scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule")


def _grants(cfn: Template, role_id: str, service: str) -> set[tuple[str, str]]:
    """(action, resource) of every Allow of the role for actions of ``service`` (or wildcards covering it)."""
    return {
        (str(action), resource)
        for statement in role_statements(cfn.resources, role_id)
        if statement.get("Effect") == "Allow"
        for action in _as_list(statement.get("Action", "*"))
        if action_matches(str(action).split(":", maxsplit=1)[0], service)
        for resource in statement_resources(statement, cfn)
    }


def _invokers(cfn: Template, function_id: str) -> set[str]:
    """Roles allowed to invoke the function (unqualified or an alias)."""
    arn = cfn.get_att(function_id, "Arn")
    return {
        role_id
        for role_id in roles(cfn.resources)
        for statement in role_statements(cfn.resources, role_id)
        if allows(statement, INVOKE)
        for resource in statement_resources(statement, cfn)
        if any(wildcard_match(resource, target, ignore_case=False) for target in (arn, f"{arn}:live"))
    }


def test_trigger_schedules_have_their_own_group(cfn: Template) -> None:
    # Given the stack's Scheduler schedule groups / Then there is the trigger group, named by CloudFormation
    groups = cfn.resources_of_type("AWS::Scheduler::ScheduleGroup")
    assert list(groups) == ["TriggerScheduleGroup"]
    assert "Name" not in groups["TriggerScheduleGroup"].get("Properties", {})


def test_management_function_knows_what_schedules_target(cfn: Template) -> None:
    # Given the management function's environment
    variables = cfn.resources["ManagementFunction"]["Properties"]["Environment"]["Variables"]

    # Then it names the schedule group, the trigger function, the role Scheduler runs as and the DLQ
    assert variables["SCHEDULE_GROUP"] == {"Ref": "TriggerScheduleGroup"}
    assert variables["TRIGGER_FUNCTION_ARN"] == {"Fn::GetAtt": ["TriggerFunction", "Arn"]}
    assert variables["SCHEDULER_ROLE_ARN"] == {"Fn::GetAtt": ["SchedulerRole", "Arn"]}
    assert variables["TRIGGER_DLQ_ARN"] == {"Fn::GetAtt": ["TriggerDeadLetterQueue", "Arn"]}


def test_only_the_management_role_manages_schedules_and_only_in_the_trigger_group(cfn: Template) -> None:
    # Given every role's Scheduler grants and the trigger group's schedules
    management = function_role(cfn.resources, "ManagementFunction")
    group_schedules = (
        f"arn:{STACK.partition}:scheduler:{STACK.region}:{STACK.account_id}:"
        f"schedule/{cfn.ref('TriggerScheduleGroup')}/*"
    )
    grants = {role_id: _grants(cfn, role_id, "scheduler") for role_id in roles(cfn.resources)}

    # Then the management role may create, update and delete schedules of that group, and nothing else of
    # Scheduler (no wildcard action, no group management); no other role touches Scheduler
    assert grants[management] == {(action, group_schedules) for action in SCHEDULE_ACTIONS}
    assert {role_id for role_id, granted in grants.items() if granted} == {management}


def test_only_the_management_role_passes_a_role_and_only_the_scheduler_role_to_scheduler(
    cfn: Template,
) -> None:
    # Given every Allow of iam:PassRole in the stack
    passing = [
        (role_id, statement)
        for role_id in roles(cfn.resources)
        for statement in role_statements(cfn.resources, role_id)
        if allows(statement, "iam:PassRole")
    ]

    # Then one statement, of the management role, passes the Scheduler role, and only to Scheduler
    assert len(passing) == 1
    role_id, statement = passing[0]
    assert role_id == function_role(cfn.resources, "ManagementFunction")
    assert statement_resources(statement, cfn) == [cfn.get_att("SchedulerRole", "Arn")]
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}


def test_scheduler_role_is_assumed_only_by_scheduler_for_the_trigger_group(cfn: Template) -> None:
    # Given the role the schedules run as
    role = cfn.resources["SchedulerRole"]["Properties"]

    # Then only EventBridge Scheduler may assume it, for this account's trigger group (no confused deputy),
    # and it carries no managed policy
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "scheduler.amazonaws.com"},
            "Action": "sts:AssumeRole",
            "Condition": {
                "StringEquals": {
                    "aws:SourceAccount": {"Ref": "AWS::AccountId"},
                    "aws:SourceArn": {"Fn::GetAtt": ["TriggerScheduleGroup", "Arn"]},
                }
            },
        }
    ]
    assert role.get("ManagedPolicyArns", []) == []


def test_scheduler_role_only_invokes_the_trigger_function_and_the_sweep_and_parks_failed_firings(
    cfn: Template,
) -> None:
    # Given every action the Scheduler role is allowed, on what
    granted = {
        (str(action), resource)
        for statement in role_statements(cfn.resources, "SchedulerRole")
        if statement.get("Effect") == "Allow"
        for action in _as_list(statement["Action"])
        for resource in statement_resources(statement, cfn)
    }

    # Then it is exactly: invoke the trigger function and the sweep, send to their dead-letter queues
    assert all("NotAction" not in s for s in role_statements(cfn.resources, "SchedulerRole"))
    assert granted == {
        (INVOKE, cfn.get_att("TriggerFunction", "Arn")),
        (INVOKE, cfn.get_att("DispatcherFunction", "Arn")),
        ("sqs:SendMessage", cfn.get_att("TriggerDeadLetterQueue", "Arn")),
        ("sqs:SendMessage", cfn.get_att("SweepDeadLetterQueue", "Arn")),
    }


def test_only_scheduler_and_the_apps_function_may_invoke_the_trigger_function(cfn: Template) -> None:
    # Given the roles allowed to invoke the trigger function, and the Lambda permissions on it
    permissions = [
        logical_id
        for logical_id, permission in cfn.resources_of_type("AWS::Lambda::Permission").items()
        if "TriggerFunction" in references(permission["Properties"]["FunctionName"])
    ]

    # Then the Scheduler role (schedules) and the Apps function's role (webhook events) are the only ones,
    # and no resource-based permission opens it to anyone else
    assert _invokers(cfn, "TriggerFunction") == {
        "SchedulerRole",
        function_role(cfn.resources, "AppsFunction"),
    }
    assert permissions == []


def test_trigger_function_runs_with_its_explicit_role(cfn: Template) -> None:
    # Given the transformed trigger function and its role
    properties = cfn.resources["TriggerFunction"]["Properties"]
    role = cfn.resources["TriggerRole"]["Properties"]
    variables = properties["Environment"]["Variables"]

    # Then it uses TriggerRole, which only Lambda can assume, and knows the run queue and the key of webhook
    # triggers' secrets, not the credentials function
    assert function_role(cfn.resources, "TriggerFunction") == "TriggerRole"
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ]
    assert variables["RUN_QUEUE_URL"] == {"Ref": "RunQueue"}
    assert variables["TRIGGER_SECRETS_KEY"] == {"Fn::GetAtt": ["TriggerSecretsKey", "Arn"]}
    assert "CREDENTIALS_FUNCTION" not in variables
    assert variables["POWERTOOLS_SERVICE_NAME"] == "trigger"


def test_trigger_role_reaches_only_what_firing_needs(cfn: Template) -> None:
    # Given the trigger role's statements and the ARNs involved
    statements = role_statements(cfn.resources, "TriggerRole")
    control, runs, links = (
        cfn.get_att(table, "Arn") for table in ("ControlTable", "RunsTable", "LinksTable")
    )
    allowed_on = partial(_allowed_on, cfn, statements)

    # Then it reads the control table without writing it, reads links and may only record a link's expiry
    # (put + update, never delete), writes runs and trigger events, sends to the run and delivery queues
    # and parks failed firings (nothing else), invokes no function, decrypts with the trigger secrets key
    # only, and reads no secret
    assert all(allowed_on(f"dynamodb:{a}", control) for a in ("GetItem", "Query", "BatchGetItem"))
    assert all(allowed_on(f"dynamodb:{a}", links) for a in ("GetItem", "Query", "BatchGetItem"))
    writes = (*CONTROL_TABLE_WRITES, "dynamodb:UpdateItem")
    assert not any(allowed_on(action, control) for action in writes)
    assert all(allowed_on(f"dynamodb:{a}", links) for a in ("PutItem", "UpdateItem"))
    assert not any(allowed_on(f"dynamodb:{a}", links) for a in ("DeleteItem", "BatchWriteItem", "Scan"))
    assert all(allowed_on(f"dynamodb:{a}", runs) for a in ("GetItem", "PutItem", "UpdateItem", "Query"))
    assert not any(allowed_on(f"dynamodb:{a}", runs) for a in ("DeleteItem", "BatchWriteItem", "Scan"))
    assert _grants(cfn, "TriggerRole", "sqs") == {
        ("sqs:SendMessage", cfn.get_att("RunQueue", "Arn")),
        ("sqs:SendMessage", cfn.get_att("DeliveryQueue", "Arn")),
        ("sqs:SendMessage", cfn.get_att("TriggerDeadLetterQueue", "Arn")),
    }
    assert _grants(cfn, "TriggerRole", "lambda") == set()
    assert _grants(cfn, "TriggerRole", "kms") == {("kms:Decrypt", cfn.get_att("TriggerSecretsKey", "Arn"))}
    assert not any(allows(statement, action) for statement in statements for action in SECRET_READS)


def test_trigger_dead_letter_queue_is_encrypted_and_keeps_firings_14_days(cfn: Template) -> None:
    # Given the queue Scheduler parks undeliverable firings in
    queue = cfn.resources["TriggerDeadLetterQueue"]["Properties"]

    # Then it is encrypted and keeps them for the longest SQS allows
    assert queue["SqsManagedSseEnabled"] is True
    assert queue["MessageRetentionPeriod"] == 14 * 24 * 3600


# ---------------------------------------------------------------- webhook triggers' secrets: the KMS key

KEY_USES = ("kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:GenerateDataKey", "kms:CreateGrant")


def test_the_trigger_secrets_key_is_rotated_retained_and_named_to_its_users(cfn: Template) -> None:
    # Given the stack's KMS keys and the environments of the functions that use the key
    keys = cfn.resources_of_type("AWS::KMS::Key")
    key = keys["TriggerSecretsKey"]

    # Then it is a symmetric key (next to the link secrets key), rotated yearly, kept when the stack goes
    # (the items it encrypted are kept too), and the management and trigger functions name it
    assert sorted(keys) == ["LinkSecretsKey", "TriggerSecretsKey"]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    for function_id in ("ManagementFunction", "TriggerFunction"):
        variables = cfn.resources[function_id]["Properties"]["Environment"]["Variables"]
        assert variables["TRIGGER_SECRETS_KEY"] == {"Fn::GetAtt": ["TriggerSecretsKey", "Arn"]}, function_id


def test_only_the_trigger_role_may_decrypt_webhook_trigger_secrets(cfn: Template) -> None:
    # Given the key's ARN and every role of the stack
    key = cfn.get_att("TriggerSecretsKey", "Arn")
    management = function_role(cfn.resources, "ManagementFunction")

    # When each role's use of the key is evaluated (its own statements and the key's policy)
    granted = {
        (role_id, action)
        for role_id in roles(cfn.resources)
        for action in KEY_USES
        if permits(cfn, role_id, action, key)
    }

    # Then the management role encrypts (a new trigger's secret) and the trigger role decrypts, nothing more
    assert granted == {(management, "kms:Encrypt"), ("TriggerRole", "kms:Decrypt")}
    # And no role holds a kms wildcard that a later key could fall under
    assert all(
        not action.endswith("*")
        for role_id in roles(cfn.resources)
        for action, _resource in _grants(cfn, role_id, "kms")
    )


def test_the_key_policy_denies_decrypting_to_every_principal_but_the_trigger_role(cfn: Template) -> None:
    # Given the key's policy, and the management role given kms:* on every key by some other policy
    key = cfn.get_att("TriggerSecretsKey", "Arn")
    statements = _as_list(cfn.resources["TriggerSecretsKey"]["Properties"]["KeyPolicy"]["Statement"])
    management = function_role(cfn.resources, "ManagementFunction")
    bent = _with_statement(cfn, management, {"Effect": "Allow", "Action": "kms:*", "Resource": "*"})

    # Then one Deny for every principal but the trigger role covers decrypting and re-encrypting from the key
    denials = [
        statement
        for statement in statements
        if statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Resource"] == "*"
    ]
    assert len(denials) == 1
    assert {
        action for action in ("kms:Decrypt", "kms:ReEncryptFrom") if statement_covers(denials[0], action)
    } == {
        "kms:Decrypt",
        "kms:ReEncryptFrom",
    }
    assert denials[0]["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": ["TriggerRole", "Arn"]}}
    }
    # And so even the widened management role still encrypts but cannot decrypt, while the trigger role can
    assert permits(bent, management, "kms:Encrypt", key)
    assert not permits(bent, management, "kms:Decrypt", key)
    assert not permits(bent, management, "kms:ReEncryptFrom", key)
    assert permits(bent, "TriggerRole", "kms:Decrypt", key)
