"""Batch scoring of a file in the data store, in three steps a state machine runs (the batch
definition, `core/batch.asl.json`): split the input into chunk objects and a manifest, score each
chunk in a function of its own (a Distributed Map over the manifest), then add the chunks'
counts up into a summary.

Everything lands under `batch/<model>/<run id>/`: `chunks/`, `manifest.json`,
`predictions/part-<n>.csv`, `rejects/part-<n>.csv` (line numbers of the input file),
`counts/part-<n>.json` and `summary.json`. A retried chunk rewrites its own objects (prediction
ids are `<batch id>-<line>`), so a retry never duplicates rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json

from pydantic import BaseModel, Field

from mlops_template.core.backend import Backend
from mlops_template.core.batch import (
    DEFAULT_CHUNK_ROWS,
    BatchInputError,
    batch_id,
    resolve_model,
    score_chunk,
)
from mlops_template.core.ports import BlobStore
from mlops_template.core.records import utc_now
from mlops_template.training.config import ModelName
from mlops_template.training.validation import CSV_TEXT_OPTIONS


class BatchJob(BaseModel):
    """What the batch state machine's execution input says."""

    model: ModelName
    input_key: str = Field(description="The CSV to score, a key in the data store.")
    run_id: str
    stage: str | None = None
    version: int | None = None
    keys: list[str] = Field(default_factory=list, description="Input columns to carry over.")
    rows_per_chunk: int = Field(default=DEFAULT_CHUNK_ROWS, gt=0)

    @property
    def prefix(self) -> str:
        return f"batch/{self.model}/{self.run_id}/"


class Chunk(BaseModel):
    index: int
    key: str
    first_row: int = Field(description="Row number (0-based, after the header) of its first row.")
    rows: int


class SplitOutput(BaseModel):
    manifest: str
    chunks: int
    rows: int
    sha256: str


class ChunkCounts(BaseModel):
    index: int
    rows: int
    scored: int
    rejected: int
    version: int


class BatchSummary(BaseModel):
    model: str
    run_id: str
    input_key: str
    version: int | None
    rows: int
    scored: int
    rejected: int
    chunks: int
    predictions_prefix: str
    rejects_prefix: str
    finished_at: str = Field(default_factory=utc_now)


def split(store: BlobStore, job: BatchJob) -> SplitOutput:
    """Cut the input into chunk objects of `rows_per_chunk` rows, each with the header, and
    write their manifest (the Map's item list). Records are cut by the CSV reader, so a quoted
    field holding a newline stays in its row. The input is read whole: this step's memory
    bounds the input's size (docs/batch.md)."""
    data = store.get(job.input_key)
    digest = hashlib.sha256(data).hexdigest()
    # Decoded as it is read (a StringIO of the whole text would hold it again, 4 bytes a char).
    rows = csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=""))
    try:
        header = next(rows)
    except (UnicodeDecodeError, StopIteration, csv.Error) as exc:
        raise BatchInputError(f"{job.input_key} is not a UTF-8 CSV with a header: {exc}") from None
    chunks: list[Chunk] = []
    total = 0

    def flush(batch: list[list[str]]) -> None:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(batch)
        key = f"{job.prefix}chunks/part-{len(chunks):05d}.csv"
        store.put(key, buffer.getvalue().encode(), content_type="text/csv")
        chunks.append(
            Chunk(index=len(chunks), key=key, first_row=total - len(batch), rows=len(batch))
        )

    pending: list[list[str]] = []
    try:
        for row in rows:
            pending.append(row)
            total += 1
            if len(pending) == job.rows_per_chunk:
                flush(pending)
                pending = []
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BatchInputError(f"{job.input_key}, row {total + 1}: {exc}") from None
    if pending or not chunks:
        flush(pending)
    manifest = f"{job.prefix}manifest.json"
    store.put(
        manifest,
        json.dumps([c.model_dump() for c in chunks]).encode(),
        content_type="application/json",
    )
    return SplitOutput(manifest=manifest, chunks=len(chunks), rows=total, sha256=digest)


def score(backend: Backend, job: BatchJob, chunk: Chunk, sha256: str) -> ChunkCounts:
    """Score one chunk object with the version the job names (its hash checked), writing its
    predictions, its rejects and its counts."""
    import pandas as pd

    loaded = resolve_model(
        backend.registry, backend.artifacts, job.model, stage=job.stage, version=job.version
    )
    store = backend.data
    frame = pd.read_csv(io.BytesIO(store.get(chunk.key)), **CSV_TEXT_OPTIONS)
    frame.index = frame.index + chunk.first_row  # line numbers of the whole input
    result = score_chunk(loaded, frame, batch=batch_id(loaded, sha256), keys=job.keys)
    part = f"part-{chunk.index:05d}"
    for folder, table in (("predictions", result.predictions), ("rejects", result.rejects)):
        store.put(
            f"{job.prefix}{folder}/{part}.csv",
            table.to_csv(index=False).encode(),
            content_type="text/csv",
        )
    counts = ChunkCounts(
        index=chunk.index,
        rows=len(frame),
        scored=len(result.predictions),
        rejected=len(result.rejects),
        version=loaded.version,
    )
    store.put(
        f"{job.prefix}counts/{part}.json",
        counts.model_dump_json().encode(),
        content_type="application/json",
    )
    return counts


def summarize(store: BlobStore, job: BatchJob) -> BatchSummary:
    """Add the chunks' counts up; a chunk without counts (it failed within the Map's tolerated
    share) is missing from the summary's totals, which then say fewer rows than the input."""
    counts = [
        ChunkCounts.model_validate_json(store.get(key))
        for key in store.keys(f"{job.prefix}counts/")
    ]
    versions = {c.version for c in counts}  # more than one: the stage moved during the run
    summary = BatchSummary(
        model=job.model,
        run_id=job.run_id,
        input_key=job.input_key,
        version=versions.pop() if len(versions) == 1 else None,
        rows=sum(c.rows for c in counts),
        scored=sum(c.scored for c in counts),
        rejected=sum(c.rejected for c in counts),
        chunks=len(counts),
        predictions_prefix=f"{job.prefix}predictions/",
        rejects_prefix=f"{job.prefix}rejects/",
    )
    store.put(
        f"{job.prefix}summary.json",
        summary.model_dump_json(indent=2).encode(),
        content_type="application/json",
    )
    return summary
