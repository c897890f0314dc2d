"""Data validation: every problem in a file, with the column, how many rows, and where.

`validate_csv` never raises on bad data: it returns a report. Errors block training (the file
is quarantined by the caller); warnings are reported and let the file through, because drifted
but well-formed data is exactly what retraining needs.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from mlops_template.training.config import ValidationThresholds
from mlops_template.training.schema import FLOAT32_MAX, ColumnSchema, ColumnType, DatasetSchema

if TYPE_CHECKING:
    import pandas as pd

Severity = Literal["error", "warning"]
MAX_LINES_LISTED = 10
MAX_EXCERPT_CHARS = 80  # of a value quoted in a report: a 50 MB cell must not make a 50 MB report
# How a data file is parsed (here and by batch scoring): every cell as its raw text, only an
# empty cell missing; typing the values is validation's job.
CSV_TEXT_OPTIONS: dict[str, Any] = {
    "dtype": str,
    "keep_default_na": False,
    "na_values": [""],
    "skipinitialspace": True,
}


def excerpt(text: str, limit: int = MAX_EXCERPT_CHARS) -> str:
    """The text, or its first `limit` characters and how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def _q(value: object) -> str:
    """A value from the file (a column name, a cell) as quoted in a message: cut to an excerpt."""
    return repr(excerpt(str(value)))


class Issue(BaseModel):
    check: str
    severity: Severity
    message: str
    column: Annotated[str | None, AfterValidator(lambda c: c if c is None else excerpt(c))] = None
    count: int = 0
    ratio: float = 0.0
    lines: list[int] = Field(
        default_factory=list, description="CSV line numbers (the header is line 1), first few."
    )


class ValidationReport(BaseModel):
    source: str
    sha256: str
    size_bytes: int
    rows: int = 0
    columns: list[Annotated[str, AfterValidator(excerpt)]] = Field(default_factory=list)
    passed: bool
    issues: list[Issue] = Field(default_factory=list)
    schema_fingerprint: str | None = None
    checked_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat())

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == "warning"]

    def summary(self) -> str:
        if self.passed and not self.issues:
            return f"{self.source}: valid ({self.rows} rows)"
        verdict = "valid with warnings" if self.passed else "REJECTED"
        shown = (self.errors or self.warnings)[:5]
        problems = "; ".join(i.message for i in shown)
        if len(self.issues) > len(shown):
            problems += f"; and {len(self.issues) - len(shown)} more (see the report)"
        return f"{self.source}: {verdict} ({self.rows} rows): {problems}"


def _lines(mask: pd.Series) -> list[int]:
    # DataFrame row i is CSV line i + 2 (line 1 is the header).
    return [int(i) + 2 for i in mask[mask].index[:MAX_LINES_LISTED]]


def _issue(
    check: str,
    severity: Severity,
    message: str,
    *,
    column: str | None = None,
    mask: pd.Series | None = None,
    rows: int = 0,
) -> Issue:
    count = int(mask.sum()) if mask is not None else 0
    return Issue(
        check=check,
        severity=severity,
        message=message,
        column=column,
        count=count,
        ratio=round(count / rows, 6) if rows else 0.0,
        lines=_lines(mask) if mask is not None else [],
    )


def read_csv_bytes(data: bytes) -> pd.DataFrame:
    """Parse CSV bytes as UTF-8 text, keeping the raw strings: typing is validation's job."""
    import pandas as pd

    text = data.decode("utf-8-sig")  # raises UnicodeDecodeError for other encodings
    return pd.read_csv(io.StringIO(text), **CSV_TEXT_OPTIONS)


def _header(data: bytes) -> list[str]:
    # Only the first line is decoded: a 100 MB file is not copied to read its header.
    end = data.find(b"\n")
    first = data[: end if end >= 0 else len(data)].decode("utf-8-sig", errors="replace")
    lines = first.splitlines()[:1]
    return next(csv.reader(lines), []) if lines else []


def _too_wide(columns: int, max_columns: int) -> str:
    return f"header has {columns} columns, over the limit of {max_columns} (validation.max_columns)"


