"""The data plane's peak RSS and time by file size: `python -m tests.benchmarks.bench_data`.

The same benchmark as `mlops bench --data` (mlops_template/tooling/bench_data.py), printed as
Markdown: validate, train-prepare and the monitor at 100k, 1M and 3M rows of the synthetic
30-column table (and windows of as many captures), each in a fresh process, next to the figures
before the batch reader.

    python -m tests.benchmarks.bench_data                    # 100k, 1M and 3M rows
    python -m tests.benchmarks.bench_data --rows 1000 20000  # any sizes
"""

from __future__ import annotations

import argparse

from mlops_template.tooling.bench_data import CASES, DEFAULT_ROWS, run, table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS))
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=None)
    args = parser.parse_args(argv)
    cases = tuple(args.cases) if args.cases else None
    print(table(run(tuple(args.rows), cases, progress=lambda m: print(m, flush=True))))


if __name__ == "__main__":
    main()
