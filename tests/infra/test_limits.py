"""Limits and failure paths, proven on the SAM-transformed template: stage throttling, reserved concurrency
and queue concurrency come from parameters (defaults as README's "Limits and scale" table says), every queue
an event source reads redrives to a dead-letter queue, and every function invoked asynchronously records
its failures in a queue (nothing is dropped)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from switchboard_cli.local.template import Template, load_template, references
from tests.infra.conftest import ROOT, STACK, TEMPLATE, transform
from tests.support.iam import allowed_on, as_list, function_role, role_statements

INVOKE = "lambda:InvokeFunction"

LIMITS = {
    "ManagementApiRateLimit": "13",
    "ManagementApiBurstLimit": "17",
    "AppsApiRateLimit": "1900",
    "AppsApiBurstLimit": "2300",
    "CredentialsReservedConcurrency": "120",
    "BackgroundMaximumConcurrency": "25",
    "BackgroundExecutorReservedConcurrency": "150",
}
"""Parameter values unlike every default, so each one is seen to reach its resource."""

ACCOUNT_CONCURRENCY = 1000
"""Lambda's default concurrent executions per account and region."""

UNRESERVED_MINIMUM = 100
"""What Lambda keeps unreserved in every account: reservations may not go below it."""


@pytest.fixture(scope="module")
def cfn_with_limits() -> Template:
    """The transformed template deployed with every limit parameter set."""
    return Template(transform(LIMITS), ROOT, LIMITS, STACK)


def _only(ids: set[str]) -> str:
    (logical_id,) = ids
    return logical_id


def _copy(cfn: Template) -> Template:
    return Template(json.loads(json.dumps(cfn.document)), ROOT, dict(cfn.parameter_overrides), STACK)


def _stage(cfn: Template, api_id: str) -> dict[str, Any]:
    (stage,) = [
        dict(resource["Properties"])
        for resource in cfn.resources_of_type("AWS::ApiGatewayV2::Stage").values()
        if resource["Properties"]["ApiId"] == {"Ref": api_id}
    ]
    return stage


def _queue_mappings(cfn: Template) -> dict[str, dict[str, Any]]:
    """Queue logical id → the event source mapping that reads it."""
    mappings = {}
    for mapping in cfn.resources_of_type("AWS::Lambda::EventSourceMapping").values():
        (queue_id,) = references(mapping["Properties"]["EventSourceArn"])
        if cfn.resources[queue_id]["Type"] == "AWS::SQS::Queue":
            mappings[queue_id] = mapping["Properties"]
    return mappings


# ---------------------------------------------------------------- concurrency and throttling


def test_api_stage_throttling_defaults_are_the_documented_ones(cfn: Template) -> None:
    # Given both HTTP API stages deployed with default parameters
    management = cfn.resolve(_stage(cfn, "ManagementApi")["DefaultRouteSettings"])
    apps = cfn.resolve(_stage(cfn, "AppsApi")["DefaultRouteSettings"])

    # Then the management stage takes 100 rps (burst 200) and the Apps stage 250 rps (burst 500)
    assert management == {"ThrottlingRateLimit": "100", "ThrottlingBurstLimit": "200"}
    assert apps == {"ThrottlingRateLimit": "250", "ThrottlingBurstLimit": "500"}


def test_api_stage_throttling_follows_its_parameters(cfn_with_limits: Template) -> None:
    # Given both stages deployed with other rates and bursts
    cfn = cfn_with_limits
    management = cfn.resolve(_stage(cfn, "ManagementApi")["DefaultRouteSettings"])
    apps = cfn.resolve(_stage(cfn, "AppsApi")["DefaultRouteSettings"])

    # Then each stage throttles at exactly those values
    assert management == {"ThrottlingRateLimit": "13", "ThrottlingBurstLimit": "17"}
    assert apps == {"ThrottlingRateLimit": "1900", "ThrottlingBurstLimit": "2300"}


