"""The monitor's case of `mlops bench --data`: reading a window of N captures.

The window is written once per size (beside the table, by `write_window`): N captures of a
30-feature model over one day as JSON lines, in objects of 100k lines (as Firehose delivers full
buffers) under the capture layout, with a reference profile drawn from the same distribution.
`monitor_case` then does what a monitor run does with it (`core.monitoring.scan_window`: every
capture of the version, binned as read, objects read in parallel, the drift report computed) and
fails unless it read every capture. The registry lookups around it are the same whatever the
traffic and are left out. This module imports what the monitor imports, so the bench's clock
(started after the case's module is imported) times the reading, not the imports.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from mlops_template.core.captures import partition_of
from mlops_template.core.monitoring import scan_window
from mlops_template.infra.local.predictions import FilePredictionLog
from mlops_template.tooling.bench_data import window_of
from mlops_template.training.config import DriftConfig
from mlops_template.training.drift import FeatureProfile, ReferenceProfile

FEATURES = 30
OBJECT_ROWS = 100_000
MODEL = "bench"
START = datetime(2026, 11, 22, tzinfo=UTC)
PROFILE = "profile.json"
EXPECTED = "window.json"


def profile_json(seed: int = 0) -> str:
    rng = np.random.default_rng(seed)
    features = []
    for j in range(FEATURES):
        values = rng.normal(j, 1 + j / 10, size=20_000)
        edges = np.unique(np.quantile(values, np.linspace(0, 1, 11)[1:-1]))
        sample = np.sort(rng.choice(values, 2_000, replace=False))
        features.append(
            FeatureProfile(
                name=f"f{j:02d}",
                kind="numeric",
                edges=edges.tolist(),
                expected=[0.1] * (len(edges) + 1),
                sample=sample.round(6).tolist(),
            )
        )
    return ReferenceProfile(rows=20_000, features=features).model_dump_json()


def write_window(home: Path, rows: int, seed: int = 1) -> None:
    """`rows` captures of version 1 over one day, OBJECT_ROWS lines an object, and the
    reference profile."""
    rng = np.random.default_rng(seed)
    folder = home / partition_of(MODEL, 1, START.isoformat())
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"f{j:02d}" for j in range(FEATURES)]
    seconds_apart = 86_400 / max(rows, 1)
    for first in range(0, rows, OBJECT_ROWS):
        n = min(OBJECT_ROWS, rows - first)
        values = rng.normal(np.arange(FEATURES), 1 + np.arange(FEATURES) / 10, size=(n, FEATURES))
        lines = []
        for i, row in enumerate(values.round(5)):
            at = (START + timedelta(seconds=(first + i) * seconds_apart)).isoformat(
                timespec="milliseconds"
            )
            features = ",".join(f'"{k}":{v}' for k, v in zip(names, row, strict=True))
            lines.append(
                f'{{"prediction_id":"p{first + i}","model":"{MODEL}","version":1,'
                f'"stage":"production","at":"{at}","features":{{{features}}},'
                f'"label":"yes","probability":0.9}}\n'
            )
        (folder / f"part-{first // OBJECT_ROWS:05d}.jsonl").write_text("".join(lines))
    (home / PROFILE).write_text(profile_json())
    (home / EXPECTED).write_text(json.dumps({"rows": rows}))


def monitor_case(data: Path, schema_path: Path) -> None:
    """What a monitor run does with its window; `schema_path` is the table's (not used)."""
    home = window_of(data)
    profile = ReferenceProfile.model_validate_json((home / PROFILE).read_text())
    rows = json.loads((home / EXPECTED).read_text())["rows"]
    scan = scan_window(FilePredictionLog(home), MODEL, 1, profile, START, START + timedelta(days=1))
    report = scan.drift.report(DriftConfig())
    if scan.captured != rows or report.rows != rows:
        raise SystemExit(f"read {scan.captured} of {rows} captures")
