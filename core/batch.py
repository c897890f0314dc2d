"""Batch scoring: a CSV file of any size scored by a registered version, in bounded memory.

The file is read in chunks of raw text; each chunk's rows are validated by the version's own
record model, the same rules /predict applies to a JSON record (a text value in a numeric
column, a missing value in a column that had none, a NaN or an infinity, a number too large for
float32), then scored with the version's ONNX model (`OnnxClassifier.predict_objects`, as
/predict does). A row that fails goes to the rejects file with its line number and the reason,
never silently dropped. Memory is one chunk, whatever the file's size.

A Parquet file (`.parquet`, or `input_format="parquet"`; pyarrow, the `parquet` extra) is read
one record batch at a time by `core/batch_parquet.py`; its values are scored as Parquet typed
them, and its rows are numbered (`row`, from 1) where a CSV's are lined (`line`, header = 1).

`score_chunk` is the unit of work (a chunk in, predictions and rejects out) so that a
distributed batch (one function per chunk object) can reuse it; `score_file` streams a whole
file through it. This module uses pandas: the serving path (`core/serving/`) never imports it.
"""

from __future__ import annotations

import hashlib
import os
import time
import weakref
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import TypeAdapter, ValidationError

from mlops_template.core.registry import Registry, RegistryError
from mlops_template.core.serving.router import LoadedModel, load_model
from mlops_template.training.validation import CSV_TEXT_OPTIONS, excerpt

if TYPE_CHECKING:
    import pandas as pd

    from mlops_template.core.ports import BlobStore

DEFAULT_CHUNK_ROWS = 10_000
# Per rejected row, the reason names at most this many problems.
MAX_REASONS = 5
LINE = "line"
# Parquet rows have no line: the rejects file and the prediction ids give the 1-based row number.
ROW = "row"
REASON = "reason"


class BatchInputError(ValueError):
    """The file cannot be scored at all (not CSV, not UTF-8, a feature column missing)."""


def resolve_model(
    registry: Registry,
    artifacts: BlobStore,
    model: str,
    *,
    stage: str | None = None,
    version: int | None = None,
) -> LoadedModel:
    """The version to score with, by number or by the stage that points at it; its artifacts
    are verified against the registry's SHA-256 before loading (`ArtifactIntegrityError`)."""
    if version is None:
        stage = stage or "production"
        alias = registry.alias(model, stage)
        if alias is None:
            raise RegistryError(f"no version of {model} is in {stage}")
        version = alias.version
    return load_model(registry, artifacts, model, version, stage or f"v{version}")


def output_columns(loaded: LoadedModel, keys: Sequence[str] = ()) -> list[str]:
    """The predictions file's header: the key columns asked for, then the answer."""
    if loaded.regression:
        interval = ["interval_low", "interval_high"]
        if loaded.regressor.interval_half_width is None:
            interval = []
        return [*keys, "prediction_id", "value", *interval, "model", "version"]
    classes = [f"probability_{c}" for c in loaded.classifier.classes]
    return [*keys, "prediction_id", "label", "probability", *classes, "model", "version"]


def batch_id(loaded: LoadedModel, file_sha256: str) -> str:
    """Deterministic: the same file scored by the same version gets the same prediction ids
    (`<batch id>-<line>`), so a rerun or a retried chunk replaces its rows, never duplicates."""
    text = f"{loaded.record.model}:{loaded.version}:{file_sha256}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _lines(frame: pd.DataFrame, numbering: str = LINE) -> list[int]:
    # read_csv numbers rows 0.. across chunks; the header is line 1. A Parquet row: index + 1.
    offset = 1 if numbering == ROW else 2
    return [int(i) + offset for i in frame.index]


def _feature_values(frame: pd.DataFrame, loaded: LoadedModel) -> list[list[Any]]:
    """Per feature, the values a JSON record would carry: a number where the text is one (the
    record model then checks it is finite and fits float32), None where the cell is empty, and
    otherwise the text itself (which a numeric field refuses, as /predict refuses a string)."""
    import pandas as pd

    columns: list[list[Any]] = []
    for c in loaded.schema.columns:
        raw = frame[c.name]
        missing = raw.isna()
        if c.kind == "numeric" and c.dtype != "boolean":
            numbers = pd.to_numeric(raw, errors="coerce")
            values = numbers.astype(object).where(numbers.notna(), raw.astype(object))
        else:
            values = raw.astype(object)
        columns.append(values.where(~missing, None).tolist())
    return columns


def _reason(errors: list[Any]) -> str:
    parts = []
    for e in errors[:MAX_REASONS]:
        where = ".".join(str(p) for p in e["loc"][1:]) or "record"
        value = "" if e["type"] == "missing" else f" (got {excerpt(repr(e.get('input')), 40)})"
        parts.append(f"{where}: {e['msg']}{value}")
    if len(errors) > MAX_REASONS:
        parts.append(f"and {len(errors) - MAX_REASONS} more")
    return "; ".join(parts)