def header_too_wide(data: bytes, max_columns: int) -> str | None:
    """Why the file is refused on its header alone (parsing 100k columns takes a minute and
    gigabytes), or None."""
    try:
        columns = len(_header(data))
    except csv.Error:
        return None  # not a width problem: parsing the file says what is wrong
    return _too_wide(columns, max_columns) if columns > max_columns else None


def validate_csv(
    data: bytes,
    schema: DatasetSchema,
    thresholds: ValidationThresholds | None = None,
    *,
    source: str = "data.csv",
    require_target: bool = True,
) -> tuple[ValidationReport, pd.DataFrame | None]:
    """Check a CSV file against the schema: the report, and the typed frame when it passed."""
    thresholds = thresholds or ValidationThresholds()
    base: dict[str, Any] = {
        "source": source,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size_bytes": len(data),
        "schema_fingerprint": schema.fingerprint(),
    }

    def rejected(check: str, message: str) -> tuple[ValidationReport, None]:
        issue = Issue(check=check, severity="error", message=message)
        return ValidationReport(passed=False, issues=[issue], **base), None

    if len(data) > thresholds.max_bytes:
        return rejected(
            "file_too_large",
            f"file is {len(data)} bytes, over the limit of {thresholds.max_bytes} bytes",
        )
    if not data.strip():
        return rejected("empty_file", "file is empty")
    try:
        header = _header(data)
    except csv.Error as exc:  # e.g. a column name over the csv module's 128 KiB field limit
        return rejected("unparseable", f"the header is not valid CSV: {exc}")
    if len(header) > thresholds.max_columns:
        return rejected("too_many_columns", _too_wide(len(header), thresholds.max_columns))
    try:
        frame = read_csv_bytes(data)
    except UnicodeDecodeError as exc:
        return rejected(
            "encoding", f"file is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8"
        )
    except Exception as exc:  # pandas raises several parser error types
        return rejected("unparseable", f"file is not valid CSV: {excerpt(str(exc), 500)}")

    issues = list(_check_columns(header, schema, thresholds, require_target))
    if len(frame) == 0:
        issues.append(
            Issue(check="no_rows", severity="error", message="file has a header but no rows")
        )
    if len(frame) > 0 and not any(i.check == "duplicate_column" for i in issues):
        # Row checks run on the columns that are there, so one report names every problem.
        issues.extend(_check_rows(frame, schema, thresholds, require_target))
    passed = not any(i.severity == "error" for i in issues)
    report = ValidationReport(
        rows=len(frame),
        columns=[str(c) for c in frame.columns],
        passed=passed,
        issues=issues,
        **base,
    )
    if not passed:
        return report, None
    return report, coerce_frame(frame, schema, with_target=require_target)


def _check_columns(
    header: list[str], schema: DatasetSchema, t: ValidationThresholds, require_target: bool
) -> Iterable[Issue]:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            yield Issue(
                check="duplicate_column",
                severity="error",
                column=name,
                message=f"column {_q(name)} appears more than once",
            )
        seen.add(name)
    expected = schema.feature_names + ([schema.target.name] if require_target else [])
    for name in expected:
        if name not in seen:
            yield Issue(
                check="missing_column",
                severity="error",
                column=name,
                message=f"required column {_q(name)} is missing",
            )
    # Excluded columns (identifiers, constants) may be there or not: the model never reads them.
    allowed = set(schema.feature_names) | set(schema.excluded_names) | {schema.target.name}
    for name in header:
        if name not in allowed:
            yield Issue(
                check="unexpected_column",
                severity="warning" if t.allow_extra_columns else "error",
                column=name,
                message=f"column {_q(name)} is not in the schema",
            )


