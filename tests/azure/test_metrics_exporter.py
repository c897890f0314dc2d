"""The Azure Monitor metrics sink with the real OpenTelemetry SDK and exporter, sending to an
ingestion endpoint on 127.0.0.1 that records what it receives (Application Insights' track API)."""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mlops_template.infra.azure.metrics import AzureMonitorMetricsSink

INSTRUMENTATION_KEY = "00000000-0000-0000-0000-000000000001"


@pytest.fixture
def ingestion(monkeypatch):
    """An HTTP endpoint that answers as the ingestion service does and keeps every envelope."""
    # The exporter's own usage telemetry would go to Microsoft's endpoint: not from a test.
    monkeypatch.setenv("APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL", "true")
    received: list[dict] = []
    paths: list[str] = []

    class Track(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            if self.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            text = body.decode()
            items = (
                json.loads(text)
                if text.lstrip().startswith("[")
                else [json.loads(line) for line in text.splitlines() if line.strip()]
            )
            received.extend(items)
            paths.append(self.path)
            answer = json.dumps(
                {"itemsReceived": len(items), "itemsAccepted": len(items), "errors": []}
            ).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Track)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/", received, paths
    server.shutdown()
    server.server_close()


def metrics_in(received: list[dict]) -> list[dict]:
    """Each metric item. OpenTelemetry instrument names are case-insensitive and the SDK sends
    them lower-cased: the alert queries match with =~ (terraform/azure/modules/monitoring)."""
    return [
        metric | {"properties": item["data"]["baseData"].get("properties", {})}
        for item in received
        if item["data"]["baseType"] == "MetricData"
        for metric in item["data"]["baseData"]["metrics"]
    ]


def test_metrics_reach_application_insights_with_their_dimensions(ingestion):
    endpoint, received, paths = ingestion
    sink = AzureMonitorMetricsSink(
        f"InstrumentationKey={INSTRUMENTATION_KEY};IngestionEndpoint={endpoint}",
        export_seconds=3600,  # only the flush below exports
    )
    try:
        sink.put("DataDriftShare", 0.4, dimensions={"model": "m", "stage": "production"})
        sink.put("FeedbackAccuracy", 0.91, dimensions={"model": "m", "stage": "production"})
        assert sink.flush()
        flushed = list(received)
    finally:
        sink.shutdown()
    received = flushed
    assert paths and all(p.startswith("/v2") and p.endswith("/track") for p in paths)
    assert {item["iKey"] for item in received} == {INSTRUMENTATION_KEY}
    metrics = {m["name"]: m for m in metrics_in(received)}
    assert set(metrics) == {"datadriftshare", "feedbackaccuracy"}
    assert metrics["datadriftshare"]["value"] == pytest.approx(0.4)
    assert metrics["feedbackaccuracy"]["value"] == pytest.approx(0.91)
    assert metrics["datadriftshare"]["properties"] == {"model": "m", "stage": "production"}


def test_the_last_value_of_a_gauge_is_exported(ingestion):
    endpoint, received, _ = ingestion
    sink = AzureMonitorMetricsSink(
        f"InstrumentationKey={INSTRUMENTATION_KEY};IngestionEndpoint={endpoint}",
        export_seconds=3600,
    )
    try:
        for value in (0.1, 0.2, 0.7):
            sink.put("DataDriftShare", value, dimensions={"model": "m"})
        assert sink.flush()
        flushed = list(received)
    finally:
        sink.shutdown()
    [metric] = [m for m in metrics_in(flushed) if m["name"] == "datadriftshare"]
    assert metric["value"] == pytest.approx(0.7)


def test_the_backend_sends_metrics_to_application_insights_when_it_has_one(ingestion, azurite):
    from mlops_template.core.settings import Settings
    from mlops_template.infra import build_backend
    from mlops_template.infra.azure.metrics import LogMetricsSink

    endpoint, _, _ = ingestion
    connection = f"InstrumentationKey={INSTRUMENTATION_KEY};IngestionEndpoint={endpoint}"
    plain = Settings(backend="azure", azure_storage_connection_string=azurite)
    assert isinstance(build_backend(plain).metrics, LogMetricsSink)
    configured = Settings(
        backend="azure",
        azure_storage_connection_string=azurite,
        APPLICATIONINSIGHTS_CONNECTION_STRING=connection,
    )
    sink = build_backend(configured).metrics
    assert isinstance(sink, AzureMonitorMetricsSink)
    sink.shutdown()
