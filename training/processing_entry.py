"""SageMaker Processing: the validate step, run inside a Processing job for files too big for
the pipeline's function (the same image as training, `functions/training.Dockerfile`).

The job mounts the data file under input/data and the run's contract (the model's config and its
schema, or none for a model's first file) under input/contract; it writes `report.json` (the
same ValidationReport the validate step writes) and, for a first file, the `schema.json` inferred
from a bounded sample to output/, which SageMaker uploads. The pipeline's CollectValidation step
reads them and accepts or quarantines the file. A report that refuses the file is a successful
job: only a crash (memory, time, a bug) fails it.

    python -m mlops_template.training.processing_entry
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path

from mlops_template.training.config import parse_config
from mlops_template.training.contract import first_contract
from mlops_template.training.files import SCHEMA_FILE, VALIDATION_REPORT_FILE
from mlops_template.training.freshness import newest_timestamp
from mlops_template.training.schema import DatasetSchema, SchemaError
from mlops_template.training.tabular_io import TabularReadError, as_seekable, scan
from mlops_template.training.validation import Issue, ValidationReport, validate_data

PROCESSING_DIR = Path("/opt/ml/processing")


def _one_file(folder: Path, pattern: str) -> Path:
    found = sorted(p for p in folder.rglob(pattern) if p.is_file())
    if len(found) != 1:
        raise FileNotFoundError(f"expected one {pattern} in {folder}, found {len(found)}")
    return found[0]


def run(base: Path = PROCESSING_DIR) -> ValidationReport:
    """Validate the input file against the contract; write the report (and a first schema)."""
    contract = json.loads(_one_file(base / "input" / "contract", "*.json").read_text())
    config = parse_config(contract["config"], source="the run's contract")
    source = str(contract.get("source") or "")
    data = _one_file(base / "input" / "data", "*")  # read in record batches, never whole
    out = base / "output"
    out.mkdir(parents=True, exist_ok=True)
    try:
        if contract.get("schema"):
            schema = DatasetSchema.from_json(json.dumps(contract["schema"]))
        else:
            schema = first_contract(data, config, name=source or data.name)
            (out / SCHEMA_FILE).write_text(schema.to_json())
        report = validate_data(
            data, schema, config.validation, source=source, time_rules=config.time_split
        )
        if report.passed and config.time.column:  # as the validate step does (core/freshness.py)
            try:
                found = newest_timestamp(
                    data, config.time.column, timezone=config.time.timezone, name=data.name
                )
            except TabularReadError:
                found = None  # no such column: validation's verdict, not this one's
            report.newest_timestamp = None if found is None else found.isoformat()
    except SchemaError as exc:
        with as_seekable(data) as handle:
            scanned = scan(handle, text=False)
        report = ValidationReport(
            source=source,
            sha256=scanned.sha256,
            size_bytes=scanned.size_bytes,
            passed=False,
            issues=[Issue(check="unusable", severity="error", message=str(exc))],
        )
    (out / VALIDATION_REPORT_FILE).write_text(report.model_dump_json(indent=2))
    return report


def main(argv: Sequence[str] | None = None) -> int:
    report = run()
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
