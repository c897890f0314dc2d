"""The monitor's memory and time by window size: `python -m tests.benchmarks.bench_monitor`.

Writes N captures of a 30-feature model as JSON lines into a scratch local home, in objects of
100k lines (as Firehose delivers full buffers) under the capture layout, with a reference
profile built from the same distribution; then, in a subprocess, reads the whole window the way
the monitor does (`core.monitoring.scan_window`: every capture of the version, binned as read,
objects read in parallel, the drift report computed) and reports the child's own peak RSS
(os.wait4) and time. The registry lookups around it are the same whatever the traffic and are
left out. Bounded memory means peak RSS stays flat as N grows.

    python -m tests.benchmarks.bench_monitor                     # 100k, 1M, 3M
    python -m tests.benchmarks.bench_monitor --rows 20000 200000

`measure(rows)` -> (seconds, peak_mb) is the one-row entry point other benchmarks call.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

DEFAULT_ROWS = (100_000, 1_000_000, 3_000_000)
FEATURES = 30
OBJECT_ROWS = 100_000
MODEL = "bench"
START = datetime(2026, 11, 22, tzinfo=UTC)
# Measured before captures moved to S3 (issue 10): the newest-5,000 reader, scaled to 1M rows.
BEFORE = {1_000_000: (27.8, 3800.0)}


def _profile_json(seed: int = 0) -> str:
    from mlops_template.training.drift import FeatureProfile, ReferenceProfile

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


def write_captures(home: Path, rows: int, seed: int = 1) -> None:
    """`rows` captures of version 1 over one day, OBJECT_ROWS lines an object."""
    from mlops_template.core.captures import partition_of

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


def _child(home: str, profile_file: str) -> None:
    """The measured process: what a monitor run does with the window."""
    import resource
    import time

    from mlops_template.core.monitoring import scan_window
    from mlops_template.infra.local.predictions import FilePredictionLog
    from mlops_template.training.config import DriftConfig
    from mlops_template.training.drift import ReferenceProfile

    profile = ReferenceProfile.model_validate_json(Path(profile_file).read_text())
    started = time.perf_counter()
    scan = scan_window(FilePredictionLog(home), MODEL, 1, profile, START, START + timedelta(days=1))
    report = scan.drift.report(DriftConfig())
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    print(
        json.dumps({"seconds": seconds, "cpu": cpu, "captured": scan.captured, "rows": report.rows})
    )


def measure(rows: int) -> tuple[float, float]:
    """(seconds, peak RSS in MB) of the monitor reading a window of `rows` captures."""
    figure = measure_all(rows)
    return figure[0], figure[2]


def measure_all(rows: int) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of the whole child, peak RSS in MB): on a shared machine the
    CPU time is the steadier figure."""
    with tempfile.TemporaryDirectory() as scratch:
        home, profile = Path(scratch) / "home", Path(scratch) / "profile.json"
        profile.write_text(_profile_json())
        write_captures(home, rows)
        code = (
            "from tests.benchmarks.bench_monitor import _child; "
            f"_child({str(home)!r}, {str(profile)!r})"
        )
        child = subprocess.Popen(
            [sys.executable, "-c", code], stdout=subprocess.PIPE, cwd=Path(__file__).parents[2]
        )
        assert child.stdout is not None
        out = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        if status:
            raise RuntimeError(f"the monitor child failed with status {status}")
        result = json.loads(out)
        if result["captured"] != rows:
            raise RuntimeError(f"read {result['captured']} of {rows} captures")
        return result["seconds"], result["cpu"], usage.ru_maxrss / 1024  # KB on Linux


def table(figures: dict[int, tuple[float, float, float]]) -> str:
    smallest = figures[min(figures)][2]
    lines = [
        "| captures | seconds | CPU seconds | peak RSS MB | RSS vs smallest "
        "| before: seconds | before: MB |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for rows, (seconds, cpu, peak) in sorted(figures.items()):
        before_s, before_mb = BEFORE.get(rows, (None, None))
        lines.append(
            f"| {rows:,} | {seconds:.1f} | {cpu:.1f} | {peak:.0f} | {peak / smallest:.2f}x | "
            f"{before_s or '-'} | {before_mb or '-'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS))
    args = parser.parse_args(argv)
    figures: dict[int, tuple[float, float, float]] = {}
    for rows in args.rows:
        figures[rows] = measure_all(rows)
        print(f"{rows:,} captures: {figures[rows]}", file=sys.stderr, flush=True)
    print(table(figures))


if __name__ == "__main__":
    main()
