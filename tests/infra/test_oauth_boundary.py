"""The OAuth 2.0 callback's way to the code exchange on the SAM-transformed template: the Apps role (internet
facing) seals the state and hands it to the run queue, and nothing more; the dispatcher's role (the
executor's) consumes that queue and is the only one that may invoke the credentials function, the only role
that opens what the Apps role sealed."""

from __future__ import annotations

from switchboard.runtime.credentials.oauth_tokens import LEASE_SECONDS, WAIT_SECONDS
from switchboard_cli.local.template import Template
from tests.infra.test_template import INVOKE
from tests.support.iam import function_role, permits


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
