"""The MetricsSink port on Azure: one structured JSON log line per metric.

Application Insights collects a Function App's logs, and its log queries (or a log-based metric
alert) aggregate these lines: like CloudWatch EMF on Lambda, a metric costs no API call.
"""

from __future__ import annotations

import json
import logging

from mlops_template.core.ports import MetricPoint, MetricsSink

LOGGER = logging.getLogger("mlops.metrics")


class LogMetricsSink(MetricsSink):
    def __init__(self, logger: logging.Logger = LOGGER) -> None:
        self._logger = logger

    def write(self, point: MetricPoint) -> None:
        metric = {"metric": point.name, "value": point.value, "unit": point.unit}
        self._logger.info(json.dumps({**metric, "dimensions": dict(point.dimensions)}))
