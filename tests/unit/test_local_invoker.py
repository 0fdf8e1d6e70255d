"""Lambda-to-Lambda invokes run the callee in its own execution environment (a worker process) under the
template's caller rule (the resource policy), checked against the function the call comes from."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from switchboard.invoker import FunctionError
from switchboard_cli.local.functions import current_function, function_specs, load_functions, running
from switchboard_cli.local.invoker import LocalInvoker, derive_allowed_callers, function_id_from_name
from switchboard_cli.local.template import Template

TEMPLATE = """
Resources:
  ExecutorRole: {Type: AWS::IAM::Role}
  OtherRole: {Type: AWS::IAM::Role}
  Executor:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: executor/, Handler: app.handler, Role: !GetAtt ExecutorRole.Arn}
  Credentials:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: credentials/, Handler: app.handler}
  Reporter:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: reporter/, Handler: app.handler, Role: !GetAtt OtherRole.Arn}
  Api:
    Type: AWS::Serverless::Function
    Properties: {CodeUri: api/, Handler: app.handler}
  CredentialsPolicy:
    Type: AWS::Lambda::ResourcePolicy
    Properties:
      ResourceArn: !GetAtt Credentials.Arn
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Deny
            Principal: "*"
            Action: lambda:InvokeFunction
            Resource: !GetAtt Credentials.Arn
            Condition:
              ArnNotEquals: {"aws:PrincipalArn": !GetAtt ExecutorRole.Arn}
  ReporterPermission:
    Type: AWS::Lambda::Permission
    Properties:
      FunctionName: !Ref Reporter
      Action: lambda:InvokeFunction
      Principal: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${OtherRole}"
  SchedulerPermission:
    Type: AWS::Lambda::Permission
    Properties:
      FunctionName: !Ref Api
      Action: lambda:InvokeFunction
      Principal: scheduler.amazonaws.com
"""

HANDLERS = {
    # The executor calls the credentials function through the seam, as the real one will.
    "executor": """
        from switchboard.invoker import get_invoker

        def handler(event, context):
            target = event.get("target", "Credentials")
            return {"credentials": get_invoker().invoke(target, {"ids": ["con-1"]})}
    """,
    "credentials": """
        from switchboard_cli.local.functions import current_function

        def handler(event, context):
            if event.get("fail"):
                raise ValueError("no such connection")
            return {"ids": event["ids"], "running": current_function.get(), "request": context.aws_request_id}
    """,
    "reporter": """
        def handler(event, context):
            return {"remaining_ms": context.get_remaining_time_in_millis(), "name": context.function_name}
    """,
    "api": """
        from switchboard.invoker import get_invoker

        def handler(event, context):
            return get_invoker().invoke(event["target"], event.get("payload", {}))
    """,
}


@pytest.fixture
def template(tmp_path: Path) -> Template:
    for name, source in HANDLERS.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text(textwrap.dedent(source))
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    return Template.from_file(tmp_path / "template.yaml")


@pytest.fixture
def invoker(template: Template):
    from switchboard import invoker as seam

    specs = function_specs(template)
    functions = load_functions(template, specs)
    local = LocalInvoker(functions, derive_allowed_callers(template, specs))
    previous = seam.get_invoker()
    seam.set_invoker(local)
    yield local
    seam.set_invoker(previous)
    for function in functions.values():
        function.close()


def test_allowed_callers_come_from_policies_that_name_roles(template: Template):
    # When the allow-list is derived
    allowed = derive_allowed_callers(template, function_specs(template))

    # Then only role-restricted callees appear, each with the functions that use the role
    assert allowed == {"Credentials": {"Executor"}, "Reporter": {"Reporter"}}


def test_the_real_template_lets_only_the_executor_roles_functions_call_the_credentials_function():
    # Given the project's own template.yaml
    template = Template.from_file(Path(__file__).resolve().parents[2] / "template.yaml")

    # When the allow-list is derived from its resource policies
    allowed = derive_allowed_callers(template, function_specs(template))

    # Then the credentials function is the one restricted callee, and the executor role's three functions (the
    # sync and background durable executors: runs; their dispatcher: deliveries' signing secrets) its only
    # callers: not the trigger function (it decrypts webhook secrets itself), nor any API function
    executor_role = {"BackgroundExecutorFunction", "DispatcherFunction", "ExecutorFunction"}
    assert allowed == {"CredentialsFunction": executor_role}


def test_the_permitted_caller_reaches_the_callee(invoker: LocalInvoker):
    # When the executor (the only permitted caller) calls the credentials function
    result = invoker.invoke("Executor", {})

    # Then the callee ran as itself, with its own request id
    assert result["credentials"]["ids"] == ["con-1"]
    assert result["credentials"]["running"] == "Credentials"
    assert result["credentials"]["request"]


def test_any_other_caller_is_refused_naming_both(invoker: LocalInvoker):
    with (
        running("Api"),
        pytest.raises(
            PermissionError, match=r"Api is not allowed to invoke Credentials \(only Executor may\)"
        ),
    ):
        invoker.invoke("Credentials", {"ids": []})


def test_a_refusal_inside_a_handler_fails_that_handler(invoker: LocalInvoker):
    with pytest.raises(FunctionError) as raised:
        invoker.invoke("Api", {"target": "Credentials", "payload": {"ids": []}})
    assert raised.value.payload["errorType"] == "PermissionError"


def test_code_outside_any_function_is_refused_for_restricted_callees(invoker: LocalInvoker):
    assert current_function.get() is None
    with pytest.raises(PermissionError, match="outside any function"):
        invoker.invoke("Credentials", {"ids": []})


def test_unrestricted_functions_are_open_to_the_stack(invoker: LocalInvoker):
    with running("Executor"):
        result = invoker.invoke("Api", {"target": "Executor"})
    assert result["credentials"]["running"] == "Credentials"


def test_a_handler_error_is_a_function_error_with_lambdas_document(invoker: LocalInvoker):
    with running("Executor"), pytest.raises(FunctionError) as raised:
        invoker.invoke("Credentials", {"fail": True})
    assert raised.value.payload["errorType"] == "ValueError"
    assert raised.value.payload["errorMessage"] == "no such connection"


def test_arns_and_qualifiers_name_the_same_function(invoker: LocalInvoker):
    assert function_id_from_name("arn:aws:lambda:us-east-1:123456789012:function:Reporter:live") == "Reporter"
    assert function_id_from_name("Reporter:$LATEST") == "Reporter"
    with running("Reporter"):
        result = invoker.invoke("arn:aws:lambda:us-east-1:123456789012:function:Reporter", {})
    assert result["name"] == "Reporter"
    assert 0 < result["remaining_ms"] <= 3000


def test_unknown_functions_are_a_lookup_error(invoker: LocalInvoker):
    with pytest.raises(LookupError, match="Nobody"):
        invoker.invoke("Nobody", {})
