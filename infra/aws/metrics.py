"""The MetricsSink port on CloudWatch: EMF log lines (Lambda) or PutMetricData (elsewhere).

EMF costs no API call and no latency: the inference function uses it. The monitor and the CLI
use PutMetricData, which also works off Lambda and is what the alarms' tests read back.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit, single_metric

from mlops_template.infra.aws.clients import client

_UNITS = {unit.value: unit for unit in MetricUnit}


class EmfMetricsSink:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace

    def put(
        self,
        name: str,
        value: float,
        *,
        unit: str = "None",
        dimensions: Mapping[str, str] | None = None,
    ) -> None:
        # single_metric: each metric may carry its own dimensions (version, label...).
        with single_metric(
            name=name,
            unit=_UNITS.get(unit, MetricUnit.NoUnit),
            value=value,
            namespace=self.namespace,
            default_dimensions=dict(dimensions or {}),
        ):
            pass


class CloudWatchMetricsSink:
    def __init__(self, namespace: str, *, cloudwatch: Any = None) -> None:
        self.namespace = namespace
        self._cw = cloudwatch or client("cloudwatch")

    def put(
        self,
        name: str,
        value: float,
        *,
        unit: str = "None",
        dimensions: Mapping[str, str] | None = None,
    ) -> None:
        self._cw.put_metric_data(
            Namespace=self.namespace,
            MetricData=[
                {
                    "MetricName": name,
                    "Value": float(value),
                    "Unit": unit,
                    "Dimensions": [
                        {"Name": k, "Value": v} for k, v in sorted((dimensions or {}).items())
                    ],
                }
            ],
        )
