"""The edge bundle: what a device needs to score with a registered version, and nothing else.

`export_edge` writes into a folder: the ONNX model (verified against the registry's SHA-256),
the record's JSON Schema, a model card, `score.py` (onnxruntime + numpy only: no pandas, no
scikit-learn, nothing of this project), `index.html` with onnxruntime-web copied from its
pinned npm package (so the page works offline), and `SHA256SUMS` over all of it.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from importlib.resources import files
from pathlib import Path
from typing import Any

from mlops_template.core.artifacts import read_verified
from mlops_template.core.backend import Backend
from mlops_template.training.files import MODEL_FILE, SCHEMA_FILE
from mlops_template.training.onnx_model import INTERVAL_HALF_WIDTH
from mlops_template.training.schema import DatasetSchema

ONNXRUNTIME_WEB = "1.30.0"
# What a page needs of the npm package: the WebAssembly build (not ort.min.js, 28 MB more).
WEB_RUNTIME_FILES = (
    "ort.wasm.min.js",
    "ort-wasm-simd-threaded.mjs",
    "ort-wasm-simd-threaded.wasm",
)
CHECKSUMS = "SHA256SUMS"


class EdgeExportError(RuntimeError):
    """The bundle cannot be written (npm missing for the page, a folder not empty...)."""


def web_runtime(cache: Path) -> Path:
    """onnxruntime-web's dist folder, installed once with npm into `cache`."""
    dist = cache / "node_modules" / "onnxruntime-web" / "dist"
    if all((dist / name).exists() for name in WEB_RUNTIME_FILES):
        return dist
    npm = shutil.which("npm")
    if npm is None:
        raise EdgeExportError(
            "the bundle's page needs onnxruntime-web from npm, and npm is not on PATH: install "
            "Node.js, or export with --no-web for the Python scorer alone"
        )
    cache.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [
            npm,
            "install",
            "--prefix",
            str(cache),
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            f"onnxruntime-web@{ONNXRUNTIME_WEB}",
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return dist


def model_card(record: Any, schema: DatasetSchema, model_bytes: bytes) -> dict[str, Any]:
    import onnx

    metadata = {p.key: p.value for p in onnx.load_from_string(model_bytes).metadata_props}
    half_width = metadata.get(INTERVAL_HALF_WIDTH)
    target = schema.target
    return {
        "model": record.model,
        "version": record.version,
        "task": target.task,
        "target": target.name,
        "classes": target.classes,
        "label_values": target.label_values(),
        "features": [{"name": c.name, "kind": c.kind, "dtype": c.dtype} for c in schema.columns],
        "metrics": record.metrics,
        "baseline_metrics": record.baseline_metrics,
        "interval_half_width": float(half_width) if half_width is not None else None,
        "data_sha256": record.data_sha256,
        "model_sha256": record.model_sha256,
        "code_version": record.code_version,
        "trained_at": record.created_at,
    }


def export_edge(
    backend: Backend,
    model: str,
    version: int,
    out: Path,
    *,
    web_cache: Path | None = None,
) -> list[str]:
    """Write the bundle; returns the files written (relative paths). No `web_cache`: no page."""
    if out.exists() and any(out.iterdir()):
        raise EdgeExportError(f"{out} is not empty: the bundle holds exactly its own files")
    record = backend.registry.get(model, version)
    model_bytes = read_verified(backend.artifacts, record.artifacts[MODEL_FILE])
    schema = DatasetSchema.from_json(
        read_verified(backend.artifacts, record.artifacts[SCHEMA_FILE])
    )
    if schema.datetime_features:
        # score.py and the page feed the graph the record's columns as they are; a date column
        # would first need its calendar features (training.timefeatures), which they lack.
        raise EdgeExportError(
            f"{model} v{version} reads date columns {schema.datetime_features}: the edge "
            "scorers do not derive calendar features; serve it through the API"
        )
    dist = web_runtime(web_cache) if web_cache is not None else None
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.onnx").write_bytes(model_bytes)
    (out / "record.schema.json").write_text(
        json.dumps(schema.record_model.model_json_schema(), indent=2)
    )
    (out / "model_card.json").write_text(
        json.dumps(model_card(record, schema, model_bytes), indent=2)
    )
    edge = files(__package__)
    (out / "score.py").write_text(edge.joinpath("score.py").read_text())
    if dist is not None:
        (out / "index.html").write_text(edge.joinpath("index.html").read_text())
        (out / "ort").mkdir()
        for name in WEB_RUNTIME_FILES:
            shutil.copyfile(dist / name, out / "ort" / name)
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    sums = [f"{hashlib.sha256((out / name).read_bytes()).hexdigest()}  {name}" for name in written]
    (out / CHECKSUMS).write_text("\n".join(sums) + "\n")
    return [*written, CHECKSUMS]