def _check_rows(
    frame: pd.DataFrame, schema: DatasetSchema, t: ValidationThresholds, require_target: bool
) -> Iterable[Issue]:

    rows = len(frame)
    if rows < t.min_rows:
        yield Issue(
            check="too_few_rows",
            severity="error",
            count=rows,
            message=f"{rows} rows, fewer than the minimum of {t.min_rows}",
        )

    duplicated = frame.duplicated(keep="first")
    if duplicated.mean() > t.max_duplicate_ratio:
        yield _issue(
            "duplicate_rows",
            "error",
            f"{int(duplicated.sum())} duplicated rows ({duplicated.mean():.1%}), "
            f"over the limit of {t.max_duplicate_ratio:.1%}",
            mask=duplicated,
            rows=rows,
        )

    for col in schema.columns:
        if col.name not in frame.columns:
            continue
        raw = frame[col.name]
        missing = raw.isna()
        if missing.mean() > t.max_missing_ratio:
            yield _issue(
                "missing_values",
                "error",
                f"column {_q(col.name)} is {missing.mean():.1%} empty, over the limit of "
                f"{t.max_missing_ratio:.1%}",
                column=col.name,
                mask=missing,
                rows=rows,
            )
        elif missing.any() and not col.nullable:
            yield _issue(
                "unexpected_missing",
                "warning",
                f"column {_q(col.name)} has {int(missing.sum())} empty values but had none "
                "in training",
                column=col.name,
                mask=missing,
                rows=rows,
            )
        if col.kind == "numeric":
            yield from _check_numeric(raw, missing, col, t, rows)
        else:
            unknown = ~missing & ~canonical_categories(raw, col.dtype).isin(col.categories)
            if unknown.mean() > t.max_unknown_category_ratio:
                yield _issue(
                    "unknown_category",
                    "warning",
                    f"column {_q(col.name)} has {int(unknown.sum())} values outside its known "
                    "categories",
                    column=col.name,
                    mask=unknown,
                    rows=rows,
                )

    if require_target and schema.target.name in frame.columns:
        yield from _check_target(frame, schema, t, rows)


def _check_numeric(
    raw: pd.Series, missing: pd.Series, col: ColumnSchema, t: ValidationThresholds, rows: int
) -> Iterable[Issue]:
    import numpy as np
    import pandas as pd

    numbers = pd.to_numeric(raw, errors="coerce")
    # "nan" parses as a number: it is a non-finite value, not a wrong type.
    nan_words = raw.astype(str).str.strip().str.lower().isin(["nan", "+nan", "-nan"])
    bad_type = ~missing & numbers.isna() & ~nan_words
    if bad_type.any():
        sample = ", ".join(_q(v) for v in raw[bad_type].head(3))
        yield _issue(
            "type_mismatch",
            "error",
            f"column {_q(col.name)} must be numeric; {int(bad_type.sum())} values are not "
            f"(e.g. {sample})",
            column=col.name,
            mask=bad_type,
            rows=rows,
        )
    not_finite = ~missing & ~bad_type & (nan_words | ~np.isfinite(numbers.fillna(0)))
    if not_finite.any():
        yield _issue(
            "non_finite",
            "error",
            f"column {_q(col.name)} has {int(not_finite.sum())} NaN or infinite values",
            column=col.name,
            mask=not_finite,
            rows=rows,
        )
    finite = numbers.where(np.isfinite(numbers))
    overflow = finite.abs() > FLOAT32_MAX
    if overflow.any():
        yield _issue(
            "value_overflow",
            "error",
            f"column {_q(col.name)} has {int(overflow.sum())} values too large for the "
            "model's float32 arithmetic",
            column=col.name,
            mask=overflow,
            rows=rows,
        )
    if col.min is not None and col.max is not None:
        slack = (col.max - col.min) * t.range_tolerance
        outside = (finite < col.min - slack) | (finite > col.max + slack)
        if outside.mean() > t.max_out_of_range_ratio:
            yield _issue(
                "out_of_range",
                "warning",
                f"column {_q(col.name)} has {int(outside.sum())} values outside the training "
                f"range [{col.min:g}, {col.max:g}]",
                column=col.name,
                mask=outside,
                rows=rows,
            )
    if col.mean is not None and col.std and finite.notna().sum() > 1:
        z = abs(float(finite.mean()) - col.mean) / col.std
        if math.isfinite(z) and z > t.max_mean_shift_z:
            yield Issue(
                check="mean_shift",
                severity="warning",
                column=col.name,
                message=f"column {_q(col.name)} mean moved {z:.1f} standard deviations from "
                "training",
            )


