"""SageMaker script mode: the same training, run inside a SageMaker training job.

SageMaker mounts the `train` channel (the CSV) and the `schema` channel (the data contract)
under /opt/ml/input/data, writes hyperparameters to /opt/ml/input/config/hyperparameters.json
(the training toolkit also passes them as `--name value` and SM_HPS), and uploads SM_MODEL_DIR
as model.tar.gz.
The directory then holds exactly what a local run produces (model.onnx, schema.json,
profile.json, holdout.csv, manifest.json), so registration does not care where training ran.

    python -m mlops_template.training.sagemaker_entry --target diagnosis --algorithm random_forest
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mlops_template.training.config import ConfigError, TrainingConfig, parse_config
from mlops_template.training.schema import DatasetSchema, SchemaError
from mlops_template.training.train import TrainingError, train
from mlops_template.training.validation import validate_csv

SCHEMA_CHANNEL_FILE = "schema.json"


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model-name", "--model_name", dest="model_name")
    parser.add_argument("--target")
    parser.add_argument("--algorithm")
    parser.add_argument("--seed", type=int)
    parser.add_argument("--test-size", "--test_size", dest="test_size", type=float)
    parser.add_argument("--params", help="Estimator hyperparameters as JSON.")
    parser.add_argument("--config", help="A whole training config as JSON.")
    # SageMaker adds its own arguments in some containers; ignore what is not ours.
    args, _unknown = parser.parse_known_args(argv)
    return args


def build_config(args: argparse.Namespace, hps: dict[str, Any]) -> TrainingConfig:
    data: dict[str, Any] = json.loads(args.config or hps.get("config") or "{}")
    simple = {
        "model_name": args.model_name or hps.get("model_name"),
        "target": args.target or hps.get("target"),
        "seed": args.seed if args.seed is not None else hps.get("seed"),
        "test_size": args.test_size if args.test_size is not None else hps.get("test_size"),
    }
    data.update({k: v for k, v in simple.items() if v is not None})
    model = dict(data.get("model", {}))
    if args.algorithm or hps.get("algorithm"):
        model["algorithm"] = args.algorithm or hps["algorithm"]
    params = args.params or hps.get("params")
    if params:
        model["params"] = json.loads(params) if isinstance(params, str) else params
    if model:
        data["model"] = model
    return parse_config(data, source="hyperparameters")


def _hyperparameters(environ: Mapping[str, str]) -> dict[str, Any]:
    """SM_HPS when the SageMaker training toolkit runs us; else the file every job gets."""
    if "SM_HPS" in environ:
        return dict(json.loads(environ["SM_HPS"]))
    path = Path("/opt/ml/input/config/hyperparameters.json")
    return dict(json.loads(path.read_text())) if path.exists() else {}


def _read_training_data(channel: Path) -> tuple[Path, str]:
    """The channel's one data file (CSV or Parquet) and its SHA-256, hashed as it is read."""
    files = sorted(p for p in channel.iterdir() if p.is_file() and p.suffix in {".csv", ".parquet"})
    if len(files) != 1:
        raise TrainingError(f"expected one data file in {channel}, found {[p.name for p in files]}")
    digest = hashlib.sha256()
    with files[0].open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return files[0], digest.hexdigest()


def run(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> Path:
    """One training job. `environ`: where SageMaker's variables are read (default: the
    process's; an emulator running several jobs in one process passes each its own)."""
    env = os.environ if environ is None else environ
    args = _parse(argv)
    config = build_config(args, _hyperparameters(env))
    channel = Path(env.get("SM_CHANNEL_TRAIN", "/opt/ml/input/data/train"))
    schema_channel = Path(env.get("SM_CHANNEL_SCHEMA", "/opt/ml/input/data/schema"))
    model_dir = Path(env.get("SM_MODEL_DIR", "/opt/ml/model"))
    data, digest = _read_training_data(channel)
    schema_files = sorted(schema_channel.glob("*.json")) or sorted(
        channel.glob(SCHEMA_CHANNEL_FILE)
    )
    if schema_files:
        schema = DatasetSchema.from_json(schema_files[0].read_text())
    else:
        from mlops_template.training.contract import first_contract

        if not config.target:
            raise SchemaError("no schema.json in the train channel and no --target given")
        schema = first_contract(data, config, name=data.name)
    report, frame = validate_csv(
        data, schema, config.validation, source=str(channel), time_rules=config.time_split
    )
    if frame is None:
        raise TrainingError(f"training data failed validation: {report.summary()}")
    result = train(frame, schema, config, data_sha256=digest)
    return result.write(model_dir)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        out = run(argv)
    except (ConfigError, SchemaError, TrainingError) as exc:
        # SageMaker shows the content of this file as the job's FailureReason.
        failure = Path(os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output")) / "failure"
        try:
            failure.parent.mkdir(parents=True, exist_ok=True)
            failure.write_text(str(exc))
        except OSError:
            pass
        print(f"training failed: {exc}", file=sys.stderr)
        return 1
    print(f"model written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
