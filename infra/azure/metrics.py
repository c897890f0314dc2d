"""The MetricsSink port on Azure: one structured JSON log line per metric.

Application Insights collects a Function App's logs, and its log queries (or a log-based metric
alert) aggregate these lines: like CloudWatch EMF on Lambda, a metric costs no API call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

LOGGER = logging.getLogger("mlops.metrics")


class LogMetricsSink:
    def __init__(self, logger: logging.Logger = LOGGER) -> None:
        self._logger = logger

    def put(
        self,
        name: str,
        value: float,
        *,
        unit: str = "None",
        dimensions: Mapping[str, str] | None = None,
    ) -> None:
        metric = {"metric": name, "value": float(value), "unit": unit}
        self._logger.info(json.dumps({**metric, "dimensions": dict(dimensions or {})}))