@dataclass
class ChunkResult:
    predictions: pd.DataFrame
    rejects: pd.DataFrame
    unknown_categories: dict[str, int] = field(default_factory=dict)


# A list validator per record model (one per loaded schema), dropped with its model.
_ADAPTERS: weakref.WeakKeyDictionary[type, TypeAdapter[Any]] = weakref.WeakKeyDictionary()


def _adapter(loaded: LoadedModel) -> TypeAdapter[Any]:
    record = loaded.schema.record_model
    if record not in _ADAPTERS:
        _ADAPTERS[record] = TypeAdapter(list[record])  # type: ignore[valid-type]
    return _ADAPTERS[record]


def score_chunk(
    loaded: LoadedModel,
    frame: pd.DataFrame,
    *,
    batch: str,
    keys: Sequence[str] = (),
    strict_categories: bool = False,
    numbering: str = LINE,
) -> ChunkResult:
    """Validate and score a chunk of raw text rows (as `read_csv(**CSV_TEXT_OPTIONS)` reads
    them, its index numbering the file's rows from 0 after the header), or of a Parquet batch's
    typed values (`numbering=ROW`: the index numbers the rows from 0).

    Returns the predictions (`output_columns`) and the rejects: `line` (or `row`), `reason`, then
    the row's cells as they were in the file. With `strict_categories`, a category the schema
    does not list is a reject; otherwise it is scored (as /predict does) and counted.
    """
    import pandas as pd

    lines = _lines(frame, numbering)
    names = loaded.schema.feature_names
    columns = _feature_values(frame, loaded)
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
    reasons: dict[int, str] = {}
    adapter = _adapter(loaded)
    try:
        records = adapter.validate_python(rows)
        kept = list(range(len(rows)))
    except ValidationError as exc:
        by_row: dict[int, list[Any]] = {}
        for e in exc.errors(include_url=False):
            by_row.setdefault(int(e["loc"][0]), []).append(e)
        reasons = {i: _reason(errs) for i, errs in by_row.items()}
        kept = [i for i in range(len(rows)) if i not in reasons]
        records = adapter.validate_python([rows[i] for i in kept])
    if strict_categories:
        known = {
            c.name: frozenset(c.categories)
            for c in loaded.schema.columns
            if c.kind == "categorical" and c.dtype != "boolean"
        }
        still: list[int] = []
        valid: list[Any] = []
        for i, record in zip(kept, records, strict=True):
            unknown = [
                f"{name}: {excerpt(str(v), 40)!r} is not a known category"
                for name, cats in known.items()
                if (v := getattr(record, name)) is not None and str(v) not in cats
            ]
            if unknown:
                reasons[i] = "; ".join(unknown)
            else:
                still.append(i)
                valid.append(record)
        kept, records = still, valid
    unknown_counts = loaded.unknown_categories.count(records) if records else {}

    predictions = pd.DataFrame({k: frame[k].to_numpy()[kept] for k in keys})
    predictions["prediction_id"] = [f"{batch}-{lines[i]}" for i in kept]
    if records and loaded.regression:
        values = loaded.regressor.predict_objects(records)
        predictions["value"] = values
        intervals = loaded.regressor.intervals(values)
        if intervals is not None:
            predictions["interval_low"], predictions["interval_high"] = intervals.T
    elif records:
        labels, probabilities = loaded.classifier.predict_objects(records)
        typed = loaded.schema.target.label_values()
        predictions["label"] = [typed[label] for label in labels]
        predictions["probability"] = probabilities.max(axis=1).round(6)
        rounded = probabilities.round(6)
        for j, c in enumerate(loaded.classifier.classes):
            predictions[f"probability_{c}"] = rounded[:, j]
    else:
        for name in output_columns(loaded)[1:-2]:
            predictions[name] = []
    predictions["model"] = loaded.record.model
    predictions["version"] = loaded.version
    predictions = predictions[output_columns(loaded, keys)]

    bad = sorted(reasons)
    rejects = frame.iloc[bad].copy()
    rejects.insert(0, REASON, [reasons[i] for i in bad])
    rejects.insert(0, numbering, [lines[i] for i in bad])
    return ChunkResult(predictions, rejects, unknown_counts)


