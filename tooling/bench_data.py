"""`mlops bench --data`: the data plane's peak memory and time by file size, in one run.

Writes the synthetic 30-column table (22 float, 3 integer and 4 categorical features and a
yes/no label; 1% missing in two columns) at each size, infers its schema once from the smallest
file, then runs each case in a fresh process of this interpreter and reports that child's own
peak RSS (`os.wait4`) and the seconds the case took inside it:

- validate: `validate_data` on the file (every check; what the pipeline's validate step runs);
- train-prepare: `read_typed`, the typed frame the model trains on (the train step's reading);
- monitor: `scan_window` over a window of as many captures as the table has rows (JSON lines
  of a 30-feature model, written beside the table: `tooling/bench_monitor.py`); its "file MB"
  is the window's JSON lines.

Beside each figure stand the figures before this reader (the issue's, measured on the same
table; for the monitor, the newest-5,000 reader scaled to 1M captures) and the ratio. A case is
a "module:function" in `CASES` that takes (data file, schema file); the clock starts once its
module is imported.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_ROWS = (100_000, 1_000_000, 3_000_000)
TARGET = "label"
# case -> "module:function(data path, schema path)", run in a child process.
CASES: dict[str, str] = {
    "validate": "mlops_template.tooling.bench_data:validate_case",
    "train-prepare": "mlops_template.tooling.bench_data:prepare_case",
    "monitor": "mlops_template.tooling.bench_monitor:monitor_case",
}
# Before this reader, on the same table: (peak RSS MB, seconds) by case and rows. Peak RSS:
# issue 10 (100k: 373 MB; 1M: 2,959 MB; 3M: 8.7 GB; train held the same 13.5x the CSV).
# Seconds: the previous validate_csv, measured on the machine of docs/data-plane.md under a
# lighter load than its table's run (see there for the same-load comparison).
BEFORE: dict[str, dict[int, tuple[float | None, float | None]]] = {
    "validate": {100_000: (373, 8.9), 1_000_000: (2959, 47.0), 3_000_000: (8700, None)},
    "train-prepare": {100_000: (373, None), 1_000_000: (2959, None), 3_000_000: (8700, None)},
    # Issue 10: reading 1M captures through the old reader took 3.8 GB and 27.8 s.
    "monitor": {1_000_000: (3800, 27.8)},
}


@dataclass
class Figure:
    case: str
    rows: int
    megabytes: float
    seconds: float
    peak_rss_mb: float

    def before(self) -> tuple[float | None, float | None]:
        return BEFORE.get(self.case, {}).get(self.rows, (None, None))


def make(n: int, seed: int = 0) -> Any:
    """`n` rows of the synthetic table (the acceptance checks' generator, same logic)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    cols: dict[str, Any] = {}
    x = rng.normal(size=(n, 22)).astype(np.float64)
    x[:, 5:10] = x[:, 5:10] * 50 + 100  # some columns on other scales
    x[:, 10:14] = np.exp(x[:, 10:14] / 2)  # skewed
    for j in range(22):
        cols[f"f{j}"] = x[:, j]
    ints = rng.integers(0, [10, 100, 1000], size=(n, 3))
    for j in range(3):
        cols[f"i{j}"] = ints[:, j]
    cats = []
    for j, k in enumerate([5, 8, 12, 20]):
        c = rng.integers(0, k, size=n)
        cats.append(c)
        cols[f"c{j}"] = np.array([f"c{j}_{v}" for v in range(k)], dtype=object)[c]
    logit = (
        0.8 * x[:, 0]
        - 0.6 * x[:, 1]
        + 0.02 * (x[:, 5] - 100)
        + 0.5 * (cats[0] == 2)
        - 0.4 * (ints[:, 0] > 5)
        + rng.normal(scale=1.0, size=n)
        - 1.0
    )
    frame = pd.DataFrame(cols)
    frame.loc[rng.random(n) < 0.01, "f2"] = np.nan
    frame.loc[rng.random(n) < 0.01, "c1"] = None
    frame[TARGET] = np.where(logit > 0, "yes", "no")
    return frame


def write_table(path: Path, rows: int) -> None:
    """The table as CSV, 500k rows at a time (as the acceptance generator writes it)."""
    chunk = 500_000
    for start in range(0, rows, chunk):
        part = make(min(chunk, rows - start), seed=start // chunk + 1)
        part.to_csv(path, mode="a" if start else "w", header=not start, index=False,
                    float_format="%.5f")  # fmt: skip


def validate_case(data: Path, schema_path: Path) -> None:
    from mlops_template.training.config import ValidationThresholds
    from mlops_template.training.schema import DatasetSchema
    from mlops_template.training.validation import validate_data

    schema = DatasetSchema.from_json(schema_path.read_text())
    report = validate_data(data, schema, ValidationThresholds(max_bytes=1 << 40))
    if not report.passed:
        raise SystemExit(report.summary())


def prepare_case(data: Path, schema_path: Path) -> None:
    from mlops_template.training.schema import DatasetSchema
    from mlops_template.training.validation import read_typed

    frame = read_typed(data, DatasetSchema.from_json(schema_path.read_text()))
    if frame.empty:
        raise SystemExit("no rows read")


def _prepare(data: str, rows: str, schema: str, window: str = "") -> None:
    """In a child: write the table, the first time infer its schema, and, when the monitor
    runs, write its window of captures."""
    from mlops_template.training.schema import infer_schema_from

    write_table(Path(data), int(rows))
    if not Path(schema).exists():
        Path(schema).write_text(infer_schema_from(Path(data), TARGET).to_json())
    if window:
        from mlops_template.tooling.bench_monitor import write_window

        write_window(window_of(Path(data)), int(rows))


def _probe(case: str, data: str, schema: str) -> None:
    """In the child: run one case and print its seconds (interpreter start left out)."""
    module, function = CASES[case].split(":")
    run = getattr(__import__(module, fromlist=[function]), function)
    import pandas  # noqa: F401 - imported before the clock starts: the case's work is timed
    import pyarrow.csv  # noqa: F401

    started = time.perf_counter()
    run(Path(data), Path(schema))
    print(json.dumps({"seconds": time.perf_counter() - started}))


def measure(case: str, data: Path, schema: Path) -> tuple[float, float]:
    """(seconds, peak RSS MB) of one case in a fresh process.

    The child's peak counts the pages it shared with this process before `exec` (Linux keeps
    the high-water mark across exec): this process stays small by writing the tables and
    inferring the schema in children of its own."""
    return _child(case, str(data), str(schema))


def _child(*args: str) -> tuple[float, float]:
    command = [sys.executable, "-m", "mlops_template.tooling.bench_data", *args]
    case, data = args[0], Path(args[1])
    with tempfile.TemporaryFile() as output:
        # Our own interpreter and module, with arguments this function wrote.
        child = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)  # noqa: S603
        _, status, usage = os.wait4(child.pid, 0)
        output.seek(0)
        text = output.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{case} on {data.name} failed:\n{text}")
    if case == "--write":
        return 0.0, 0.0
    seconds = json.loads(text.strip().splitlines()[-1])["seconds"]
    return seconds, usage.ru_maxrss / 1024  # KiB on Linux


def run(
    sizes: tuple[int, ...] = DEFAULT_ROWS,
    cases: tuple[str, ...] | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> list[Figure]:
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="mlops-bench-data-") as scratch:
        root = Path(scratch)
        schema = root / "schema.json"
        for rows in sorted(sizes):
            data = root / f"rows-{rows}.csv"
            chosen = cases or tuple(CASES)
            progress(f"writing {rows:,} rows")
            _child("--write", str(data), str(rows), str(schema), "monitor" * ("monitor" in chosen))
            for case in chosen:
                progress(f"{case} on {rows:,} rows")
                seconds, rss = measure(case, data, schema)
                figures.append(Figure(case, rows, _size(case, data) / 1e6, seconds, rss))
            data.unlink()
            shutil.rmtree(window_of(data), ignore_errors=True)
    return figures


def window_of(data: Path) -> Path:
    """Where the monitor's window of captures for the table at `data` is written."""
    return data.with_name(data.stem + "-captures")


def _size(case: str, data: Path) -> int:
    """The bytes a case reads: the table, or for the monitor its window's JSON lines. (Here,
    not in bench_monitor: this process stays small, see `measure`.)"""
    if case == "monitor":
        return sum(p.stat().st_size for p in (window_of(data) / "captures").rglob("*.jsonl"))
    return data.stat().st_size


def rows(figures: list[Figure]) -> list[tuple[str, ...]]:
    """Table rows: case, rows, file MB, peak RSS (now, before, ratio), RSS / file, RSS / the
    case's smallest run, seconds (now, before, speed-up)."""
    smallest: dict[str, float] = {}
    out: list[tuple[str, ...]] = []
    for f in figures:
        smallest.setdefault(f.case, f.peak_rss_mb)
        rss_before, seconds_before = f.before()
        out.append(
            (
                f.case,
                f"{f.rows:,}",
                f"{f.megabytes:,.0f}",
                f"{f.peak_rss_mb:,.0f}",
                f"{rss_before:,.0f}" if rss_before else "-",
                f"{f.peak_rss_mb / rss_before:.2f}x" if rss_before else "-",
                f"{f.peak_rss_mb / f.megabytes:.2f}x",
                f"{f.peak_rss_mb / smallest[f.case]:.2f}x",
                f"{f.seconds:.1f}",
                f"{seconds_before:.1f}" if seconds_before else "-",
                f"{seconds_before / f.seconds:.1f}x faster" if seconds_before else "-",
            )
        )
    return out


HEADERS = (
    "case",
    "rows",
    "file MB",
    "peak RSS MB",
    "before MB",
    "now / before",
    "RSS / file",
    "RSS / smallest",
    "seconds",
    "before s",
    "speed-up",
)


def table(figures: list[Figure]) -> str:
    """The figures as a Markdown table."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|---|" + "---:|" * (len(HEADERS) - 1)]
    lines += ["| " + " | ".join(r) + " |" for r in rows(figures)]
    return "\n".join(lines)


if __name__ == "__main__":
    if sys.argv[1] == "--write":
        _prepare(*sys.argv[2:6])
    else:
        _probe(*sys.argv[1:4])