def test_credentials_function_has_reserved_concurrency_from_its_parameter(
    cfn: Template, cfn_with_limits: Template
) -> None:
    # Given the credentials function deployed with the default and with another reservation
    default = cfn.resolve(cfn.resources["CredentialsFunction"]["Properties"])
    chosen = cfn_with_limits.resolve(cfn_with_limits.resources["CredentialsFunction"]["Properties"])

    # Then it reserves 50 by default and what the parameter says otherwise
    assert default["ReservedConcurrentExecutions"] == "50"
    assert chosen["ReservedConcurrentExecutions"] == "120"


def test_credentials_reservation_zero_reserves_nothing_rather_than_throttling_everything() -> None:
    # Given an account whose concurrency quota is too small to reserve any (the parameter set to 0)
    parameters = {"CredentialsReservedConcurrency": "0"}
    cfn = Template(transform(parameters), ROOT, parameters, STACK)

    # Then the property is left out (0 would throttle every invocation of the function)
    properties = cfn.resolve(cfn.resources["CredentialsFunction"]["Properties"])
    assert "ReservedConcurrentExecutions" not in properties


def test_background_executor_has_reserved_concurrency_from_its_parameter(
    cfn: Template, cfn_with_limits: Template
) -> None:
    # Given the background executor deployed with the default and with another reservation
    default = cfn.resolve(cfn.resources["BackgroundExecutorFunction"]["Properties"])
    chosen = cfn_with_limits.resolve(cfn_with_limits.resources["BackgroundExecutorFunction"]["Properties"])

    # Then it reserves 100 by default and what the parameter says otherwise, while the sync executor
    # reserves nothing (it draws from the account's unreserved pool)
    assert default["ReservedConcurrentExecutions"] == "100"
    assert chosen["ReservedConcurrentExecutions"] == "150"
    assert "ReservedConcurrentExecutions" not in cfn.resolve(cfn.resources["ExecutorFunction"]["Properties"])


def test_background_executor_reservation_zero_reserves_nothing() -> None:
    # Given an account too small for the reservation (the parameter set to 0)
    parameters = {"BackgroundExecutorReservedConcurrency": "0"}
    cfn = Template(transform(parameters), ROOT, parameters, STACK)

    # Then the property is left out (0 would throttle every background run), the function stays
    properties = cfn.resolve(cfn.resources["BackgroundExecutorFunction"]["Properties"])
    assert "ReservedConcurrentExecutions" not in properties
    assert properties["DurableConfig"]["ExecutionTimeout"] == 90000


def test_background_executor_is_the_executor_again_under_the_same_role(cfn: Template) -> None:
    # Given both executors as written (code, build) and as transformed (everything else)
    written = load_template(TEMPLATE)["Resources"]
    sync = cfn.resolve(cfn.resources["ExecutorFunction"]["Properties"])
    background = cfn.resolve(cfn.resources["BackgroundExecutorFunction"]["Properties"])

    # Then it is built from the same code the same way, runs under ExecutorRole (the only principal the
    # credentials function admits), as the same durable function with the same settings, on a "live" alias
    for key in ("CodeUri", "Handler"):
        assert (
            written["BackgroundExecutorFunction"]["Properties"][key]
            == written["ExecutorFunction"]["Properties"][key]
        )
    assert written["BackgroundExecutorFunction"]["Metadata"] == written["ExecutorFunction"]["Metadata"]
    assert function_role(cfn.resources, "BackgroundExecutorFunction") == "ExecutorRole"
    assert function_role(cfn.resources, "ExecutorFunction") == "ExecutorRole"
    for key in (
        "DurableConfig",
        "Environment",
        "Timeout",
        "MemorySize",
        "Runtime",
        "Layers",
        "Architectures",
    ):
        assert background[key] == sync[key], key
    assert cfn.resources["BackgroundExecutorFunctionAliaslive"]["Type"] == "AWS::Lambda::Alias"
    assert background["LoggingConfig"]["LogGroup"] != sync["LoggingConfig"]["LogGroup"]


