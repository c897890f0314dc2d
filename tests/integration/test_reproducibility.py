"""Same data, config and seed give the same model bytes in every process, as a user retrains.

Training twice in one process cannot show this: string hashing (PYTHONHASHSEED) and the number
of OpenMP threads are fixed for the life of a process, and both can change what gets exported.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlops_template.training.config import Algorithm
from mlops_template.training.datasets import TARGET

ALGORITHMS: tuple[Algorithm, ...] = (
    "logistic_regression",
    "random_forest",
    "hist_gradient_boosting",
    "lightgbm",
    "xgboost",
)
# Also trained as regressions on the diabetes table, into regression-<algorithm>.
REGRESSORS: tuple[Algorithm, ...] = ("linear_regression", "lightgbm", "xgboost")

# Trains every algorithm on one CSV and writes <algorithm>/model.onnx and manifest.json.
TRAIN_EVERY_ALGORITHM = f"""
import io, sys
from pathlib import Path
import pandas as pd
from mlops_template.training.config import TrainingConfig
from mlops_template.training.schema import infer_schema
from mlops_template.training.train import train
from mlops_template.training.validation import validate_csv

data, out = Path(sys.argv[1]).read_bytes(), Path(sys.argv[2])
schema = infer_schema(pd.read_csv(io.BytesIO(data)), {TARGET!r})
report, frame = validate_csv(data, schema)
assert frame is not None, report.summary()
for algorithm in {ALGORITHMS!r}:
    config = TrainingConfig(target={TARGET!r}).with_overrides(**{{"model.algorithm": algorithm}})
    train(frame, schema, config, data_sha256="x").write(out / algorithm)

from mlops_template.training.datasets import REGRESSION_TARGET, diabetes_frame, to_csv_bytes
data = to_csv_bytes(diabetes_frame())
schema = infer_schema(pd.read_csv(io.BytesIO(data)), REGRESSION_TARGET)
report, frame = validate_csv(data, schema)
for algorithm in {REGRESSORS!r}:
    config = TrainingConfig(target=REGRESSION_TARGET, model={{"algorithm": algorithm}})
    train(frame, schema, config, data_sha256="x").write(out / f"regression-{{algorithm}}")
"""

# In CPython 3.11+ these two hash seeds iterate skl2onnx's set of opsets in opposite orders.
ENVIRONMENTS = (
    {"PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"},
    {"PYTHONHASHSEED": "11", "OMP_NUM_THREADS": "2"},
)


def _train_in_a_new_process(csv: Path, out: Path, env: dict[str, str]) -> None:
    root = Path(__file__).resolve().parents[2]
    subprocess.run(
        [sys.executable, "-c", TRAIN_EVERY_ALGORITHM, str(csv), str(out)],
        env={**os.environ, "PYTHONPATH": str(root), **env},
        cwd=root,
        check=True,
        capture_output=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory, frame) -> list[Path]:
    base = tmp_path_factory.mktemp("reproducibility")
    csv = base / "data.csv"
    frame.head(300).to_csv(csv, index=False)
    outs = [base / f"run{i}" for i in range(len(ENVIRONMENTS))]
    for out, env in zip(outs, ENVIRONMENTS, strict=True):
        _train_in_a_new_process(csv, out, env)
    return outs


@pytest.mark.parametrize("algorithm", [*ALGORITHMS, *(f"regression-{a}" for a in REGRESSORS)])
def test_separate_processes_export_the_same_model_bytes(runs, algorithm):
    models = [(run / algorithm / "model.onnx").read_bytes() for run in runs]
    digests = [hashlib.sha256(m).hexdigest() for m in models]
    assert digests[0] == digests[1], f"{algorithm}: {digests} under {ENVIRONMENTS}"
    for run, digest in zip(runs, digests, strict=True):
        manifest = json.loads((run / algorithm / "manifest.json").read_text())
        assert manifest["model_sha256"] == digest
