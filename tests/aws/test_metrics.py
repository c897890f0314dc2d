import json

from mlops_template.infra.aws.metrics import EmfMetricsSink


def test_emf_lines_carry_each_metric_with_its_own_dimensions(capsys):
    sink = EmfMetricsSink("MLOps")
    sink.put(
        "PredictionLatency", 3.5, unit="Milliseconds", dimensions={"model": "m", "version": "2"}
    )
    sink.put("PredictedLabel", 4, unit="Count", dimensions={"model": "m", "label": "benign"})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    assert len(lines) == 2
    first, second = lines
    spec = first["_aws"]["CloudWatchMetrics"][0]
    assert spec["Namespace"] == "MLOps"
    assert spec["Metrics"] == [{"Name": "PredictionLatency", "Unit": "Milliseconds"}]
    assert first["PredictionLatency"] == [3.5]
    assert (first["version"], second["label"]) == ("2", "benign")
