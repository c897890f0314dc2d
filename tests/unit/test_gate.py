from mlops_template.training.config import GateConfig
from mlops_template.training.gate import evaluate_gate

BASE = {"roc_auc": 0.5}


def test_a_candidate_that_beats_the_baseline_with_no_production_passes():
    result = evaluate_gate(GateConfig(), {"roc_auc": 0.9}, BASE)
    assert result.passed and result.reasons == []


def test_a_candidate_too_close_to_the_baseline_fails():
    result = evaluate_gate(GateConfig(), {"roc_auc": 0.53}, BASE)
    assert not result.passed and "baseline" in result.reasons[0]


def test_a_candidate_within_tolerance_of_production_passes_beyond_it_fails():
    config = GateConfig(max_regression=0.01)
    assert evaluate_gate(
        config, {"roc_auc": 0.895}, BASE, {"roc_auc": 0.9}, production_version=1
    ).passed
    failed = evaluate_gate(config, {"roc_auc": 0.88}, BASE, {"roc_auc": 0.9}, production_version=1)
    assert not failed.passed and "production v1" in failed.reasons[0]


def test_a_bad_onnx_export_fails_the_gate():
    result = evaluate_gate(GateConfig(), {"roc_auc": 0.9}, BASE, parity_error=0.01)
    assert not result.passed and "ONNX" in result.reasons[0]


def test_the_gate_uses_the_configured_metric():
    config = GateConfig(metric="f1")
    result = evaluate_gate(config, {"f1": 0.8, "roc_auc": 0.5}, {"f1": 0.0, "roc_auc": 0.5})
    assert result.passed and result.metric == "f1"
