"""The MetricsSink port on Azure.

- `AzureMonitorMetricsSink`: Application Insights custom metrics (`customMetrics`, what the
  alerts in terraform/azure/modules/monitoring query), through the Azure Monitor OpenTelemetry
  exporter: an OpenTelemetry gauge per metric name, its dimensions as attributes.
- `LogMetricsSink`: one structured JSON log line per metric, when no Application Insights is
  configured (Application Insights collects a Function App's logs as well).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mlops_template.core.ports import MetricPoint, MetricsSink

LOGGER = logging.getLogger("mlops.metrics")


class LogMetricsSink(MetricsSink):
    def __init__(self, logger: logging.Logger = LOGGER) -> None:
        self._logger = logger

    def write(self, point: MetricPoint) -> None:
        metric = {"metric": point.name, "value": point.value, "unit": point.unit}
        self._logger.info(json.dumps({**metric, "dimensions": dict(point.dimensions)}))


class AzureMonitorMetricsSink(MetricsSink):
    """Metrics exported to Application Insights every `export_seconds` and on `flush()` (the
    monitor flushes before it returns: a function instance may be frozen after that)."""

    def __init__(
        self,
        connection_string: str,
        *,
        credential: Any = None,
        export_seconds: float = 15.0,
        exporter_options: dict[str, Any] | None = None,
    ) -> None:
        # Imported here: only a deployment with Application Insights loads OpenTelemetry.
        from azure.monitor.opentelemetry.exporter import AzureMonitorMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        exporter = AzureMonitorMetricExporter(
            connection_string=connection_string,
            credential=credential,
            # No retry files on a function instance's disk: a lost batch is the next one's gap.
            disable_offline_storage=True,
            **(exporter_options or {}),
        )
        reader = PeriodicExportingMetricReader(
            exporter, export_interval_millis=int(export_seconds * 1000)
        )
        self._provider = MeterProvider(metric_readers=[reader])
        self._meter = self._provider.get_meter("mlops_template")
        self._gauges: dict[str, Any] = {}

    def write(self, point: MetricPoint) -> None:
        gauge = self._gauges.get(point.name)
        if gauge is None:
            gauge = self._gauges[point.name] = self._meter.create_gauge(point.name, unit=point.unit)
        gauge.set(point.value, attributes=dict(point.dimensions))

    def flush(self, timeout_seconds: float = 10.0) -> bool:
        return bool(self._provider.force_flush(timeout_millis=int(timeout_seconds * 1000)))

    def shutdown(self) -> None:
        self._provider.shutdown()
