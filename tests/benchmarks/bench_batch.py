"""Batch scoring's memory and throughput by file size: `python -m tests.benchmarks.bench_batch`.

Trains and promotes the sample model in a scratch MLOPS_HOME, writes files of the sample schema
(its 569 rows repeated, every value jittered so no two rows are equal), then runs
`mlops predict` on each in a subprocess and reports the child's own peak RSS (os.wait4) and
rows per second. Bounded memory means the peak RSS stays flat as the file grows. With
`--formats csv parquet` each size is also written as Parquet (the same rows, written 50k rows a
row group, pyarrow) and scored from there, for figures side by side.

    python -m tests.benchmarks.bench_batch                  # 569 rows, 100k and 1M
    python -m tests.benchmarks.bench_batch --rows 1000 20000 # any sizes
    python -m tests.benchmarks.bench_batch --rows 1000000 --formats csv parquet
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mlops_template.training.datasets import TARGET, breast_cancer_frame, to_csv_bytes

DEFAULT_ROWS = (569, 100_000, 1_000_000)


@dataclass
class Figure:
    format: str
    rows: int
    megabytes: float
    seconds: float
    peak_rss_mb: float
    scored: int

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds


def _pieces(rows: int, seed: int) -> Iterator[pd.DataFrame]:
    """`rows` rows of the sample schema, 50k at a time (the benchmark's own memory is not the
    one measured, but it should not need gigabytes either)."""
    base = breast_cancer_frame()
    features = [c for c in base.columns if c != TARGET]
    rng = np.random.default_rng(seed)
    written = 0
    while written < rows:
        n = min(50_000, rows - written)
        picked = base.sample(n=n, replace=True, random_state=int(rng.integers(1 << 31)))
        jitter = rng.normal(1.0, 0.01, size=(n, len(features)))
        picked[features] = (picked[features].to_numpy() * jitter).round(5)
        picked.insert(0, "row_id", np.arange(written, written + n))
        yield picked.reset_index(drop=True)
        written += n


def write_rows(path: Path, rows: int, seed: int = 0) -> None:
    with path.open("w", newline="") as handle:
        for i, piece in enumerate(_pieces(rows, seed)):
            piece.to_csv(handle, header=i == 0, index=False)


def write_parquet(path: Path, rows: int, seed: int = 0) -> None:
    """The same rows as `write_rows` (same seed), one row group per 50k rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    try:
        for piece in _pieces(rows, seed):
            table = pa.Table.from_pandas(piece, preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()


def mlops(*args: str, env: dict[str, str]) -> tuple[float, float, str]:
    """Run `mlops ...`; its wall seconds, its own peak RSS in MB, and its output."""
    script = Path(sys.executable).with_name("mlops")
    command = [str(script if script.exists() else "mlops"), *args]
    started = time.perf_counter()
    with tempfile.TemporaryFile() as output:
        child = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode(errors="replace")
    if child.returncode != 0:
        raise RuntimeError(f"mlops {' '.join(args)} exited {child.returncode}:\n{text}")
    return seconds, usage.ru_maxrss / 1024, text  # ru_maxrss is in KiB on Linux


def run(
    sizes: tuple[int, ...], chunk_rows: int = 10_000, formats: tuple[str, ...] = ("csv",)
) -> list[Figure]:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        env = {**os.environ, "MLOPS_HOME": str(root / "home"), "MLOPS_MODEL_NAME": "bench"}
        env.pop("MLOPS_BACKEND", None)
        sample = root / "sample.csv"
        sample.write_bytes(to_csv_bytes(breast_cancer_frame()))
        mlops("train", "--data", str(sample), "--target", TARGET, "--promote", "production",
              env=env)  # fmt: skip
        figures = []
        for rows in sizes:
            for kind in formats:
                data = root / f"rows-{rows}.{kind}"
                (write_parquet if kind == "parquet" else write_rows)(data, rows)
                out = root / f"out-{rows}.csv"
                seconds, rss, _ = mlops(
                    "predict", "--data", str(data), "--out", str(out), "--keys", "row_id",
                    "--chunk-rows", str(chunk_rows), env=env,
                )  # fmt: skip
                scored = sum(1 for _ in out.open()) - 1
                megabytes = data.stat().st_size / 1e6
                figures.append(Figure(kind, rows, megabytes, seconds, rss, scored))
                data.unlink()
                out.unlink()
        return figures


def table(figures: list[Figure]) -> str:
    lines = [
        "| format | rows | file (MB) | seconds (process) | rows/s | peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for f in figures:
        lines.append(
            f"| {f.format} | {f.rows:,} | {f.megabytes:,.1f} | {f.seconds:.1f} | "
            f"{f.rows_per_second:,.0f} | {f.peak_rss_mb:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS))
    parser.add_argument("--chunk-rows", type=int, default=10_000)
    parser.add_argument(
        "--formats", nargs="+", choices=["csv", "parquet"], default=["csv"],
        help="input formats to score each size from (parquet needs pyarrow)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    figures = run(tuple(args.rows), args.chunk_rows, tuple(args.formats))
    for f in figures:
        if f.scored != f.rows:
            raise SystemExit(f"{f.rows} rows in, {f.scored} scored")
    print(table(figures))


if __name__ == "__main__":
    main()
