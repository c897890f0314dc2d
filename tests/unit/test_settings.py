import pytest
from pydantic import ValidationError

from mlops_template.core.pipeline import PipelineState
from mlops_template.core.settings import Settings, env_from_terraform_outputs, settings_env
from mlops_template.training.config import TrainingConfig, one_line

OUTPUTS = {
    "model_name": {"value": "churn"},
    "environment": {"value": "staging"},
    "data_bucket": {"value": "mlops-staging-data-1"},
    "artifact_bucket": {"value": "mlops-staging-artifacts-1"},
    "registry_table": {"value": "mlops-staging-registry"},
    "predictions_table": {"value": "mlops-staging-predictions"},
    "state_machine_arn": {
        "value": "arn:aws:states:eu-west-1:1:stateMachine:mlops-staging-pipeline"
    },
    "batch_state_machine_arn": {
        "value": "arn:aws:states:eu-west-1:1:stateMachine:mlops-staging-batch"
    },
    "kms_key_arn": {"value": "arn:aws:kms:eu-west-1:1:key/abc"},
    "export_signing_key": {"value": "alias/mlops-staging-export-signing"},
    "trusted_export_keys": {"value": "alias/mlops-dev-export-signing"},
    "api_url": {"value": "https://x"},
}


def test_terraform_outputs_become_the_settings_of_that_environment(monkeypatch):
    env = env_from_terraform_outputs(OUTPUTS)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.backend == "aws" and settings.environment == "staging"
    assert settings.registry_table == "mlops-staging-registry"
    assert settings.kms_key_id.endswith("key/abc")
    assert settings.export_signing_key == "alias/mlops-staging-export-signing"
    assert settings.trusted_export_key_list == ["alias/mlops-dev-export-signing"]


def test_missing_outputs_are_named():
    partial = {k: v for k, v in OUTPUTS.items() if k != "registry_table"}
    with pytest.raises(KeyError, match="registry_table"):
        env_from_terraform_outputs(partial)


def test_settings_round_trip_through_the_environment(monkeypatch):
    original = Settings(backend="aws", model_name="m", capture_sample_rate=0.3)
    for key, value in settings_env(original).items():
        monkeypatch.setenv(key, value)
    assert Settings() == original


@pytest.mark.parametrize("name", ["a/b/c", "../x", "Model", "-x", "", "x" * 64])
def test_every_entry_point_refuses_a_bad_model_name_in_one_line(monkeypatch, name):
    monkeypatch.setenv("MLOPS_MODEL_NAME", name)
    attempts = [
        Settings,
        lambda: TrainingConfig(model_name=name),
        lambda: PipelineState(model=name, key="incoming/x.csv", run_id="r"),
    ]
    for attempt in attempts:
        with pytest.raises(ValidationError) as caught:
            attempt()
        assert "invalid model name" in one_line(caught.value)
        assert "\n" not in one_line(caught.value)
