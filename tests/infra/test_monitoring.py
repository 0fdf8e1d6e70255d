"""The monitoring resources exist only with ``EnableMonitoring=true``: a dashboard, an SNS topic and four
alarms (executor errors, dead-letter queue depth, throttles, runs past their deadline) on the metrics the
stack's functions and queues actually emit."""

from __future__ import annotations

import json
from typing import Any

import pytest

from switchboard.runtime.runs.app_metrics import PAST_DEADLINE_METRIC
from switchboard_cli.local.template import Template
from tests.infra.conftest import ROOT, STACK, transform

MONITORING = {"EnableMonitoring": "true"}
MONITORING_TYPES = ("AWS::CloudWatch::Dashboard", "AWS::CloudWatch::Alarm", "AWS::SNS::Topic")


@pytest.fixture(scope="module")
def monitored() -> Template:
    return Template(transform(MONITORING), ROOT, MONITORING, STACK)


def _alarm_metrics(cfn: Template, alarm: str) -> list[dict[str, Any]]:
    """The metrics an alarm's expression adds up: namespace, name and resolved dimensions."""
    found = []
    for query in cfn.resources[alarm]["Properties"]["Metrics"]:
        if "MetricStat" in query:
            metric = cfn.resolve(query["MetricStat"]["Metric"])
            found.append(
                {
                    "namespace": metric["Namespace"],
                    "name": metric["MetricName"],
                    **{dimension["Name"]: dimension["Value"] for dimension in metric["Dimensions"]},
                }
            )
    return found


def test_without_the_parameter_no_monitoring_resource_exists(cfn: Template) -> None:
    # Given the stack with default parameters
    # When its monitoring resources are read
    found = cfn.resources_of_type(*MONITORING_TYPES)
    # Then there are none, and no topic is output
    assert found == {}
    assert cfn.parameter("EnableMonitoring") == "false"
    assert not cfn.condition(cfn.document["Outputs"]["MonitoringAlarmTopicArn"]["Condition"])


def test_with_the_parameter_a_dashboard_and_four_alarms_notify_one_topic(monitored: Template) -> None:
    # Given the stack with EnableMonitoring=true
    # When its monitoring resources are read
    alarms = monitored.resources_of_type("AWS::CloudWatch::Alarm")
    dashboards = monitored.resources_of_type("AWS::CloudWatch::Dashboard")
    # Then four alarms, each notifying the topic, and one dashboard
    assert sorted(alarms) == [
        "DeadLetterQueuesAlarm",
        "ExecutorErrorsAlarm",
        "RunsPastDeadlineAlarm",
        "ThrottlesAlarm",
    ]
    assert list(dashboards) == ["MonitoringDashboard"]
    for alarm in alarms.values():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": "MonitoringAlarmTopic"}]
    assert monitored.condition(monitored.document["Outputs"]["MonitoringAlarmTopicArn"]["Condition"])


def test_the_alarms_watch_the_executors_every_dead_letter_queue_and_the_deadline_metric(
    monitored: Template,
) -> None:
    # Given the stack with EnableMonitoring=true
    executors = {
        monitored.resolve({"Ref": name}) for name in ("ExecutorFunction", "BackgroundExecutorFunction")
    }
    dead_letter_queues = {
        monitored.resolve({"Fn::GetAtt": [name, "QueueName"]})
        for name in monitored.resources_of_type("AWS::SQS::Queue")
        if name.endswith("DeadLetterQueue")
    }
    # When the alarms' metrics are read
    errors = _alarm_metrics(monitored, "ExecutorErrorsAlarm")
    depths = _alarm_metrics(monitored, "DeadLetterQueuesAlarm")
    throttles = _alarm_metrics(monitored, "ThrottlesAlarm")
    past = _alarm_metrics(monitored, "RunsPastDeadlineAlarm")
    # Then they cover both executors, every dead-letter queue, and the metric the end of a run emits from
    # the two functions that end runs past their deadline (the executor, the sweeper's dispatcher)
    assert {(m["name"], m["FunctionName"]) for m in errors} == {("Errors", name) for name in executors}
    assert len(dead_letter_queues) == 4
    assert {m["QueueName"] for m in depths} == dead_letter_queues
    assert {m["FunctionName"] for m in throttles} == {
        *executors,
        monitored.resolve({"Ref": "CredentialsFunction"}),
    }
    services = {
        monitored.resources[name]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
        for name in ("ExecutorFunction", "DispatcherFunction")
    }
    assert {(m["namespace"], m["name"], m["service"]) for m in past} == {
        ("Switchboard", PAST_DEADLINE_METRIC, service) for service in services
    }


def test_the_dashboard_body_is_json_naming_the_stacks_resources(monitored: Template) -> None:
    # Given the stack with EnableMonitoring=true
    # When the dashboard's body is resolved
    body = json.loads(
        monitored.resolve(monitored.resources["MonitoringDashboard"]["Properties"]["DashboardBody"])
    )
    # Then it is a JSON document whose widgets chart the executor and the dead-letter queues
    named = {
        str(part)
        for widget in body["widgets"]
        for metric in widget["properties"]["metrics"]
        for part in metric
    }
    assert monitored.resolve({"Ref": "ExecutorFunction"}) in named
    assert monitored.resolve({"Fn::GetAtt": ["RunDeadLetterQueue", "QueueName"]}) in named
    assert PAST_DEADLINE_METRIC in named
