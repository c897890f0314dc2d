"""Erasure: every row whose key column holds one of the given values leaves the stored data
(validated and quarantined files) and the captured predictions, and a retrain starts on the
cleaned data so that the next version never saw those rows.

Validated files are content-addressed: a cleaned file is a new data version (its own SHA-256),
the old one and its report are deleted, and `datasets/<model>/latest.json` follows it. Model
versions already registered keep their artifacts (their SHA-256 is in the registry); the
retrain produces one trained without the rows, and `mlops promote` replaces the old version.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import math
from collections.abc import Collection

from pydantic import BaseModel, Field

from mlops_template.core.artifacts import latest_dataset_key, report_key, validated_key
from mlops_template.core.backend import Backend
from mlops_template.core.pipeline import LABELS_PREFIX, Dataset, PipelineSteps
from mlops_template.core.ports import BlobExists, PipelineStarter
from mlops_template.core.records import PipelineStart, feature_text


class CleanedFile(BaseModel):
    old_key: str
    new_key: str | None = Field(description="None when every row was removed.")
    rows_removed: int
    rows_left: int


class ForgetResult(BaseModel):
    model: str
    key: str
    values: int
    files: list[CleanedFile]
    captures_removed: int
    retrain: PipelineStart | None = None
    retrain_source: str | None = None

    @property
    def rows_removed(self) -> int:
        return sum(f.rows_removed for f in self.files)


def _texts(value: str) -> set[str]:
    """A value and its numeric spelling: "3", "3.0" and 3.0 name the same key."""
    texts = {value}
    try:
        number = float(value)
    except ValueError:
        return texts
    if math.isfinite(number):
        texts.add(feature_text(number) or value)
    return texts


def _clean_csv(data: bytes, key: str, wanted: set[str]) -> tuple[bytes, int, int] | None:
    """The file without the rows whose `key` column matches, or None when it has no such column.
    Other rows are kept byte for byte as the csv module writes them."""
    text = data.decode("utf-8-sig")
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return None
    if key not in header:
        return None
    index = header.index(key)
    kept, removed = [header], 0
    for row in reader:
        if index < len(row) and _texts(row[index]) & wanted:
            removed += 1
        else:
            kept.append(row)
    if not removed:
        return data, 0, len(kept) - 1
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(kept)
    return out.getvalue().encode(), removed, len(kept) - 1


def forget(
    backend: Backend,
    model: str,
    key: str,
    values: Collection[str],
    *,
    starter: PipelineStarter | None = None,
    actor: str = "unknown",
) -> ForgetResult:
    if not values:
        raise ValueError("no values to forget")
    wanted: set[str] = set()
    for value in values:
        wanted |= _texts(str(value))
    store = backend.data
    steps = PipelineSteps(backend)
    latest = steps.latest_dataset(model)
    files: list[CleanedFile] = []
    # Label files a training table was joined from (features_from) hold the entity keys the
    # joined tables no longer do: they are cleaned in place, like quarantined files.
    in_place = (f"quarantine/{model}/", f"{LABELS_PREFIX}/{model}/")
    for prefix in (f"validated/{model}/", *in_place):
        for old in store.keys(prefix):
            if not old.endswith(".csv"):
                continue
            cleaned = _clean_csv(store.get(old), key, wanted)
            if cleaned is None or cleaned[1] == 0:
                continue
            data, removed, left = cleaned
            new_key: str | None = None
            if prefix in in_place:
                store.put(old, data, content_type="text/csv")  # not content-addressed
                new_key = old
            elif left:
                sha = hashlib.sha256(data).hexdigest()
                new_key = validated_key(model, sha)
                # The same cleaned bytes may exist already (an earlier, interrupted forget).
                with contextlib.suppress(BlobExists):
                    store.put_if_absent(new_key, data, content_type="text/csv")
                if latest is not None and latest.key == old:
                    latest = Dataset(
                        key=new_key,
                        uri=store.uri(new_key),
                        sha256=sha,
                        rows=left,
                        labels_key=latest.labels_key,
                    )
                    store.put(
                        latest_dataset_key(model),
                        latest.model_dump_json().encode(),
                        content_type="application/json",
                    )
            if new_key != old:
                store.delete(old)
                if store.exists(report_key(old)):
                    store.delete(report_key(old))
            files.append(
                CleanedFile(old_key=old, new_key=new_key, rows_removed=removed, rows_left=left)
            )
    captured = backend.predictions.forget(model, key, sorted(wanted))
    result = ForgetResult(
        model=model, key=key, values=len(values), files=files, captures_removed=captured
    )
    # A model trained from feature views retrains on its (cleaned) label file, joined again.
    source = (latest.labels_key or latest.key) if latest is not None else None
    if starter is not None and files and latest is not None and source and store.exists(source):
        token = (
            "forget-"
            + hashlib.sha256(f"{key}\n{sorted(wanted)}\n{latest.sha256}".encode()).hexdigest()[:20]
        )
        result.retrain = starter.start(
            model, source, token=token, reason=f"mlops data forget by {actor}: {key}"
        )
        result.retrain_source = source
    return result