@dataclass
class BatchSummary:
    model: str
    version: int
    stage: str
    batch: str
    rows: int = 0
    scored: int = 0
    rejected: int = 0
    seconds: float = 0.0
    unknown_categories: dict[str, int] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def _check_header(header: list[str], loaded: LoadedModel, keys: Sequence[str]) -> None:
    missing = [n for n in loaded.schema.feature_names if n not in header]
    if missing:
        shown = ", ".join(excerpt(repr(n), 60) for n in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise BatchInputError(
            f"the file has no column {shown}{more}: {len(missing)} of the model's "
            f"{len(loaded.schema.feature_names)} features are missing"
        )
    taken = set(output_columns(loaded)) & set(keys)
    if taken:
        raise BatchInputError(f"key column {', '.join(sorted(taken))} is an output column's name")
    missing_keys = [k for k in keys if k not in header]
    if missing_keys:
        raise BatchInputError(f"key column {', '.join(missing_keys)} is not in the file")
    if len(set(keys)) != len(keys):
        raise BatchInputError("a key column is named twice")


def _csv_chunks(source: Path, chunk_rows: int) -> Generator[tuple[pd.DataFrame, int]]:
    """The CSV's rows, `chunk_rows` at a time, each chunk with the bytes read so far."""
    import pandas as pd

    with source.open("rb") as handle:
        # A blank line is a row (of missing values, rejected): no row is dropped unseen and
        # row numbers stay line numbers.
        reader = pd.read_csv(
            handle,
            chunksize=chunk_rows,
            encoding="utf-8-sig",
            skip_blank_lines=False,
            **CSV_TEXT_OPTIONS,
        )
        for chunk in reader:
            yield chunk, handle.tell()


def score_file(
    loaded: LoadedModel,
    source: Path,
    out: Path,
    rejects: Path,
    *,
    keys: Sequence[str] = (),
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    strict_categories: bool = False,
    batch: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    input_format: str | None = None,
) -> BatchSummary:
    """Score a CSV or Parquet file chunk by chunk, streaming predictions to `out` and rejects
    to `rejects` (both CSV, both always written; each appears complete or not at all).

    `input_format` is `csv` or `parquet` (default: `parquet` for a `.parquet` name, else `csv`);
    Parquet needs pyarrow (`ParquetUnavailable` otherwise, before anything is written).
    `on_progress(rows done, bytes read)` is called after each chunk. A file that cannot be
    scored at all raises `BatchInputError` and leaves neither file.
    """
    import pandas as pd

    from mlops_template.core import batch_parquet

    parquet = batch_parquet.input_format(source, input_format) == batch_parquet.PARQUET
    if parquet:
        batch_parquet.require_pyarrow()
    numbering = ROW if parquet else LINE
    started = time.perf_counter()
    summary = BatchSummary(
        model=loaded.record.model,
        version=loaded.version,
        stage=loaded.stage,
        batch=batch or batch_id(loaded, file_sha256(source)),
    )
    unknown: Counter[str] = Counter()
    partial_out = out.with_name(out.name + ".partial")
    partial_rejects = rejects.with_name(rejects.name + ".partial")
    try:
        with (
            partial_out.open("w", newline="", encoding="utf-8") as predictions_file,
            partial_rejects.open("w", newline="", encoding="utf-8") as rejects_file,
        ):
            header: list[str] | None = None
            if parquet:  # the footer names the columns: a missing one refuses the file at once
                header = batch_parquet.parquet_header(source)
                _check_header(header, loaded, keys)
                chunks = batch_parquet.parquet_chunks(source, chunk_rows)
            else:
                chunks = _csv_chunks(source, chunk_rows)
            first = True
            with closing(chunks):
                for chunk, read in chunks:
                    if first and header is None:
                        _check_header([str(c) for c in chunk.columns], loaded, keys)
                    result = score_chunk(
                        loaded,
                        chunk,
                        batch=summary.batch,
                        keys=keys,
                        strict_categories=strict_categories,
                        numbering=numbering,
                    )
                    result.predictions.to_csv(predictions_file, header=first, index=False)
                    result.rejects.to_csv(rejects_file, header=first, index=False)
                    first = False
                    summary.rows += len(chunk)
                    summary.scored += len(result.predictions)
                    summary.rejected += len(result.rejects)
                    unknown.update(result.unknown_categories)
                    if on_progress is not None:
                        on_progress(summary.rows, read)
            if first:  # a header and no rows: the files still say what they would hold
                if header is None:
                    header = [
                        str(c) for c in pd.read_csv(source, nrows=0, encoding="utf-8-sig").columns
                    ]
                    _check_header(header, loaded, keys)
                predictions_file.write(",".join(output_columns(loaded, keys)) + "\n")
                rejects_file.write(",".join([numbering, REASON, *header]) + "\n")
    except BatchInputError:
        _remove(partial_out, partial_rejects)
        raise
    except UnicodeDecodeError as exc:
        _remove(partial_out, partial_rejects)
        raise BatchInputError(
            f"{source.name} is not UTF-8 text (byte {exc.start}: {exc.reason})"
        ) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        _remove(partial_out, partial_rejects)
        raise BatchInputError(f"{source.name} is not valid CSV: {excerpt(str(exc), 300)}") from None
    except BaseException:
        _remove(partial_out, partial_rejects)
        raise
    os.replace(partial_out, out)
    os.replace(partial_rejects, rejects)
    summary.seconds = time.perf_counter() - started
    summary.unknown_categories = dict(unknown)
    return summary


def _remove(*paths: Path) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
