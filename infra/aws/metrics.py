"""The MetricsSink port on CloudWatch: EMF log lines (Lambda) or PutMetricData (elsewhere).

EMF costs no API call and no latency: the inference function uses it. The monitor and the CLI
use PutMetricData, which also works off Lambda and is what the alarms' tests read back.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from mlops_template.core.ports import MetricPoint, MetricsSink
from mlops_template.infra.aws.clients import client

_UNITS = {unit.value: unit for unit in MetricUnit}


class EmfMetricsSink(MetricsSink):
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def write(self, point: MetricPoint) -> None:
        # single_metric: each metric may carry its own dimensions (version, label...).
        with single_metric(
            name=point.name,
            unit=_UNITS.get(point.unit, MetricUnit.NoUnit),
            value=point.value,
            namespace=self.namespace,
            default_dimensions=dict(point.dimensions),
        ):
            pass


class CloudWatchMetricsSink(MetricsSink):
    def __init__(self, namespace: str, *, cloudwatch: Any = None) -> None:
        self.namespace = namespace
        self._cw = cloudwatch or client("cloudwatch")

    def write(self, point: MetricPoint) -> None:
        self._cw.put_metric_data(
            Namespace=self.namespace,
            MetricData=[
                {
                    "MetricName": point.name,
                    "Value": point.value,
                    "Unit": point.unit,
                    "Dimensions": [
                        {"Name": k, "Value": v} for k, v in sorted(point.dimensions.items())
                    ],
                }
            ],
        )
