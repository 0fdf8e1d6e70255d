"""The link secrets key on the SAM-transformed template: end users' link secrets (and OAuth states' parts) are
sealed under it by the Apps function (and a builder's OAuth state by the management function), and decrypted
by the credentials function's role only (its IAM and the key's policy)."""

from __future__ import annotations

from switchboard_cli.local.template import Template
from tests.infra.test_template import KEY_USES, _grants, _with_statement
from tests.support.iam import as_list, function_role, permits, roles, statement_covers

KEY = "LinkSecretsKey"


def test_the_link_secrets_key_is_rotated_retained_and_named_to_its_users(cfn: Template) -> None:
    # Given the key and the functions' environments
    key = cfn.resources_of_type("AWS::KMS::Key")[KEY]

    # Then it is a symmetric key, rotated yearly, kept when the stack goes (the links it sealed are kept too)
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    # And the functions that seal and the one that opens name it, and no other function does
    named = {
        function_id
        for function_id, function in cfn.resources_of_type("AWS::Lambda::Function").items()
        if "LINK_SECRETS_KEY" in function["Properties"].get("Environment", {}).get("Variables", {})
    }
    assert named == {"AppsFunction", "ManagementFunction", "CredentialsFunction"}
    for function_id in named:
        variables = cfn.resources[function_id]["Properties"]["Environment"]["Variables"]
        assert variables["LINK_SECRETS_KEY"] == {"Fn::GetAtt": [KEY, "Arn"]}, function_id


def test_only_the_credentials_role_decrypts_and_only_the_apps_management_and_credentials_roles_seal(
    cfn: Template,
) -> None:
    # Given the key's ARN and every role of the stack
    key = cfn.get_att(KEY, "Arn")
    apps = function_role(cfn.resources, "AppsFunction")
    management = function_role(cfn.resources, "ManagementFunction")
    credentials = function_role(cfn.resources, "CredentialsFunction")

    # When each role's use of the key is evaluated (its own statements and the key's policy)
    granted = {
        (role_id, action)
        for role_id in roles(cfn.resources)
        for action in KEY_USES
        if permits(cfn, role_id, action, key)
    }

    # Then the Apps role generates data keys (a link's seal, an OAuth state's verifier and code), the
    # management role too (the verifier of a builder's authorization of a connection), and the credentials
    # role decrypts and seals (the tokens of an OAuth code exchange), nothing more: neither the Apps nor the
    # management role can open what it sealed, and the executor roles, the trigger role and the rest cannot
    # open a link's secret
    assert granted == {
        (apps, "kms:GenerateDataKey"),
        (management, "kms:GenerateDataKey"),
        (credentials, "kms:Decrypt"),
        (credentials, "kms:GenerateDataKey"),
    }
    # And the roles hold no kms wildcard a later key could fall under
    for role_id in (apps, management, credentials):
        assert all(not action.endswith("*") for action, _ in _grants(cfn, role_id, "kms")), role_id


def test_the_key_policy_denies_decrypting_to_every_principal_but_the_credentials_role(cfn: Template) -> None:
    # Given the key's policy, and the Apps and executor roles given kms:* on every key by some other policy
    key = cfn.get_att(KEY, "Arn")
    statements = as_list(cfn.resources[KEY]["Properties"]["KeyPolicy"]["Statement"])
    apps = function_role(cfn.resources, "AppsFunction")
    credentials = function_role(cfn.resources, "CredentialsFunction")
    widened = {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}
    bent = _with_statement(_with_statement(cfn, apps, widened), "ExecutorRole", widened)

    # Then one Deny for every principal but the credentials role covers decrypting and re-encrypting from it
    denials = [
        statement
        for statement in statements
        if statement["Effect"] == "Deny" and statement["Principal"] == "*" and statement["Resource"] == "*"
    ]
    assert len(denials) == 1
    assert all(statement_covers(denials[0], action) for action in ("kms:Decrypt", "kms:ReEncryptFrom"))
    assert denials[0]["Condition"] == {
        "ArnNotEquals": {"aws:PrincipalArn": {"Fn::GetAtt": [credentials, "Arn"]}}
    }
    # And so even the widened roles still seal but cannot decrypt, while the credentials role can
    assert permits(bent, apps, "kms:GenerateDataKey", key)
    for role_id in (apps, "ExecutorRole"):
        assert not permits(bent, role_id, "kms:Decrypt", key), role_id
        assert not permits(bent, role_id, "kms:ReEncryptFrom", key), role_id
    assert permits(bent, credentials, "kms:Decrypt", key)
