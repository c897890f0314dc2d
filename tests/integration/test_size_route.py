"""The size route and the first-file contract, on the local backend: which engine a file goes
to, what the SageMaker branch is handed, a first file's schema (sampled, stored only when the
file passes), the Processing entry point, and a step that dies quarantining the file."""

from __future__ import annotations

import json

import pytest

from mlops_template.core.pipeline import LocalPipeline, PipelineSteps
from mlops_template.core.settings import DATA_MEMORY_FACTOR, LAMBDA_RUNTIME_MB, Settings
from mlops_template.training import contract
from mlops_template.training.config import TrainingConfig
from mlops_template.training.datasets import TARGET
from mlops_template.training.processing_entry import run as process
from mlops_template.training.schema import DatasetSchema, SchemaError

MODEL = "breast-cancer"
MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("memory_mb", "limit"),
    [(3008, 624 * MIB), (6144, 1408 * MIB), (10240, 2432 * MIB), (512, 0), (128, 0)],
)
def test_the_lambda_limit_is_computed_from_the_functions_memory(memory_mb, limit):
    assert (LAMBDA_RUNTIME_MB, DATA_MEMORY_FACTOR) == (512, 4)
    assert Settings(pipeline_memory_mb=memory_mb).lambda_max_data_bytes == limit


def routed(backend, size, **settings):
    backend.data.put("incoming/f.csv", b"x" * size)
    config = Settings(training_image_uri="img:1", **settings)
    return PipelineSteps(backend).route(MODEL, "incoming/f.csv", "run-1", config)


def test_a_file_at_the_limit_stays_in_lambda_and_one_byte_more_goes_to_sagemaker(backend):
    PipelineSteps(backend).save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    # 520 MB of memory: (520 - 512) MiB / 4 = 2 MiB.
    at = routed(backend, 2 * MIB, pipeline_memory_mb=520)
    assert (at.engine, at.size_bytes, at.limit_bytes, at.jobs) == ("lambda", 2 * MIB, 2 * MIB, None)
    assert backend.data.exists("incoming/f.csv")  # the validate step claims it
    over = routed(backend, 2 * MIB + 1, pipeline_memory_mb=520)
    assert over.engine == "sagemaker" and over.jobs is not None
    jobs = over.jobs
    assert jobs.data_key == f"claimed/{MODEL}/run-1/f.csv"
    assert not backend.data.exists("incoming/f.csv") and backend.data.exists(jobs.data_key)
    assert (jobs.processing_job, jobs.training_job) == (
        f"{MODEL}-run-1-validate",
        f"{MODEL}-run-1-train",
    )
    assert jobs.image_uri == "img:1" and jobs.volume_gb == 30
    written = json.loads(backend.data.get(f"jobs/{MODEL}/run-1/contract/contract.json"))
    assert written["config"]["target"] == TARGET and written["schema"] is None
    assert backend.registry.get_run(MODEL, "run-1").status == "running"


def test_a_forced_mode_wins_over_the_size(backend):
    PipelineSteps(backend).save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    assert routed(backend, 10, training_mode="sagemaker").engine == "sagemaker"
    assert routed(backend, 10 * MIB, pipeline_memory_mb=128, training_mode="lambda").engine == (
        "lambda"
    )


def test_the_first_contract_is_inferred_from_a_bounded_sample(csv_bytes, monkeypatch):
    config = TrainingConfig(model_name=MODEL, target=TARGET)
    monkeypatch.setattr(contract, "SAMPLE_ROWS", 100)
    seen = []
    infer = contract.infer_schema
    monkeypatch.setattr(
        contract, "infer_schema", lambda f, t, **kw: seen.append(len(f)) or infer(f, t, **kw)
    )
    assert contract.first_contract(csv_bytes, config).target.name == TARGET
    assert seen == [100]


def test_a_first_file_over_the_size_limit_yields_no_contract(csv_bytes):
    small = TrainingConfig.model_validate(
        {"model_name": MODEL, "target": TARGET, "validation": {"max_bytes": 1000}}
    )
    with pytest.raises(SchemaError, match="over the limit of 1000 bytes"):
        contract.first_contract(csv_bytes, small)


def test_a_rejected_first_file_leaves_no_schema_and_an_accepted_one_does(backend, csv_bytes):
    PipelineSteps(backend).save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    backend.data.put("incoming/bad.csv", csv_bytes.replace(b"benign", b"", 200))
    bad = LocalPipeline(backend).run(MODEL, "incoming/bad.csv")
    assert bad.error_type == "DataValidationError"
    assert PipelineSteps(backend).load_schema(MODEL) is None
    backend.data.put("incoming/good.csv", csv_bytes)
    assert LocalPipeline(backend).run(MODEL, "incoming/good.csv").status == "registered"
    assert PipelineSteps(backend).load_schema(MODEL) is not None


def test_a_step_that_dies_quarantines_the_file_with_a_report(backend, csv_bytes, monkeypatch):
    from mlops_template.core import pipeline

    def out_of_memory(*args, **kwargs):
        raise MemoryError("Runtime exited with error: signal: killed")

    PipelineSteps(backend).save_config(TrainingConfig(model_name=MODEL, target=TARGET))
    monkeypatch.setattr(pipeline, "train", out_of_memory)
    backend.data.put("incoming/d.csv", csv_bytes)
    result = LocalPipeline(backend).run(MODEL, "incoming/d.csv", run_id="run-oom")
    assert result.status == "failed" and result.error_type == "MemoryError"
    keys = backend.data.keys(f"quarantine/{MODEL}/")
    (report_key,) = [k for k in keys if k.endswith(".report.json")]
    report = json.loads(backend.data.get(report_key))
    assert report["step"] == "train"
    assert report["verdict"].startswith("the train step ran out of memory")
    assert report_key.removesuffix(".report.json") in keys
    assert backend.registry.versions(MODEL) == []


def write_job_inputs(base, data, config, schema=None):
    (base / "input" / "data").mkdir(parents=True)
    (base / "input" / "contract").mkdir(parents=True)
    (base / "input" / "data" / "f.csv").write_bytes(data)
    contract_doc = {
        "source": "s3://b/incoming/f.csv",
        "config": config.model_dump(mode="json"),
        "schema": json.loads(schema.to_json()) if schema else None,
    }
    (base / "input" / "contract" / "contract.json").write_text(json.dumps(contract_doc))


def test_the_processing_entry_point_writes_the_report_and_a_first_schema(tmp_path, csv_bytes):
    config = TrainingConfig(model_name=MODEL, target=TARGET)
    write_job_inputs(tmp_path, csv_bytes, config)
    report = process(tmp_path)
    assert report.passed and report.rows == csv_bytes.count(b"\n") - 1
    written = json.loads((tmp_path / "output" / "report.json").read_text())
    assert written["passed"] and written["source"] == "s3://b/incoming/f.csv"
    schema = DatasetSchema.from_json((tmp_path / "output" / "schema.json").read_text())
    assert schema.target.name == TARGET


def test_the_processing_entry_point_refuses_bad_data_in_its_report(tmp_path, csv_bytes, schema):
    config = TrainingConfig(model_name=MODEL, target=TARGET)
    write_job_inputs(tmp_path, csv_bytes.replace(b"benign", b"healthy", 10), config, schema)
    report = process(tmp_path)
    assert not report.passed and "labels outside" in report.summary()
    assert not (tmp_path / "output" / "schema.json").exists()  # the stored one applies
