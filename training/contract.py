"""The data contract of a model's first file: the size limit is checked first, then the schema
is inferred from a bounded sample (the first SAMPLE_ROWS rows), never from the whole file.

The caller stores the schema only once the file has passed validation against it: a rejected
first file leaves no contract behind."""

from __future__ import annotations

import io

from mlops_template.training.config import TrainingConfig
from mlops_template.training.schema import DatasetSchema, SchemaError, infer_schema
from mlops_template.training.validation import header_too_wide

# Enough rows to see every category and a column's range in ordinary tables, few enough that
# inference costs the same on a 100 MB file as on a 100 GB one.
SAMPLE_ROWS = 50_000


def first_contract(data: bytes, config: TrainingConfig) -> DatasetSchema:
    """The schema a model's first file defines. SchemaError when it cannot define one: no
    target in the config, the file over the size limit, or more columns than allowed."""
    if not config.target:
        raise SchemaError("no target column is configured")
    limit = config.validation.max_bytes
    if len(data) > limit:
        raise SchemaError(
            f"file is {len(data)} bytes, over the limit of {limit} bytes: "
            "no contract is inferred from it"
        )
    too_wide = header_too_wide(data, config.validation.max_columns)
    if too_wide:
        raise SchemaError(too_wide)
    import pandas as pd

    sample = pd.read_csv(io.BytesIO(data), nrows=SAMPLE_ROWS)
    return infer_schema(sample, config.target)
