"""`mlops bench`: our inference handler against the naive baseline, side by side in one run.

Both handlers serve the same model (the sample data set, gradient boosting) to the same API
Gateway HTTP API (v2) events, each in fresh processes of this interpreter:

- cold init: a new process imports the handler and serves its first request (median of N);
- warm latency: the handler called in-process, one request at a time (p50, p99), 1 and 100 records;
- batch throughput: one request of `batch_rows` records, rows per second (median of 3);
- package size: our Lambda zip (`mlops package`) against the baseline's dependencies built the
  same way;
- parity: largest |ONNX - scikit-learn| probability over the whole data set;
- the online feature lookup: our handler's warm p50/p99 for a plain 1-record request beside the
  same record named by its entity (`{"entity_id": "e0"}`), its features read from the online
  store (SQLite locally) before scoring, both in the same process and run.

Our handler runs on the local backend (model files and registry on disk, like the baseline's
pickle): the comparison is about the serving stack, not S3 or DynamoDB latency.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The baseline is a standalone module beside this one: its probe imports it from this folder.
HERE = Path(__file__).resolve().parent
MODEL = "bench"
ENTITY_KEY = "entity_id"
BASELINE_DISTRIBUTIONS = (
    "fastapi",
    "mangum",
    "aws-lambda-powertools",
    "pydantic",
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "joblib",
)


@dataclass
class BenchConfig:
    cold_runs: int = 5
    warm_requests: int = 300
    batch_rows: int = 10_000
    batch_repeats: int = 3
    package: bool = True


@dataclass
class Side:
    cold_seconds: list[float] = field(default_factory=list)
    warm: dict[str, Any] = field(default_factory=dict)
    unzipped_mb: float | None = None
    zipped_mb: float | None = None


@dataclass
class BenchResult:
    config: BenchConfig
    ours: Side
    baseline: Side
    parity_error: float
    machine: str
    seconds: float

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        """(metric, ours, baseline, ours/baseline, target) for the table."""
        o, b = self.ours, self.baseline

        def ratio(x: float | None, y: float | None) -> str:
            return f"{x / y:.2f}x" if x is not None and y else "-"

        cold_o, cold_b = statistics.median(o.cold_seconds), statistics.median(b.cold_seconds)
        rows = [
            (
                "cold init: import + first request (s, median)",
                f"{cold_o:.3f}",
                f"{cold_b:.3f}",
                ratio(cold_o, cold_b),
                "<= 0.35x",
            ),
        ]
        for size in ("1", "100"):
            for stat in ("p50", "p99"):
                key = f"{stat}_ms_{size}"
                target = "<= 5 ms" if (size, stat) == ("1", "p99") else ""
                rows.append(
                    (
                        f"warm {stat}, {size} record{'s' if size != '1' else ''} (ms)",
                        f"{o.warm[key]:.2f}",
                        f"{b.warm[key]:.2f}",
                        ratio(o.warm[key], b.warm[key]),
                        target,
                    )
                )
        rows.append(
            (
                f"batch of {self.config.batch_rows:,} records (rows/s)",
                f"{o.warm['rows_per_second']:,.0f}",
                f"{b.warm['rows_per_second']:,.0f}",
                ratio(o.warm["rows_per_second"], b.warm["rows_per_second"]),
                ">= 1.00x",
            )
        )
        if o.unzipped_mb is not None and b.unzipped_mb is not None:
            rows.append(
                (
                    "package, unzipped (MB)",
                    f"{o.unzipped_mb:.1f}",
                    f"{b.unzipped_mb:.1f}",
                    ratio(o.unzipped_mb, b.unzipped_mb),
                    "<= 150 MB",
                )
            )
            rows.append(
                (
                    "package, zipped (MB)",
                    f"{o.zipped_mb:.1f}",
                    f"{b.zipped_mb:.1f}",
                    ratio(o.zipped_mb, b.zipped_mb),
                    "<= 50 MB",
                )
            )
        rows.append(
            (
                "ONNX vs scikit-learn max |p| difference",
                f"{self.parity_error:.1e}",
                "-",
                "-",
                "<= 1e-5",
            )
        )
        return rows

    def feature_rows(self) -> list[tuple[str, str, str, str]]:
        """(metric, plain record, entity record, entity / plain): the online lookup's cost."""
        w = self.ours.warm
        rows = []
        for stat in ("p50", "p99"):
            plain, entity = w.get(f"{stat}_ms_1"), w.get(f"{stat}_ms_entity")
            if plain is None or entity is None:
                continue
            rows.append(
                (
                    f"warm {stat}, 1 record (ms)",
                    f"{plain:.2f}",
                    f"{entity:.2f}",
                    f"{entity / plain:.2f}x" if plain else "-",
                )
            )
        return rows


# -- the probe: what runs in each fresh process -----------------------------------------------