def _check_target(
    frame: pd.DataFrame, schema: DatasetSchema, t: ValidationThresholds, rows: int
) -> Iterable[Issue]:
    target = schema.target
    missing = frame[target.name].isna()
    if target.task == "regression":
        yield from _check_numeric_target(frame, schema, rows, missing)
        return
    labels = canonical_categories(frame[target.name], target.dtype).where(~missing)
    if missing.any():
        yield _issue(
            "missing_label",
            "error",
            f"target {_q(target.name)} is empty in {int(missing.sum())} rows",
            column=target.name,
            mask=missing,
            rows=rows,
        )
    unknown = ~missing & ~labels.isin(target.classes)
    if unknown.any():
        sample = ", ".join(sorted({_q(v) for v in frame[target.name][unknown].head(3)}))
        yield _issue(
            "unknown_label",
            "error",
            f"target {_q(target.name)} has {int(unknown.sum())} labels outside "
            f"{excerpt(str(target.classes))} (e.g. {sample})",
            column=target.name,
            mask=unknown,
            rows=rows,
        )
    present = labels[~missing & ~unknown]
    if len(present) and present.nunique() < 2:
        yield Issue(
            check="single_class",
            severity="error",
            column=target.name,
            message=f"target {_q(target.name)} has only one class; training needs two or more",
        )
    if len(present) and target.class_ratios:
        ratios = present.value_counts(normalize=True)
        shift = max(abs(float(ratios.get(c, 0.0)) - r) for c, r in target.class_ratios.items())
        if shift > t.max_label_shift:
            yield Issue(
                check="label_shift",
                severity="warning",
                column=target.name,
                message=f"class balance of {_q(target.name)} moved by {shift:.0%} from training",
            )


def _check_numeric_target(
    frame: pd.DataFrame, schema: DatasetSchema, rows: int, missing: pd.Series
) -> Iterable[Issue]:
    import numpy as np
    import pandas as pd

    name = schema.target.name
    if missing.any():
        yield _issue(
            "missing_label",
            "error",
            f"target {_q(name)} is empty in {int(missing.sum())} rows",
            column=name,
            mask=missing,
            rows=rows,
        )
    values = pd.to_numeric(frame[name], errors="coerce").astype(float)
    bad = ~missing & ~np.isfinite(values)
    if bad.any():
        sample = ", ".join(sorted({_q(v) for v in frame[name][bad].head(3)}))
        yield _issue(
            "invalid_target",
            "error",
            f"target {_q(name)} has {int(bad.sum())} values that are not finite numbers "
            f"(e.g. {sample})",
            column=name,
            mask=bad,
            rows=rows,
        )
    elif (~missing).any() and values[~missing].nunique() < 2:
        yield Issue(
            check="constant_target",
            severity="error",
            column=name,
            message=f"target {_q(name)} has a single value; a regression needs it to vary",
        )


def target_values(raw: pd.Series, schema: DatasetSchema) -> pd.Series:
    """The target as the model trains on it: float64 numbers (regression) or class text."""
    import pandas as pd

    if schema.target.task == "regression":
        return pd.to_numeric(raw, errors="coerce").astype("float64")
    return canonical_categories(raw, schema.target.dtype)


def canonical_categories(raw: pd.Series, dtype: ColumnType) -> pd.Series:
    """Categoricals and labels as the model sees them; booleans spelled like Python's
    (True/False), whatever case the file used (pandas read true, TRUE and True alike)."""
    values = raw.astype(str)
    return values.str.capitalize() if dtype == "boolean" else values


def coerce_frame(frame: pd.DataFrame, schema: DatasetSchema, *, with_target: bool) -> pd.DataFrame:
    """The typed frame the model trains on: float32 numerics, string categoricals, string labels
    (or float64 regression targets)."""
    import numpy as np
    import pandas as pd

    out = pd.DataFrame(index=frame.index)
    for col in schema.columns:
        if col.kind == "numeric":
            out[col.name] = pd.to_numeric(frame[col.name], errors="coerce").astype(np.float32)
        else:
            values = canonical_categories(frame[col.name], col.dtype)
            out[col.name] = values.astype(object).where(frame[col.name].notna(), None)
    if with_target:
        out[schema.target.name] = target_values(frame[schema.target.name], schema)
    return out
