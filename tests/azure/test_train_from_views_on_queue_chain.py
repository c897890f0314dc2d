"""Training from feature views through the Azure queue chain on Azurite: the chain's validate
step (the same step the local runner and the state machine run) joins the label file against
the offline history in Blob Storage, and the version in Table Storage names the views."""

from __future__ import annotations

import io

import pyarrow.csv as pacsv

from mlops_template.core.artifacts import arrival_key
from mlops_template.core.features.definitions import load_repo
from mlops_template.core.features.ingest import ingest, read_source_file
from mlops_template.core.features.offline import OfflineStore
from mlops_template.core.features.serving import manifest_key
from mlops_template.core.pipeline import PipelineSteps
from mlops_template.tooling import feature_demo
from tests.integration.test_train_from_views import (
    MODEL,
    VIEW,
    _csv,
    features_config,
    label_rows,
    source_rows,
)


def test_a_label_file_trains_from_views_through_the_queue_chain(azurite, monkeypatch):
    from mlops_template.tooling.azure_emulation import (
        FunctionHost,
        QueueChainPipeline,
        deployment,
    )

    monkeypatch.setenv("MLOPS_FEATURE_REPO", feature_demo.__file__)
    view = load_repo(feature_demo.__file__).view(VIEW)
    with deployment(azurite, model=MODEL) as settings:
        from mlops_template.azure_functions.runtime import backend

        store = backend()
        source = source_rows()
        rows = read_source_file(_csv(source), "stats.csv", text_columns=["customer_id"])
        ingest(view, rows, OfflineStore(store.data), None)
        PipelineSteps(store).save_config(features_config())
        key = arrival_key("payments.csv")
        store.data.put(key, _csv(label_rows(source)))

        result = QueueChainPipeline(FunctionHost(settings)).run(MODEL, key)

        assert result.status == "registered", result.error
        version = store.registry.get(MODEL, result.version)
        assert version.training_set is not None
        assert [(v["name"], v["version"]) for v in version.training_set["views"]] == [
            (VIEW, view.version)
        ]
        trained_on = PipelineSteps(store).latest_dataset(MODEL)
        assert trained_on is not None and trained_on.sha256 == version.data_sha256
        table = pacsv.read_csv(io.BytesIO(store.data.get(trained_on.key)))
        assert table.column_names == ["amount", "fraud", *view.feature_names]
        assert store.artifacts.exists(manifest_key(version.data_sha256))
