"""Metrics as JSON lines: what CloudWatch would receive, readable with any tool."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from mlops_template.core.ports import MetricPoint, MetricsSink
from mlops_template.core.records import utc_now


class JsonlMetricsSink(MetricsSink):
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def write(self, point: MetricPoint) -> None:
        line = json.dumps(
            {
                "at": utc_now(),
                "name": point.name,
                "value": point.value,
                "unit": point.unit,
                "dimensions": dict(point.dimensions),
            }
        )
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def read(self, name: str | None = None) -> list[dict[str, object]]:
        if not self.path.exists():
            return []
        points = [json.loads(line) for line in self.path.read_text().splitlines() if line]
        return [p for p in points if name is None or p["name"] == name]