def test_sync_runs_start_on_the_sync_executor_and_background_runs_on_the_background_one(
    cfn: Template,
) -> None:
    # Given the Apps function's and the dispatcher's environments and roles
    def variables(function_id: str) -> dict[str, Any]:
        return dict(cfn.resources[function_id]["Properties"]["Environment"]["Variables"])

    sync_alias = cfn.get_att("ExecutorFunction", "Arn") + ":live"
    background_alias = cfn.get_att("BackgroundExecutorFunction", "Arn") + ":live"
    apps = role_statements(cfn.resources, function_role(cfn.resources, "AppsFunction"))
    dispatcher = role_statements(cfn.resources, function_role(cfn.resources, "DispatcherFunction"))

    # Then the Apps function starts sync and stream runs on the sync alias (and a background run the
    # queue refused on the background alias); it may start both
    assert variables("AppsFunction")["EXECUTOR_FUNCTION"] == {"Ref": "ExecutorFunctionAliaslive"}
    assert variables("AppsFunction")["BACKGROUND_EXECUTOR_FUNCTION"] == {
        "Ref": "BackgroundExecutorFunctionAliaslive"
    }
    assert allowed_on(cfn, apps, INVOKE, sync_alias)
    assert allowed_on(cfn, apps, INVOKE, background_alias)
    # And the dispatcher (queued runs, the sweeper) knows the background alias only and may start runs there
    # only: background work cannot take the sync executor's concurrency
    assert variables("DispatcherFunction")["BACKGROUND_EXECUTOR_FUNCTION"] == {
        "Ref": "BackgroundExecutorFunctionAliaslive"
    }
    assert "EXECUTOR_FUNCTION" not in variables("DispatcherFunction")
    assert allowed_on(cfn, dispatcher, INVOKE, background_alias)
    assert not allowed_on(cfn, dispatcher, INVOKE, sync_alias)
    # And no function under another role starts runs
    starters = {function_role(cfn.resources, f) for f in ("AppsFunction", "DispatcherFunction")}
    for function_id in cfn.resources_of_type("AWS::Lambda::Function"):
        role_id = function_role(cfn.resources, function_id)
        if role_id in starters:
            continue
        statements = role_statements(cfn.resources, role_id)
        assert not allowed_on(cfn, statements, INVOKE, sync_alias), function_id
        assert not allowed_on(cfn, statements, INVOKE, background_alias), function_id


def test_the_credentials_function_still_admits_the_executor_role_only(cfn: Template) -> None:
    # Given the credentials function's resource policy
    (policy,) = [
        resource["Properties"]
        for resource in cfn.resources_of_type("AWS::Lambda::ResourcePolicy").values()
        if references(resource["Properties"]["ResourceArn"]) == {"CredentialsFunction"}
    ]

    # Then it names one role, ExecutorRole, which both executors (and their dispatcher) run under: a second
    # executor added no principal
    roles = set(cfn.resources_of_type("AWS::IAM::Role"))
    assert references(policy["PolicyDocument"]) & roles == {"ExecutorRole"}
    callers = {
        function_id
        for function_id in cfn.resources_of_type("AWS::Lambda::Function")
        if function_role(cfn.resources, function_id) == "ExecutorRole"
    }
    assert callers == {"ExecutorFunction", "BackgroundExecutorFunction", "DispatcherFunction"}


def test_both_dispatcher_queues_are_read_at_the_parameters_maximum_concurrency(
    cfn: Template, cfn_with_limits: Template
) -> None:
    # Given the dispatcher's event source mappings with the default and with another maximum
    default = {q: cfn.resolve(m["ScalingConfig"]) for q, m in _queue_mappings(cfn).items()}
    chosen = {
        q: cfn_with_limits.resolve(m["ScalingConfig"]) for q, m in _queue_mappings(cfn_with_limits).items()
    }

    # Then the run queue and the delivery queue are each read by at most 10 invocations, or the parameter's
    assert default == {q: {"MaximumConcurrency": "10"} for q in ("RunQueue", "DeliveryQueue")}
    assert chosen == {q: {"MaximumConcurrency": "25"} for q in ("RunQueue", "DeliveryQueue")}


