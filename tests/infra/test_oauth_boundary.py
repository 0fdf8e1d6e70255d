"""The OAuth 2.0 callback's way to the code exchange on the SAM-transformed template: the Apps role (internet
facing) seals the state and hands it to the run queue, and nothing more; the dispatcher's role (the
executor's) consumes that queue and is the only one that may invoke the credentials function, the only role
that opens what the Apps role sealed. A builder's authorization of a project connection takes the same way
(the management role seals its state), and only the credentials role reads and writes the connection's
tokens."""

from __future__ import annotations

from switchboard.runtime.credentials.oauth_tokens import LEASE_SECONDS, WAIT_SECONDS
from switchboard_cli.local.template import Template
from tests.infra.test_template import INVOKE, SECRET_PREFIX_ARN, SECRET_READS
from tests.support.iam import function_role, permits, roles


def test_the_callback_reaches_the_exchange_without_widening_the_boundary(cfn: Template) -> None:
    # Given the roles of the Apps function, the dispatcher and the credentials function, and what they touch
    apps = function_role(cfn.resources, "AppsFunction")
    dispatcher = function_role(cfn.resources, "DispatcherFunction")
    credentials = function_role(cfn.resources, "CredentialsFunction")
    function = cfn.get_att("CredentialsFunction", "Arn")
    queue = cfn.get_att("RunQueue", "Arn")
    key = cfn.get_att("LinkSecretsKey", "Arn")

    # Then the Apps role seals (the verifier, the code) and queues the exchange
    assert permits(cfn, apps, "kms:GenerateDataKey", key)
    assert permits(cfn, apps, "sqs:SendMessage", queue)
    # And it can neither open what it sealed nor invoke the credentials function, on any qualifier
    assert not permits(cfn, apps, "kms:Decrypt", key)
    assert not any(permits(cfn, apps, INVOKE, target) for target in (function, f"{function}:live"))
    # And the dispatcher, under the executor's role, consumes the queue and invokes the credentials function
    assert dispatcher == "ExecutorRole"
    assert permits(cfn, dispatcher, "sqs:ReceiveMessage", queue)
    assert permits(cfn, dispatcher, INVOKE, function)
    assert not permits(cfn, dispatcher, "kms:Decrypt", key)
    # And only the credentials role opens the sealed parts and seals the tokens it links
    assert permits(cfn, credentials, "kms:Decrypt", key)
    assert permits(cfn, credentials, "kms:GenerateDataKey", key)


def test_a_revocation_at_the_provider_reaches_the_credentials_function_the_same_way(cfn: Template) -> None:
    # Given the roles of the two functions that revoke links (the end user's unlink, a builder's revocation)
    apps = function_role(cfn.resources, "AppsFunction")
    management = function_role(cfn.resources, "ManagementFunction")
    function = cfn.get_att("CredentialsFunction", "Arn")
    queue = cfn.get_att("RunQueue", "Arn")
    key = cfn.get_att("LinkSecretsKey", "Arn")
    # Then each may queue the revocation for the dispatcher, and knows where the queue is
    for role in (apps, management):
        assert permits(cfn, role, "sqs:SendMessage", queue)
    variables = cfn.resources["ManagementFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["RUN_QUEUE_URL"] == {"Ref": "RunQueue"}
    # And neither can open the tokens it keeps sealed for it, nor invoke the credentials function
    for role in (apps, management):
        assert not permits(cfn, role, "kms:Decrypt", key)
        assert not any(permits(cfn, role, INVOKE, target) for target in (function, f"{function}:live"))


def test_a_builders_authorization_of_a_connection_stores_its_tokens_behind_the_boundary(
    cfn: Template,
) -> None:
    # Given the management and credentials functions' roles, a project connection's secret, a connection item
    # and another control-table item (a token's), and the link secrets key
    management = function_role(cfn.resources, "ManagementFunction")
    credentials = function_role(cfn.resources, "CredentialsFunction")
    secret = f"{SECRET_PREFIX_ARN}projects/prj-1/connections/con-1-AbC123"
    control = cfn.get_att("ControlTable", "Arn")
    key = cfn.get_att("LinkSecretsKey", "Arn")
    connection_item = {"dynamodb:LeadingKeys": ["CONNECTION#con-1"]}
    token_item = {"dynamodb:LeadingKeys": ["TOKEN#tok-1"]}

    # Then the management role seals the state's verifier and writes the connection's secret (its config)
    # but can neither open the seal nor read the secret
    assert permits(cfn, management, "kms:GenerateDataKey", key)
    assert permits(cfn, management, "secretsmanager:PutSecretValue", secret)
    assert not permits(cfn, management, "kms:Decrypt", key)
    assert not any(permits(cfn, management, action, secret) for action in SECRET_READS)
    # And of every role of the stack, only the credentials role reads the connection's secret
    readers = {
        role for role in roles(cfn.resources) if any(permits(cfn, role, a, secret) for a in SECRET_READS)
    }
    assert readers == {credentials}
    # And it writes the tokens there, and puts connection items only (the upstream account, token_version)
    assert permits(cfn, credentials, "secretsmanager:PutSecretValue", secret)
    assert permits(cfn, credentials, "dynamodb:PutItem", control, connection_item)
    assert not permits(cfn, credentials, "dynamodb:PutItem", control, token_item)


def test_a_refresh_lease_outlives_the_credentials_function_that_holds_it(cfn: Template) -> None:
    # Given the credentials function's timeout, and how long a refresher's lease on a link lasts and how
    # long the others wait for it
    timeout = cfn.resources["CredentialsFunction"]["Properties"]["Timeout"]
    # Then a lease that ran out belongs to a refresher Lambda has stopped (so the one who takes it over never
    # sends a refresh token while another may still be sending it), and a waiter gives up before its own end
    assert timeout < LEASE_SECONDS
    assert timeout > WAIT_SECONDS
    # And the refresh behind it needs nothing new: the credentials role updates the link items it leases
    credentials = function_role(cfn.resources, "CredentialsFunction")
    links = cfn.get_att("LinksTable", "Arn")
    assert permits(cfn, credentials, "dynamodb:UpdateItem", links)
    assert permits(cfn, credentials, "dynamodb:TransactWriteItems", links)


def test_a_connections_refresh_updates_only_connection_items_and_only_the_credentials_role_may(
    cfn: Template,
) -> None:
    # Given every role of the stack, a project connection's item and secret, and other control-table items
    credentials = function_role(cfn.resources, "CredentialsFunction")
    secret = f"{SECRET_PREFIX_ARN}projects/prj-1/connections/con-1-AbC123"
    control = cfn.get_att("ControlTable", "Arn")
    connection_item = {"dynamodb:LeadingKeys": ["CONNECTION#con-1"]}
    others = [{"dynamodb:LeadingKeys": [key]} for key in ("TOKEN#tok-1", "PROJECT#prj-1", "APP#app-1")]
    # Then the credentials role may lease, bump and expire a connection item (UpdateItem) and put the
    # refreshed tokens as a new version of its secret, and update no other control-table item
    assert permits(cfn, credentials, "dynamodb:UpdateItem", control, connection_item)
    assert permits(cfn, credentials, "secretsmanager:PutSecretValue", secret)
    assert not any(permits(cfn, credentials, "dynamodb:UpdateItem", control, other) for other in others)
    # And no role but the management one (which edits connections) and the credentials one updates
    # connection items
    updaters = {
        role
        for role in roles(cfn.resources)
        if permits(cfn, role, "dynamodb:UpdateItem", control, connection_item)
    }
    assert updaters == {credentials, function_role(cfn.resources, "ManagementFunction")}