PROBE = r"""
import json, sys, time
which, mode, events_path = sys.argv[1], sys.argv[2], sys.argv[3]
with open(events_path) as handle:
    events = json.load(handle)  # before the clock: reading the events is not the handler's cost
start = time.perf_counter()
if which == "ours":
    from mlops_template.functions.inference.handler import handler
else:
    sys.path.insert(0, sys.argv[4])
    from bench_baseline import handler


class Context:
    function_name = "bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"
    log_group_name = log_stream_name = "bench"

    def get_remaining_time_in_millis(self):
        return 30000


context = Context()
first = handler(events["1"], context)
cold = time.perf_counter() - start
assert first["statusCode"] == 200, first
if mode == "cold":
    print(json.dumps({"cold": cold}))
    sys.exit(0)


def timed(event, n):
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        response = handler(event, context)
        samples.append((time.perf_counter() - t) * 1000)
        assert response["statusCode"] == 200, response["body"][:300]
    samples.sort()
    return samples[len(samples) // 2], samples[min(len(samples) - 1, int(len(samples) * 0.99))]


n = int(sys.argv[5])
for _ in range(20):
    handler(events["1"], context)
    handler(events["100"], context)
out = {}
out["p50_ms_1"], out["p99_ms_1"] = timed(events["1"], n)
out["p50_ms_100"], out["p99_ms_100"] = timed(events["100"], max(20, n // 3))
if which == "ours":  # the same record named by its entity, features from the online store
    for _ in range(20):
        handler(events["entity"], context)
    out["p50_ms_entity"], out["p99_ms_entity"] = timed(events["entity"], n)
rows = int(sys.argv[6])
batch = []
for _ in range(int(sys.argv[7])):
    t = time.perf_counter()
    response = handler(events["batch"], context)
    batch.append(time.perf_counter() - t)
    assert response["statusCode"] == 200, response["body"][:300]
    assert len(json.loads(response["body"])["predictions"]) == rows
out["rows_per_second"] = rows / sorted(batch)[len(batch) // 2]
print(json.dumps(out))
"""


def _event(records: list[dict[str, Any]]) -> dict[str, Any]:
    from mlops_template.tooling.emulation import http_api_event

    return http_api_event("POST", "/predict", json.dumps({"records": records}))


def _entity_store(
    backend: Any, data_sha256: str, names: list[str], features: list[dict[str, Any]]
) -> None:
    """Serve the model's inputs as one feature view too: a training-set manifest naming it under
    the version's data_sha256, and every data set row online as an entity (e0, e1, ...)."""
    from mlops_template.core.features.definitions import ViewSpec
    from mlops_template.core.features.online import OnlineRecord
    from mlops_template.core.features.serving import manifest_key

    now = int(time.time() * 1000)
    view = ViewSpec(
        name="bench_inputs",
        version="0" * 16,
        join_key=ENTITY_KEY,
        features=tuple((n, "float64") for n in names),
        ttl_ms=365 * 86_400_000,
    )
    backend.artifacts.put(
        manifest_key(data_sha256), json.dumps({"views": [view.to_json()]}).encode()
    )
    records = [
        OnlineRecord(entity=f"e{i}", event_ms=now, created_ms=now, values=row)
        for i, row in enumerate(features)
    ]
    backend.online_features.write(view.name, view.version, records, ttl_ms=view.ttl_ms)


def prepare(work: Path, batch_rows: int) -> tuple[dict[str, str], float]:
    """Train once; register it for our handler and pickle it for the baseline's."""
    import joblib
    import numpy as np

    from mlops_template.core.pipeline import Dataset, PipelineSteps
    from mlops_template.core.settings import Settings
    from mlops_template.infra.local import local_backend
    from mlops_template.training.config import TrainingConfig
    from mlops_template.training.datasets import TARGET, breast_cancer_frame, to_csv_bytes
    from mlops_template.training.export import parity_error
    from mlops_template.training.gate import GateResult
    from mlops_template.training.schema import infer_schema
    from mlops_template.training.train import train
    from mlops_template.training.validation import validate_csv

    home = work / "home"
    backend = local_backend(Settings(home=home))
    frame = breast_cancer_frame()
    data = to_csv_bytes(frame)
    schema = infer_schema(frame, TARGET)
    report, typed = validate_csv(data, schema)
    assert typed is not None, report.summary()
    run = train(
        typed, schema, TrainingConfig(model_name=MODEL, target=TARGET), data_sha256=report.sha256
    )
    steps = PipelineSteps(backend)
    uploaded = steps.upload_run(MODEL, "bench", run)
    gate = GateResult(passed=True, metric="roc_auc", candidate=1, baseline=0.5, reasons=[])
    dataset = Dataset(key="x", uri="file:///x", sha256=report.sha256, rows=len(frame))
    version = steps.register(MODEL, uploaded, gate, dataset, actor="bench")
    backend.registry.promote(MODEL, version.version, "production", actor="bench")
    joblib.dump(run.pipeline, work / "baseline.joblib")

    features = frame[schema.feature_names].to_dict(orient="records")
    repeated = [features[i % len(features)] for i in range(batch_rows)]
    _entity_store(backend, report.sha256, schema.feature_names, features)
    events = {
        "1": _event(features[:1]),
        "100": _event(features[:100]),
        "batch": _event(repeated),
        "entity": _event([{ENTITY_KEY: "e0"}]),
    }
    (work / "events.json").write_text(json.dumps(events))
    (work / "cold-events.json").write_text(json.dumps({"1": events["1"]}))
    parity = parity_error(run.pipeline, run.onnx_bytes, typed, schema)
    env = {
        "MLOPS_HOME": str(home),
        "MLOPS_MODEL_NAME": MODEL,
        "MLOPS_CAPTURE_SAMPLE_RATE": "0",
        "MLOPS_MODEL_REFRESH_SECONDS": "30",
        "MLOPS_MAX_BATCH_RECORDS": str(max(batch_rows, 100)),
        "MLOPS_MAX_BODY_BYTES": str(64 * 1024 * 1024),
        "BASELINE_MODEL_PATH": str(work / "baseline.joblib"),
    }
    return env, float(np.float64(parity))


