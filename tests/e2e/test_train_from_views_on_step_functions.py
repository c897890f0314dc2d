"""Training from feature views through the real pipeline definition on moto's Step Functions:
the validate Lambda loads the definitions file MLOPS_FEATURE_REPO names, joins the label file
against the offline history in S3, and the registered version (DynamoDB) names the views."""

from __future__ import annotations

import io

import pyarrow.csv as pacsv
import pytest

from mlops_template.core.features.definitions import load_repo
from mlops_template.core.features.ingest import ingest, read_source_file
from mlops_template.core.features.offline import OfflineStore
from mlops_template.core.features.serving import manifest_key
from mlops_template.core.pipeline import PipelineSteps
from mlops_template.functions import runtime
from mlops_template.infra.aws import aws_backend as build_backend
from mlops_template.tooling import feature_demo
from mlops_template.tooling.emulation import AslPipeline
from tests.integration.test_train_from_views import (
    MODEL,
    VIEW,
    _csv,
    features_config,
    label_rows,
    source_rows,
)


@pytest.fixture
def deployed(aws, monkeypatch):
    monkeypatch.setenv("MLOPS_FEATURE_REPO", feature_demo.__file__)
    runtime.reset()  # the handlers read settings once per container
    backend = build_backend(aws)
    PipelineSteps(backend).save_config(features_config())
    return AslPipeline(aws, backend)


def test_a_label_file_goes_through_the_state_machine_to_a_version_trained_on_views(deployed):
    backend = deployed.backend
    view = load_repo(feature_demo.__file__).view(VIEW)
    source = source_rows()
    ingest(
        view,
        read_source_file(_csv(source), "stats.csv", text_columns=["customer_id"]),
        OfflineStore(backend.data),
        None,
    )
    backend.data.put("incoming/payments.csv", _csv(label_rows(source)))

    result = deployed.run(MODEL, "incoming/payments.csv", run_id="run-views")

    assert result.status == "registered", result.error
    assert result.transitions[:4] == ["Route", "WhichEngine", "Validate", "Train"]
    version = backend.registry.get(MODEL, 1)
    assert version.training_set is not None
    assert [(v["name"], v["version"]) for v in version.training_set["views"]] == [
        (VIEW, view.version)
    ]
    trained_on = PipelineSteps(backend).latest_dataset(MODEL)
    assert trained_on is not None and trained_on.sha256 == version.data_sha256
    table = pacsv.read_csv(io.BytesIO(backend.data.get(trained_on.key)))
    assert table.column_names == ["amount", "fraud", *view.feature_names]
    assert backend.artifacts.exists(manifest_key(version.data_sha256))


def test_a_view_that_is_not_defined_fails_the_execution_and_registers_nothing(
    deployed, monkeypatch
):
    backend = deployed.backend
    PipelineSteps(backend).save_config(features_config(views=["no_such_view"]))
    backend.data.put("incoming/payments.csv", _csv(label_rows(source_rows())))

    result = deployed.run(MODEL, "incoming/payments.csv", run_id="run-no-view")

    assert result.status == "failed"
    assert result.transitions == ["Route", "WhichEngine", "Validate", "RecordFailure", "Failed"]
    assert "no feature view 'no_such_view'" in (result.error or "")
    assert backend.registry.versions(MODEL) == []
    assert backend.registry.get_run(MODEL, "run-no-view").status == "rejected_data"
