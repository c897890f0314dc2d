"""Reading a data file, CSV or Parquet, in bounded memory: the one reader every step uses.

A source is the file's bytes, a path, or a binary file-like object (an S3 `Body`, an open file).
Parquet is recognised by its name (`.parquet`) or its first bytes (`PAR1`); anything else is CSV.

Rows come as pyarrow record batches of about `BLOCK_BYTES` of the file each, so what a step holds
at once does not grow with the file: 1 MiB blocks kept a 1M-row, 212 MB CSV under 200 MB of peak
RSS where 4 MiB blocks took 320 MB (see docs/data-plane.md). pyarrow and pandas are imported
only when a file is read: the serving path never imports this module.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

Source = bytes | str | os.PathLike[str] | IO[bytes]

CSV = "csv"
PARQUET = "parquet"
PARQUET_MAGIC = b"PAR1"
BLOCK_BYTES = 1 << 20  # per CSV record batch (measured: see the module doc)
PARQUET_BATCH_ROWS = 16_384
# A uniform sample of this many rows is what schema inference reads from a file of any size.
SCHEMA_SAMPLE_ROWS = 100_000
_READ = 1 << 20


class TabularReadError(ValueError):
    """The file cannot be read as a table (not valid CSV, not valid Parquet)."""


class NotOfType(TabularReadError):
    """A cell does not parse as the type asked for its column: read again as text."""


class RowTooLong(TabularReadError):
    """A CSV row is longer than the block being parsed: read again with bigger blocks."""


def _name(source: Source, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return str(getattr(source, "name", "") or "")


def file_format(handle: BinaryIO, name: str | None = None) -> str:
    """`parquet` for a `.parquet` name or a file starting with the Parquet magic, else `csv`."""
    if (name or str(getattr(handle, "name", "") or "")).lower().endswith(".parquet"):
        return PARQUET
    start = handle.tell()
    head = handle.read(len(PARQUET_MAGIC))
    handle.seek(start)
    return PARQUET if head == PARQUET_MAGIC else CSV


@contextmanager
def as_seekable(source: Source) -> Iterator[BinaryIO]:
    """The source as a seekable binary file. A stream that cannot seek (an S3 body) is first
    copied to a temporary file, so no step ever holds the whole file in memory."""
    if isinstance(source, bytes | bytearray | memoryview):
        yield io.BytesIO(source)
    elif isinstance(source, str | os.PathLike):
        with Path(source).open("rb") as handle:
            yield handle
    elif _seekable(source):
        yield source  # type: ignore[misc]
    else:
        with tempfile.TemporaryFile() as spool:
            shutil.copyfileobj(source, spool, _READ)
            spool.seek(0)
            yield spool


def _seekable(handle: IO[bytes]) -> bool:
    try:
        return bool(handle.seekable())
    except (AttributeError, OSError, ValueError):
        return False


@dataclass(frozen=True)
class Scan:
    """What one pass over the bytes finds: their hash, size, and whether they are text."""

    sha256: str
    size_bytes: int
    blank: bool  # nothing but whitespace (or nothing)
    utf8_error: UnicodeDecodeError | None  # the first byte that is not UTF-8 (CSV only)


def scan(handle: BinaryIO, *, text: bool = True, limit: int | None = None) -> Scan:
    """Hash the file and, for text, check it is UTF-8, reading 1 MiB at a time; stops reading
    past `limit` bytes (a file over the size limit is refused by its size alone)."""
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8-sig")() if text else None
    size, blank, error = 0, True, None
    while block := handle.read(_READ):
        digest.update(block)
        if decoder is not None and error is None:
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                # The decoder's offset is within this block: make it the file's.
                error = UnicodeDecodeError(
                    exc.encoding, exc.object, exc.start + size, exc.end + size, exc.reason
                )
        blank = blank and not block.strip()
        size += len(block)
        if limit is not None and size > limit:
            break
    if decoder is not None and error is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            error = UnicodeDecodeError(
                exc.encoding, exc.object, exc.start + size, exc.end + size, exc.reason
            )
    handle.seek(0)
    return Scan(digest.hexdigest(), size, blank, error)


def csv_header(handle: BinaryIO) -> list[str]:
    """The CSV's column names, from its first line only (raises csv.Error on a bad header)."""
    first = handle.readline().decode("utf-8-sig", errors="replace")
    handle.seek(0)
    lines = first.splitlines()[:1]
    return next(csv.reader(lines), []) if lines else []