def probe(which: str, mode: str, work: Path, env: dict[str, str], config: BenchConfig) -> dict:
    command = [
        sys.executable,
        "-c",
        PROBE,
        which,
        mode,
        str(work / ("cold-events.json" if mode == "cold" else "events.json")),
        str(HERE),
        str(config.warm_requests),
        str(config.batch_rows),
        str(config.batch_repeats),
    ]
    # Byte-code caches on, as in a deployed package (which ships them for its cold start).
    environment = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    result = subprocess.run(  # noqa: S603 - our own interpreter and probe
        command,
        capture_output=True,
        text=True,
        check=False,
        cwd=work,
        env={**environment, **env},
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{which} {mode} probe failed:\n{result.stderr[-3000:]}")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def package_sizes(work: Path) -> tuple[tuple[float, float], tuple[float, float]]:
    from mlops_template.tooling.packaging import (
        MB,
        build_inference,
        deterministic_zip,
        host_architecture,
        install_for_lambda,
        pinned,
        prune_runtime_provided,
    )

    arch = host_architecture()
    ours = build_inference(work / "dist", arch)
    baseline_dir = work / "baseline-package"
    install_for_lambda(pinned(BASELINE_DISTRIBUTIONS), baseline_dir, arch)
    prune_runtime_provided(baseline_dir)
    shutil.copy(HERE / "bench_baseline.py", baseline_dir / "bench_baseline.py")
    unzipped = sum(p.stat().st_size for p in baseline_dir.rglob("*") if p.is_file())
    archive = work / "baseline.zip"
    deterministic_zip(baseline_dir, archive, compresslevel=6)
    return (
        (ours.unzipped_bytes / MB, ours.zipped_bytes / MB),
        (unzipped / MB, archive.stat().st_size / MB),
    )


def run(config: BenchConfig | None = None, *, progress: Any = None) -> BenchResult:
    config = config or BenchConfig()
    say = progress or (lambda _message: None)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    try:
        say("training the benchmark model")
        env, parity = prepare(work, config.batch_rows)
        ours, baseline = Side(), Side()
        say("warming the byte-code caches")
        probe("ours", "cold", work, env, config)
        probe("baseline", "cold", work, env, config)
        for i in range(config.cold_runs):
            say(f"cold starts {i + 1}/{config.cold_runs}")
            # Alternate, so machine noise falls on both sides alike.
            ours.cold_seconds.append(probe("ours", "cold", work, env, config)["cold"])
            baseline.cold_seconds.append(probe("baseline", "cold", work, env, config)["cold"])
        say("warm latency and batch throughput")
        ours.warm = probe("ours", "warm", work, env, config)
        baseline.warm = probe("baseline", "warm", work, env, config)
        if config.package:
            say("building both packages")
            (ours.unzipped_mb, ours.zipped_mb), (baseline.unzipped_mb, baseline.zipped_mb) = (
                package_sizes(work)
            )
        import platform

        machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
        return BenchResult(
            config=config,
            ours=ours,
            baseline=baseline,
            parity_error=parity,
            machine=machine,
            seconds=time.perf_counter() - started,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def as_dict(result: BenchResult) -> dict[str, Any]:
    return {
        "machine": result.machine,
        "seconds": round(result.seconds, 1),
        "config": result.config.__dict__,
        "ours": result.ours.__dict__,
        "baseline": result.baseline.__dict__,
        "parity_error": result.parity_error,
        "table": [
            dict(zip(("metric", "ours", "baseline", "ratio", "target"), r, strict=True))
            for r in result.rows()
        ],
        "online_lookup": [
            dict(zip(("metric", "plain", "entity", "ratio"), r, strict=True))
            for r in result.feature_rows()
        ],
    }
