"""The CloudWatch metrics of a run's end (namespace ``Switchboard``, embedded metric format).

Per run, with the App's dimension (``AppId``), each its own metric per App: ``Runs<Status>`` (Count) and,
for a run that started, ``RunDuration`` (Milliseconds). Cardinality: four custom metrics per App that ran
(three statuses and the duration), each billed as a custom metric for every month it receives data (see the
README's Monitoring section); the per-App aggregates of ``GET /v1/apps/{app_id}/metrics`` cost nothing in
CloudWatch.

Without the App's dimension, for the dashboard and the alarms (the function's ``service`` dimension, as every
other metric of the function): ``Runs<Status>`` and ``RunsPastDeadline`` (a run that ended
``deadline_exceeded``, whether the executor or the sweeper ended it).
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from switchboard.domain.runs import Run
from switchboard.observability import metrics

APP_DIMENSION = "AppId"
PAST_DEADLINE = "deadline_exceeded"
PAST_DEADLINE_METRIC = "RunsPastDeadline"
"""Alarmed on by the template's ``RunsPastDeadlineAlarm`` (with ``EnableMonitoring=true``)."""


def count_run(run: Run) -> None:
    status_metric = f"Runs{run.status.value.capitalize()}"
    metrics.add_metric(name=status_metric, unit=MetricUnit.Count, value=1)
    if (run.error or {}).get("type") == PAST_DEADLINE:
        metrics.add_metric(name=PAST_DEADLINE_METRIC, unit=MetricUnit.Count, value=1)
    emitted = [(status_metric, MetricUnit.Count, 1.0)]
    if run.started_at is not None and run.ended_at is not None:
        milliseconds = (run.ended_at - run.started_at).total_seconds() * 1000
        emitted.append(("RunDuration", MetricUnit.Milliseconds, milliseconds))
    for name, unit, value in emitted:
        with single_metric(
            name=name,
            unit=unit,
            value=value,
            namespace=metrics.namespace,
            default_dimensions={APP_DIMENSION: run.app_id},
        ) as metric:
            # The App's dimension only: whichever function ended the run, it is the same App's metric.
            metric.service = ""
