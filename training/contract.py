"""The data contract of a model's first file: the size limit is checked first, then the schema
is inferred from a bounded sample (a uniform random sample of SAMPLE_ROWS rows), never from the
whole file.

The caller stores the schema only once the file has passed validation against it: a rejected
first file leaves no contract behind."""

from __future__ import annotations

import os

from mlops_template.training import tabular_io
from mlops_template.training.config import TrainingConfig
from mlops_template.training.schema import DatasetSchema, SchemaError, infer_schema
from mlops_template.training.validation import header_too_wide

# Enough rows to see every category and a column's range in ordinary tables, few enough that
# inference costs the same on a 100 MB file as on a 100 GB one.
SAMPLE_ROWS = tabular_io.SCHEMA_SAMPLE_ROWS


def _size(data: tabular_io.Source) -> int:
    if isinstance(data, bytes):
        return len(data)
    if isinstance(data, str | os.PathLike):
        return os.path.getsize(data)
    position = data.tell()
    size = data.seek(0, os.SEEK_END)
    data.seek(position)
    return size


def first_contract(
    data: tabular_io.Source, config: TrainingConfig, *, name: str | None = None
) -> DatasetSchema:
    """The schema a model's first file (CSV or Parquet: bytes, a path or a stream) defines.
    SchemaError when it cannot define one: no target in the config, the file over the size
    limit, or more columns than allowed."""
    if not config.target:
        raise SchemaError("no target column is configured")
    limit = config.validation.max_bytes
    size = _size(data)
    if size > limit:
        raise SchemaError(
            f"file is {size} bytes, over the limit of {limit} bytes: "
            "no contract is inferred from it"
        )
    too_wide = header_too_wide(data, config.validation.max_columns, name=name)
    if too_wide:
        raise SchemaError(too_wide)
    sample, total = tabular_io.read_sample(data, rows=SAMPLE_ROWS, name=name)
    return infer_schema(
        sample,
        config.target,
        task=config.task,
        allow_personal=config.privacy.allow,
        time_column=config.time.column,
        timezone=config.time.timezone,
    ).model_copy(update={"row_count": total})