def parquet_columns(handle: BinaryIO) -> list[str]:
    """A Parquet file's column names, from its footer (no row is read)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return [str(n) for n in pq.ParquetFile(handle).schema_arrow.names]
    except (pa.ArrowException, OSError) as exc:
        raise TabularReadError(f"file is not valid Parquet: {exc}") from None
    finally:
        handle.seek(0)


def record_batches(
    handle: BinaryIO,
    fmt: str,
    *,
    header: Sequence[str] = (),
    types: dict[int, pa.DataType] | None = None,
    columns: Sequence[str] | None = None,
    block_bytes: int = BLOCK_BYTES,
) -> Iterator[pa.RecordBatch]:
    """The file's rows as record batches.

    CSV: every column by position, named `_0`, `_1`... (a header may name a column twice),
    typed as `types` gives (default: text; an empty cell is null). Parquet: the columns as
    typed in the file (only `columns` when given). Raises TabularReadError on a malformed file.
    """
    import pyarrow as pa

    try:
        if fmt == PARQUET:
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(handle)
            yield from parquet.iter_batches(
                batch_size=PARQUET_BATCH_ROWS,
                columns=list(columns) if columns is not None else None,
                use_threads=False,
            )
            return
        import pyarrow.csv as pacsv

        names = [f"_{i}" for i in range(len(header))]
        types = types or {}
        reader = pacsv.open_csv(
            handle,
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1, block_size=block_bytes, use_threads=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: types.get(i, pa.string()) for i, n in enumerate(names)},
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
                null_values=[""],
            ),
        )
        yield from reader
    except (pa.ArrowException, OSError) as exc:
        if "straddl" in str(exc):
            raise RowTooLong(str(exc)) from None
        if "conversion error" in str(exc):
            raise NotOfType(str(exc)) from None
        kind = "Parquet" if fmt == PARQUET else "CSV"
        raise TabularReadError(f"file is not valid {kind}: {exc}") from None


def batches_of_any_length(
    handle: BinaryIO,
    fmt: str,
    *,
    header: Sequence[str] = (),
    size: int = 0,
    types: dict[int, pa.DataType] | None = None,
) -> Iterator[tuple[bool, pa.RecordBatch]]:
    """`record_batches`, starting over when a pass cannot finish: with 8x bigger blocks when a
    row is longer than a block (a 5 MB cell), as text when a cell is not of the type `types`
    asked (parsing numbers directly is the fast path; only a file with bad values pays for a
    second read). Each item says whether it starts a pass, so the caller resets its counts."""
    block = BLOCK_BYTES
    while True:
        restart = True
        try:
            for batch in record_batches(handle, fmt, header=header, types=types, block_bytes=block):
                yield restart, batch
                restart = False
            return
        except RowTooLong:
            if block > max(size, BLOCK_BYTES):
                raise
            block *= 8
        except NotOfType:
            if not types:
                raise
            types = None
        handle.seek(0)


def read_sample(
    source: Source, *, rows: int = SCHEMA_SAMPLE_ROWS, name: str | None = None, seed: int = 0
) -> tuple[pd.DataFrame, int]:
    """A uniform random sample of at most `rows` rows (every row of a smaller file, in file
    order), typed the way pandas types a CSV, and the file's row count.

    The file is read in chunks and only the sample is kept (reservoir sampling by random keys):
    memory depends on `rows`, not on the file.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    kept: pd.DataFrame | None = None
    keys = np.empty(0)
    total = 0
    with as_seekable(source) as handle:
        for chunk in _typed_chunks(handle, file_format(handle, _name(source, name))):
            chunk.index = pd.RangeIndex(total, total + len(chunk))
            total += len(chunk)
            chunk_keys = rng.random(len(chunk))
            merged = chunk if kept is None else pd.concat([kept, chunk])
            keys = np.concatenate([keys, chunk_keys])
            if len(merged) > rows:
                best = np.sort(np.argpartition(keys, rows)[:rows])
                merged, keys = merged.iloc[best], keys[best]
            kept = merged
    if kept is None:
        raise TabularReadError("file has no rows")
    return kept.sort_index(), total


def _typed_chunks(handle: BinaryIO, fmt: str, chunk_rows: int = 50_000) -> Iterator[pd.DataFrame]:
    """Chunks of rows typed as pandas types a whole CSV (numbers, booleans, text)."""
    import pandas as pd

    if fmt == PARQUET:
        for batch in record_batches(handle, fmt):
            yield batch.to_pandas()
        return
    try:
        with pd.read_csv(
            handle, chunksize=chunk_rows, encoding="utf-8-sig", skipinitialspace=True
        ) as reader:
            first = True
            for chunk in reader:
                first = False
                yield chunk
            if first:  # a header and no rows: the columns, no values
                return
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise TabularReadError(f"file is not valid CSV: {exc}") from None