def test_default_reservations_leave_the_sync_path_most_of_the_account(cfn: Template) -> None:
    # Given the defaults: what the credentials function and the background executor reserve, and what the
    # dispatcher may take
    reserved = sum(
        int(cfn.resolve(cfn.resources[function_id]["Properties"]["ReservedConcurrentExecutions"]))
        for function_id in ("CredentialsFunction", "BackgroundExecutorFunction")
    )
    background = sum(
        int(cfn.resolve(m["ScalingConfig"]["MaximumConcurrency"])) for m in _queue_mappings(cfn).values()
    )

    # Then the reservations (50 + 100) fit the default account quota (Lambda keeps 100 unreserved), and
    # background dispatching takes at most 20: the sync path (Apps function + sync executor) keeps 830 of 1000
    assert reserved == 150
    assert ACCOUNT_CONCURRENCY - reserved >= UNRESERVED_MINIMUM
    assert background == 20
    assert ACCOUNT_CONCURRENCY - reserved - background == 830


# ---------------------------------------------------------------- nothing dropped: queues


def _queues_without_failure_destination(cfn: Template) -> list[str]:
    """Queues an event source reads that redrive to no queue of the stack, and queues nothing reads that are
    no failure destination (a redrive target, an OnFailure destination, Scheduler's dead-letter queue)."""
    queues = cfn.resources_of_type("AWS::SQS::Queue")
    consumed = _queue_mappings(cfn)
    redrive_targets = {
        target
        for queue_id in consumed
        for target in references(
            queues[queue_id]["Properties"].get("RedrivePolicy", {}).get("deadLetterTargetArn")
        )
        if target in queues
    }
    destinations = {
        target
        for config in cfn.resources_of_type("AWS::Lambda::EventInvokeConfig").values()
        for target in references(config["Properties"].get("DestinationConfig", {}).get("OnFailure", {}))
    }
    scheduler_dead_letters = {
        target
        for statement in role_statements(cfn.resources, "SchedulerRole")
        if "sqs:SendMessage" in as_list(statement.get("Action"))
        for target in references(statement["Resource"])
    }
    missing = [
        queue_id
        for queue_id in consumed
        if not set(references(queues[queue_id]["Properties"].get("RedrivePolicy", {}))) & set(queues)
    ]
    dead_letters = redrive_targets | destinations | scheduler_dead_letters
    missing += [queue_id for queue_id in queues if queue_id not in consumed and queue_id not in dead_letters]
    missing += [queue_id for queue_id in dead_letters if queue_id in consumed]
    return sorted(missing)


def test_every_queue_redrives_to_a_dead_letter_queue_or_is_one(cfn: Template) -> None:
    # Given every queue of the stack and the event sources that read them
    queues = set(cfn.resources_of_type("AWS::SQS::Queue"))

    # Then each read queue redrives to a dead-letter queue, each other queue is a dead-letter queue that
    # nothing consumes (they are inspected and replayed by an operator), and there are exactly these
    assert _queues_without_failure_destination(cfn) == []
    assert queues == {
        "RunQueue",
        "RunDeadLetterQueue",
        "DeliveryQueue",
        "DeliveryDeadLetterQueue",
        "TriggerDeadLetterQueue",
        "SweepDeadLetterQueue",
    }


def test_a_read_queue_without_redrive_is_caught(cfn: Template) -> None:
    # Given the template with the run queue's redrive policy removed
    broken = _copy(cfn)
    del broken.resources["RunQueue"]["Properties"]["RedrivePolicy"]

    # Then the run queue is reported (its poison messages would be retried until they expire), and its
    # former dead-letter queue, now nobody's, too
    assert _queues_without_failure_destination(broken) == ["RunDeadLetterQueue", "RunQueue"]


def test_every_dead_letter_queue_keeps_messages_14_days(cfn: Template) -> None:
    # Given the queues failures go to
    dead_letters = [q for q in cfn.resources_of_type("AWS::SQS::Queue") if "DeadLetter" in q]

    # Then each is encrypted and keeps what it holds for the longest SQS allows
    assert len(dead_letters) == 4
    for queue_id in dead_letters:
        properties = cfn.resources[queue_id]["Properties"]
        assert properties["SqsManagedSseEnabled"] is True, queue_id
        assert properties["MessageRetentionPeriod"] == 14 * 24 * 3600, queue_id


# ---------------------------------------------------------------- nothing dropped: asynchronous invocations


