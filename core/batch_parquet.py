"""Parquet input for batch scoring: a file read one record batch at a time.

`pyarrow.parquet.ParquetFile(...).iter_batches(batch_size=chunk_rows)` reads at most one batch
of rows into memory (plus the row group pyarrow decodes it from), whatever the file's size. Each
batch becomes the pandas frame `score_chunk` takes: the values as Parquet typed them (numbers as
numbers, strings as text, null and NaN as missing), its index numbering the file's rows from 0,
continuous across batches. Rows are numbered, not lines: the rejects file's first column is
`row`, the 1-based row index, and prediction ids are `<batch id>-<row>`.

pyarrow is a dependency of the project; this module still imports it only when a
Parquet file is read, and the serving path never imports this module.
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_template.training.tabular_io import CSV, PARQUET, PARQUET_MAGIC
from mlops_template.training.validation import excerpt

if TYPE_CHECKING:
    import pandas as pd

FORMATS = (CSV, PARQUET)
PYARROW_MISSING = "Parquet input needs pyarrow (a dependency of this project: reinstall it)"


class ParquetUnavailable(RuntimeError):
    """A Parquet file was given and pyarrow is not installed (a usage error, not bad data)."""


def input_format(source: Path, given: str | None = None) -> str:
    """`given` (csv or parquet), else by the file's name (`.parquet`) or its first bytes (the
    Parquet magic, as `training.tabular_io` recognises a file), else CSV."""
    if given is not None:
        if given not in FORMATS:
            raise ValueError(f"unknown input format {given!r}: one of {', '.join(FORMATS)}")
        return given
    if source.suffix.lower() == ".parquet":
        return PARQUET
    try:
        with source.open("rb") as handle:
            return PARQUET if handle.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC else CSV
    except OSError:
        return CSV  # reading it says what is wrong


def require_pyarrow() -> None:
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise ParquetUnavailable(PYARROW_MISSING) from None


def _not_parquet(source: Path, exc: Exception) -> ValueError:
    from mlops_template.core.batch import BatchInputError

    return BatchInputError(f"{source.name} is not valid Parquet: {excerpt(str(exc), 300)}")


def parquet_header(source: Path) -> list[str]:
    """The file's column names, from its footer (no row is read)."""
    require_pyarrow()
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        with pq.ParquetFile(source) as parquet:
            return [str(n) for n in parquet.schema_arrow.names]
    except (pa.ArrowException, OSError) as exc:
        raise _not_parquet(source, exc) from None


def parquet_chunks(source: Path, chunk_rows: int) -> Generator[tuple[pd.DataFrame, int]]:
    """The file's rows, `chunk_rows` at a time, as frames indexed by row number (0-based,
    continuous across batches), each with an estimate of the bytes read so far (for progress:
    the file's size times the share of rows done)."""
    require_pyarrow()
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    size = source.stat().st_size
    try:
        with pq.ParquetFile(source) as parquet:
            total = parquet.metadata.num_rows
            done = 0
            times = [
                field.name
                for field in parquet.schema_arrow
                if pa.types.is_timestamp(field.type) or pa.types.is_date(field.type)
            ]
            for batch in parquet.iter_batches(batch_size=chunk_rows, use_threads=False):
                frame = batch.to_pandas()
                for name in times:  # as /predict takes them: ISO 8601 text (docs/time.md)
                    frame[name] = frame[name].map(_iso, na_action="ignore")
                frame.index = pd.RangeIndex(done, done + len(frame))
                done += len(frame)
                yield frame, size * done // total if total else size
    except (pa.ArrowException, OSError) as exc:
        raise _not_parquet(source, exc) from None


def _iso(value: Any) -> str:
    """A Parquet date or timestamp as ISO 8601 text; a zone-aware one keeps its offset, a naive
    one stays naive (read in the model's `time.timezone`, as a CSV's would be)."""
    return str(value.isoformat())