def _asynchronously_invoked(cfn: Template) -> set[str]:
    """Functions Scheduler may invoke (it always invokes asynchronously): the template's own schedules and
    the ones the management function creates, both as SchedulerRole."""
    return {
        function_id
        for statement in role_statements(cfn.resources, "SchedulerRole")
        if INVOKE in as_list(statement.get("Action"))
        for function_id in references(statement["Resource"])
    }


def _without_on_failure(cfn: Template) -> list[str]:
    """Asynchronously invoked functions lacking an EventInvokeConfig with retries and an SQS OnFailure
    destination their own role may send to."""
    configs = {
        _only(references(config["Properties"]["FunctionName"])): config["Properties"]
        for config in cfn.resources_of_type("AWS::Lambda::EventInvokeConfig").values()
    }
    missing = []
    for function_id in sorted(_asynchronously_invoked(cfn)):
        config = configs.get(function_id, {})
        destination = config.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        statements = role_statements(cfn.resources, function_role(cfn.resources, function_id))
        if (
            "MaximumRetryAttempts" not in config
            or destination is None
            or cfn.resources[_only(references(destination))]["Type"] != "AWS::SQS::Queue"
            or not allowed_on(cfn, statements, "sqs:SendMessage", cfn.resolve(destination))
        ):
            missing.append(function_id)
    return missing


def test_every_asynchronously_invoked_function_sends_its_failures_to_a_queue(cfn: Template) -> None:
    # Given the functions Scheduler invokes (asynchronously: Lambda retries a failure, then drops it unless a
    # destination is configured)
    invoked = _asynchronously_invoked(cfn)

    # Then the trigger function and the sweep each have retries and an SQS OnFailure destination their role
    # may write to
    assert invoked == {"TriggerFunction", "DispatcherFunction"}
    assert _without_on_failure(cfn) == []


def test_a_function_invoked_asynchronously_without_destination_is_caught(cfn: Template) -> None:
    # Given the template without the trigger function's EventInvokeConfig, and one where its role may not
    # send to the destination
    no_config = _copy(cfn)
    del no_config.resources["TriggerFunctionEventInvokeConfig"]
    no_grant = _copy(cfn)
    statements = no_grant.resources["TriggerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if s.get("Sid") != "ParkFailedFirings"]

    # Then both are reported: a firing that raised would be lost after Lambda's retries
    assert _without_on_failure(no_config) == ["TriggerFunction"]
    assert _without_on_failure(no_grant) == ["TriggerFunction"]


def test_trigger_failures_are_retried_twice_within_an_hour_then_parked(cfn: Template) -> None:
    # Given the trigger function's and the sweep's asynchronous invocation settings
    configs = {
        _only(references(config["Properties"]["FunctionName"])): config["Properties"]
        for config in cfn.resources_of_type("AWS::Lambda::EventInvokeConfig").values()
    }
    trigger, sweep = configs["TriggerFunction"], configs["DispatcherFunction"]

    # Then a firing is retried twice within an hour and then goes to the trigger dead-letter queue (with the
    # firings Scheduler could not deliver); a sweep is never retried (the next one comes within a minute)
    assert trigger["MaximumRetryAttempts"] == 2
    assert trigger["MaximumEventAgeInSeconds"] == 3600
    assert trigger["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["TriggerDeadLetterQueue", "Arn"]
    }
    assert sweep["MaximumRetryAttempts"] == 0
    assert sweep["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["SweepDeadLetterQueue", "Arn"]
    }


def test_every_schedule_of_the_template_parks_undelivered_invocations(cfn: Template) -> None:
    # Given the template's own schedules (the sweep) and what the Scheduler role may send to
    schedules = cfn.resources_of_type("AWS::Scheduler::Schedule")
    statements = role_statements(cfn.resources, "SchedulerRole")

    # Then each names a dead-letter queue of the stack that its role may write to
    assert set(schedules) == {"RunSweepSchedule"}
    for logical_id, schedule in schedules.items():
        dead_letters = schedule["Properties"]["Target"].get("DeadLetterConfig", {})
        assert dead_letters == {"Arn": {"Fn::GetAtt": ["SweepDeadLetterQueue", "Arn"]}}, logical_id
        assert allowed_on(cfn, statements, "sqs:SendMessage", cfn.resolve(dead_letters["Arn"]))
