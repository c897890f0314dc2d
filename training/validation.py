"""Data validation: every problem in a file, with the column, how many rows, and where.

`validate_data` and `validate_csv` never raise on bad data: they return a report. Errors block
training (the file is quarantined by the caller); warnings are reported and let the file through,
because drifted but well-formed data is exactly what retraining needs.

A file (CSV or Parquet; bytes, a path or a stream) is read once, in record batches
(`training.tabular_io`): each check keeps counts and the first few lines, never the rows, so
validation's memory does not grow with the file (docs/data-plane.md).
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field

from mlops_template.training import tabular_io
from mlops_template.training.config import TimeSplitConfig, ValidationThresholds
from mlops_template.training.schema import FLOAT32_MAX, ColumnSchema, ColumnType, DatasetSchema
from mlops_template.training.tabular_io import Source

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    import pyarrow as pa

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
    newest_timestamp: str | None = Field(
        default=None, description="Accepted files: the newest value of time.column (UTC)."
    )
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


def read_csv_bytes(data: bytes) -> pd.DataFrame:
    """Parse CSV bytes as UTF-8 text, keeping the raw strings (small files: batch chunks)."""
    import pandas as pd

    text = data.decode("utf-8-sig")  # raises UnicodeDecodeError for other encodings
    return pd.read_csv(io.StringIO(text), **CSV_TEXT_OPTIONS)


class _Tally:
    """Rows one check flagged, counted batch by batch: the count, the first lines, a few values."""

    def __init__(self) -> None:
        self.count = 0
        self.lines: list[int] = []
        self.samples: list[object] = []

    def add(self, mask: np.ndarray, offset: int, values: Any = None) -> None:
        import numpy as np

        flagged = int(np.count_nonzero(mask))
        if not flagged:
            return
        self.count += flagged
        if len(self.lines) < MAX_LINES_LISTED or (values is not None and len(self.samples) < 3):
            where = np.flatnonzero(mask)[:MAX_LINES_LISTED]
            # Row i of the file is line i + 2 (line 1 is the header).
            self.lines.extend(
                int(i) + offset + 2 for i in where[: MAX_LINES_LISTED - len(self.lines)]
            )
            if values is not None:
                self.samples.extend(values[int(i)] for i in where[: 3 - len(self.samples)])

    def issue(
        self, check: str, severity: Severity, message: str, *, column: str | None, rows: int
    ) -> Issue:
        return Issue(
            check=check,
            severity=severity,
            message=message,
            column=column,
            count=self.count,
            ratio=round(self.count / rows, 6) if rows else 0.0,
            lines=self.lines,
        )


def _too_wide(columns: int, max_columns: int) -> str:
    return f"header has {columns} columns, over the limit of {max_columns} (validation.max_columns)"


def header_too_wide(data: Source, max_columns: int, *, name: str | None = None) -> str | None:
    """Why the file is refused on its header alone (parsing 100k columns takes a minute and
    gigabytes), or None."""
    try:
        with tabular_io.as_seekable(data) as handle:
            if tabular_io.file_format(handle, name) == tabular_io.PARQUET:
                columns = len(tabular_io.parquet_columns(handle))
            else:
                columns = len(tabular_io.csv_header(handle))
    except (csv.Error, tabular_io.TabularReadError):
        return None  # not a width problem: parsing the file says what is wrong
    return _too_wide(columns, max_columns) if columns > max_columns else None


def validate_csv(
    data: Source,
    schema: DatasetSchema,
    thresholds: ValidationThresholds | None = None,
    *,
    source: str = "data.csv",
    require_target: bool = True,
    time_rules: TimeSplitConfig | None = None,
) -> tuple[ValidationReport, pd.DataFrame | None]:
    """Check a CSV or Parquet file against the schema: the report, and the typed frame when it
    passed (built from the same single read). `validate_data` checks without the frame, in
    memory that does not grow with the file."""
    return _validate(
        data, schema, thresholds, source, require_target, collect=True, time_rules=time_rules
    )


def validate_data(
    data: Source,
    schema: DatasetSchema,
    thresholds: ValidationThresholds | None = None,
    *,
    source: str = "data.csv",
    require_target: bool = True,
    time_rules: TimeSplitConfig | None = None,
) -> ValidationReport:
    """Check a CSV or Parquet file (bytes, a path or a binary stream) against the schema.

    One pass hashes the bytes and checks they are UTF-8; a second reads the rows in record
    batches of about 1 MiB, each checked and dropped: memory stays the same whatever the
    file's size, except 8 bytes per row for the duplicate check (a 64-bit hash of each row).
    Date columns are checked against `time_rules` (default: `TimeSplitConfig()`)."""
    return _validate(
        data, schema, thresholds, source, require_target, collect=False, time_rules=time_rules
    )[0]


def _validate(
    data: Source,
    schema: DatasetSchema,
    thresholds: ValidationThresholds | None,
    source: str,
    require_target: bool,
    *,
    collect: bool,
    time_rules: TimeSplitConfig | None = None,
) -> tuple[ValidationReport, pd.DataFrame | None]:
    thresholds = thresholds or ValidationThresholds()
    with tabular_io.as_seekable(data) as handle:
        fmt = tabular_io.file_format(handle, source)
        scanned = tabular_io.scan(handle, text=fmt == tabular_io.CSV)
        base: dict[str, Any] = {
            "source": source,
            "sha256": scanned.sha256,
            "size_bytes": scanned.size_bytes,
            "schema_fingerprint": schema.fingerprint(),
        }

        def rejected(check: str, message: str) -> tuple[ValidationReport, None]:
            issue = Issue(check=check, severity="error", message=message)
            return ValidationReport(passed=False, issues=[issue], **base), None

        if scanned.size_bytes > thresholds.max_bytes:
            return rejected(
                "file_too_large",
                f"file is {scanned.size_bytes} bytes, over the limit of {thresholds.max_bytes} "
                "bytes",
            )
        if scanned.blank:
            return rejected("empty_file", "file is empty")
        try:
            if fmt == tabular_io.PARQUET:
                header = tabular_io.parquet_columns(handle)
            else:
                header = tabular_io.csv_header(handle)
        except csv.Error as exc:  # e.g. a column name over the csv module's 128 KiB field limit
            return rejected("unparseable", f"the header is not valid CSV: {exc}")
        except tabular_io.TabularReadError as exc:
            return rejected("unparseable", excerpt(str(exc), 500))
        if len(header) > thresholds.max_columns:
            return rejected("too_many_columns", _too_wide(len(header), thresholds.max_columns))
        if (bad := scanned.utf8_error) is not None:
            return rejected(
                "encoding",
                f"file is not UTF-8 text (byte {bad.start}: {bad.reason}); save it as UTF-8",
            )
        issues = list(_check_columns(header, schema, thresholds, require_target))
        duplicate_columns = any(i.check == "duplicate_column" for i in issues)
        checker = _RowChecker(
            header,
            schema,
            thresholds,
            require_target,
            check=not duplicate_columns,
            collect=collect,
            trim=fmt == tabular_io.CSV,
            time_rules=time_rules,
        )
        try:
            batches = tabular_io.batches_of_any_length(
                handle, fmt, header=header, size=scanned.size_bytes, types=checker.number_types()
            )
            for restart, batch in batches:
                if restart:
                    checker = checker.fresh()
                checker.add(batch)
        except tabular_io.TabularReadError as exc:
            return rejected("unparseable", excerpt(str(exc), 500))

    if checker.rows == 0:
        issues.append(
            Issue(check="no_rows", severity="error", message="file has a header but no rows")
        )
    elif not duplicate_columns:
        # Row checks run on the columns that are there, so one report names every problem.
        issues.extend(checker.issues())
    passed = not any(i.severity == "error" for i in issues)
    report = ValidationReport(
        rows=checker.rows,
        columns=[str(c) for c in header],
        passed=passed,
        issues=issues,
        **base,
    )
    if not passed or not collect:
        return report, None
    return report, checker.frame()


@contextmanager
def _typed_reading(
    data: Source, schema: DatasetSchema, with_target: bool, name: str | None
) -> Iterator[tuple[_RowChecker, Iterator[tuple[bool, Any]]]]:
    """An unchecking row collector for the file and its record batches (restart, batch)."""
    with tabular_io.as_seekable(data) as handle:
        fmt = tabular_io.file_format(handle, name)
        if fmt == tabular_io.PARQUET:
            header = tabular_io.parquet_columns(handle)
        else:
            header = tabular_io.csv_header(handle)
        checker = _RowChecker(
            header,
            schema,
            ValidationThresholds(),
            with_target,
            check=False,
            collect=True,
            trim=fmt == tabular_io.CSV,
        )
        yield (
            checker,
            tabular_io.batches_of_any_length(
                handle, fmt, header=header, types=checker.number_types()
            ),
        )


def read_typed(
    data: Source, schema: DatasetSchema, *, with_target: bool = True, name: str | None = None
) -> pd.DataFrame:
    """A validated file as the typed frame the model trains on (see `coerce_frame`), read once
    in record batches: the frame plus one batch is all it holds, no text copy of the file."""
    with _typed_reading(data, schema, with_target, name) as (checker, batches):
        for restart, batch in batches:
            if restart:
                checker = checker.fresh()
            checker.add(batch)
    return checker.frame()


def typed_batches(
    data: Source, schema: DatasetSchema, *, with_target: bool = True, name: str | None = None
) -> Iterator[tuple[bool, pd.DataFrame]]:
    """`read_typed` one record batch at a time, for a reader that needs every row but not all
    at once: (restart, the batch's typed frame). `restart` is True on the first batch of a
    pass; a pass after the first (the file read again as text, a cell not being a number)
    gives every row again, so the caller drops what earlier batches gave."""
    with _typed_reading(data, schema, with_target, name) as (checker, batches):
        for restart, batch in batches:
            one = checker.fresh()
            one.add(batch)
            yield restart, one.frame()


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


class _RowChecker:
    """The row checks, fed one record batch at a time: tallies and sums, never the rows.

    A numeric column is typed by pyarrow's cast of the whole batch; a batch in which it fails
    (text in the column) goes through pandas' `to_numeric` so the report names each bad value.
    Duplicated rows are found from a 64-bit hash of each row's typed values (8 bytes a row).
    """

    def __init__(
        self,
        header: list[str],
        schema: DatasetSchema,
        t: ValidationThresholds,
        require_target: bool,
        *,
        check: bool,
        collect: bool,
        trim: bool,
        time_rules: TimeSplitConfig | None = None,
    ) -> None:
        self.header, self.schema, self.t = header, schema, t
        self.time_rules = time_rules or TimeSplitConfig()
        self.check, self.collect, self.trim = check, collect, trim
        self.require_target = require_target
        position = {name: i for i, name in reversed(list(enumerate(header)))}
        self.columns = [(c, position[c.name]) for c in schema.columns if c.name in position]
        target = schema.target.name
        self.target = position.get(target) if require_target else None
        self.rows = 0
        self.hashes: list[np.ndarray] = []
        self.tallies: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
        self.sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        self.labels: Counter[str] = Counter()
        # A regression target's finite range so far: it is constant when min == max.
        self.target_range: list[float] = [float("inf"), float("-inf")]
        self.typed: dict[str, list[Any]] = defaultdict(list)  # numpy (numbers) or arrow (text)

    def number_types(self) -> dict[int, Any]:
        """The CSV columns to parse straight to numbers (first try; see batches_of_any_length)."""
        if not self.trim:
            return {}
        return {i: _pa().float64() for col, i in self.columns if col.kind == "numeric"}

    def fresh(self) -> _RowChecker:
        """A checker with nothing counted yet (the file is read again from its start)."""
        return _RowChecker(
            self.header,
            self.schema,
            self.t,
            self.require_target,
            check=self.check,
            collect=self.collect,
            trim=self.trim,
            time_rules=self.time_rules,
        )

    def add(self, batch: pa.RecordBatch) -> None:
        import numpy as np

        n, offset = batch.num_rows, self.rows
        self.rows += n
        if not self.check and not self.collect:
            return
        row_hash = np.zeros(n, dtype=np.uint64) if self.check else None
        hashed: set[int] = set()
        for col, i in self.columns:
            values = self._text(batch.column(i))
            missing = values.is_null().to_numpy(zero_copy_only=False)
            if col.kind == "numeric":
                numbers = self._numeric(values, missing, col, offset)
                if row_hash is not None:
                    _mix(row_hash, _number_hash(numbers, missing))
                    hashed.add(i)
                if self.collect:
                    with np.errstate(over="ignore"):  # overflow is reported, not trained on
                        self.typed[col.name].append(numbers.astype(np.float32))
            else:
                canonical = _canonical(values, col.dtype)
                if self.check and col.kind == "datetime":
                    self._dates(canonical, col, offset)
                elif self.check:
                    self._categorical(canonical, missing, col, offset)
                if self.collect:
                    self.typed[col.name].append(canonical)
            if self.check:
                self._missing(missing, col, offset)
        if self.target is not None and self.schema.target.task == "regression":
            values = self._text(batch.column(self.target))
            numbers = self._numeric_target(values, offset)
            if self.collect:
                self.typed[self.schema.target.name].append(numbers)
        elif self.target is not None:
            values = self._text(batch.column(self.target))
            labels = _canonical(values, self.schema.target.dtype)
            if self.check:
                self._target(values, labels, offset)
            if self.collect:
                self.typed[self.schema.target.name].append(labels)
        if row_hash is not None:
            for i in range(batch.num_columns):
                if i not in hashed:
                    _mix(row_hash, _text_hash(self._text(batch.column(i))))
            self.hashes.append(row_hash)

    def _text(self, values: pa.Array) -> pa.Array:
        """A CSV column as text with leading spaces dropped (like `skipinitialspace`); a
        Parquet column as typed."""
        pa, pc = _pa(), _pc()
        if not self.trim or not pa.types.is_string(values.type):
            return values
        if not pc.any(pc.starts_with(values, " ")).as_py():
            return values
        trimmed = pc.utf8_ltrim(values, characters=" ")
        return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)

    def _numeric(
        self, values: pa.Array, missing: np.ndarray, col: ColumnSchema, offset: int
    ) -> np.ndarray:
        import numpy as np

        pa = _pa()
        bad: np.ndarray | None = None
        try:
            numbers = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            numbers, bad = self._numeric_slowly(values, missing)
        if not self.check:
            return numbers
        name = col.name
        if bad is not None:
            self.tallies[name, "type_mismatch"].add(
                bad, offset, values.to_numpy(zero_copy_only=False)
            )
        finite_mask = np.isfinite(numbers)
        not_finite = ~missing & ~finite_mask
        if bad is not None:
            not_finite &= ~bad
        self.tallies[name, "non_finite"].add(not_finite, offset)
        finite = np.where(finite_mask, numbers, np.nan)
        with np.errstate(invalid="ignore"):
            self.tallies[name, "value_overflow"].add(np.abs(finite) > FLOAT32_MAX, offset)
            if col.min is not None and col.max is not None:
                slack = (col.max - col.min) * self.t.range_tolerance
                outside = (finite < col.min - slack) | (finite > col.max + slack)
                self.tallies[name, "out_of_range"].add(outside, offset)
        kept = finite[finite_mask]
        sums = self.sums[name]
        sums[0] += float(kept.sum(dtype=np.float64))
        sums[1] += len(kept)
        return numbers

    @staticmethod
    def _numeric_slowly(values: pa.Array, missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Numbers, and the cells that are no number, the way pandas reads them one by one."""
        import numpy as np
        import pandas as pd

        raw = pd.Series(values.to_numpy(zero_copy_only=False), dtype=object)
        numbers = pd.to_numeric(raw, errors="coerce")
        # "nan" parses as a number: it is a non-finite value, not a wrong type.
        nan_words = raw.astype(str).str.strip().str.lower().isin(["nan", "+nan", "-nan"])
        bad = ~missing & numbers.isna().to_numpy() & ~nan_words.to_numpy()
        return numbers.to_numpy(dtype=np.float64, na_value=np.nan), bad

    def _missing(self, missing: np.ndarray, col: ColumnSchema, offset: int) -> None:
        self.tallies[col.name, "missing"].add(missing, offset)

    def _categorical(
        self, canonical: pa.Array, missing: np.ndarray, col: ColumnSchema, offset: int
    ) -> None:
        known = _is_in(canonical, col.categories)
        self.tallies[col.name, "unknown_category"].add(~missing & ~known, offset)

    def _dates(self, canonical: pa.Array, col: ColumnSchema, offset: int) -> None:
        """Dates that do not read in the column's format, before `time_split.earliest`, or
        later than now plus `time_split.future_tolerance_days` (in the column's zone)."""
        import numpy as np

        from mlops_template.training import timefeatures

        texts = canonical.to_numpy(zero_copy_only=False)
        zone_name = col.timezone or "UTC"
        wall, bad = timefeatures.seconds(texts, col.format or timefeatures.ISO, zone_name)
        name, rules = col.name, self.time_rules
        self.tallies[name, "date_format"].add(bad, offset, texts)
        latest = timefeatures.now_wall_seconds(zone_name) + rules.future_tolerance_days * 86400
        with np.errstate(invalid="ignore"):
            early = wall < timefeatures.day_seconds(rules.earliest)
            self.tallies[name, "date_out_of_range"].add(early, offset, texts)
            self.tallies[name, "future_date"].add(wall > latest, offset, texts)

    def _date_issues(self, col: ColumnSchema) -> Iterable[Issue]:
        name, rows, rules = col.name, self.rows, self.time_rules
        checks = (
            ("date_format", f"must hold dates in {_date_format_name(col)}; {{n}} values do not"),
            ("date_out_of_range", f"has {{n}} dates before {rules.earliest.isoformat()}"),
            (
                "future_date",
                f"has {{n}} dates more than {rules.future_tolerance_days:g} day(s) in the future",
            ),
        )
        for check, text in checks:
            tally = self.tallies[name, check]
            if tally.count:
                sample = ", ".join(_q(v) for v in tally.samples)
                yield tally.issue(
                    check,
                    "error",
                    f"column {_q(name)} {text.format(n=tally.count)} (e.g. {sample})",
                    column=name,
                    rows=rows,
                )

    def _target(self, values: pa.Array, labels: pa.Array, offset: int) -> None:
        pc = _pc()
        target = self.schema.target
        missing = labels.is_null().to_numpy(zero_copy_only=False)
        known = _is_in(labels, target.classes)
        unknown = ~missing & ~known
        self.tallies[target.name, "missing_label"].add(missing, offset)
        self.tallies[target.name, "unknown_label"].add(
            unknown, offset, values.to_numpy(zero_copy_only=False)
        )
        present = labels.filter(_pa().array(known))
        for item in pc.value_counts(present).to_pylist():
            self.labels[str(item["values"])] += int(item["counts"])

    def _numeric_target(self, values: pa.Array, offset: int) -> np.ndarray:
        """A regression target as float64; counts the missing, the values that are no finite
        number, and the finite range (a constant target has none to learn)."""
        import numpy as np

        pa = _pa()
        missing = values.is_null().to_numpy(zero_copy_only=False)
        try:
            numbers = values.cast(pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            numbers, _ = self._numeric_slowly(values, missing)
        if not self.check:
            return numbers
        name = self.schema.target.name
        finite = np.isfinite(numbers)
        self.tallies[name, "missing_label"].add(missing, offset)
        self.tallies[name, "invalid_target"].add(
            ~missing & ~finite, offset, values.to_numpy(zero_copy_only=False)
        )
        if finite.any():
            kept = numbers[finite]
            low, high = self.target_range
            self.target_range = [min(low, float(kept.min())), max(high, float(kept.max()))]
        return numbers

    def _numeric_target_issues(self) -> Iterable[Issue]:
        name, rows = self.schema.target.name, self.rows
        missing = self.tallies[name, "missing_label"]
        if missing.count:
            yield missing.issue(
                "missing_label",
                "error",
                f"target {_q(name)} is empty in {missing.count} rows",
                column=name,
                rows=rows,
            )
        bad = self.tallies[name, "invalid_target"]
        low, high = self.target_range
        if bad.count:
            sample = ", ".join(sorted({_q(v) for v in bad.samples}))
            yield bad.issue(
                "invalid_target",
                "error",
                f"target {_q(name)} has {bad.count} values that are not finite numbers "
                f"(e.g. {sample})",
                column=name,
                rows=rows,
            )
        elif low == high:
            yield Issue(
                check="constant_target",
                severity="error",
                column=name,
                message=f"target {_q(name)} has a single value; a regression needs it to vary",
            )

    def issues(self) -> Iterable[Issue]:
        t, rows = self.t, self.rows
        if rows < t.min_rows:
            yield Issue(
                check="too_few_rows",
                severity="error",
                count=rows,
                message=f"{rows} rows, fewer than the minimum of {t.min_rows}",
            )
        yield from self._duplicates()
        for col, _ in self.columns:
            name = col.name
            tally = self.tallies[name, "missing"]
            share = tally.count / rows
            if share > t.max_missing_ratio:
                yield tally.issue(
                    "missing_values",
                    "error",
                    f"column {_q(name)} is {share:.1%} empty, over the limit of "
                    f"{t.max_missing_ratio:.1%}",
                    column=name,
                    rows=rows,
                )
            elif tally.count and not col.nullable:
                yield tally.issue(
                    "unexpected_missing",
                    "warning",
                    f"column {_q(name)} has {tally.count} empty values but had none in training",
                    column=name,
                    rows=rows,
                )
            if col.kind == "numeric":
                yield from self._numeric_issues(col)
            elif col.kind == "datetime":
                yield from self._date_issues(col)
            else:
                tally = self.tallies[name, "unknown_category"]
                if tally.count / rows > t.max_unknown_category_ratio:
                    yield tally.issue(
                        "unknown_category",
                        "warning",
                        f"column {_q(name)} has {tally.count} values outside its known categories",
                        column=name,
                        rows=rows,
                    )
        if self.target is not None:
            yield from self._target_issues()

    def _duplicates(self) -> Iterable[Issue]:
        import numpy as np

        if not self.hashes:
            return
        hashes = np.concatenate(self.hashes)
        self.hashes = [hashes]
        ordered = np.sort(hashes)
        count = int(np.count_nonzero(ordered[1:] == ordered[:-1]))
        del ordered
        ratio = count / self.rows
        if ratio <= self.t.max_duplicate_ratio:
            return
        # Which rows: every one but the first of its kind (what `DataFrame.duplicated` flags).
        order = np.argsort(hashes, kind="stable")
        repeats = order[1:][hashes[order[1:]] == hashes[order[:-1]]]
        flagged = np.zeros(len(hashes), dtype=bool)
        flagged[repeats] = True
        tally = _Tally()
        tally.add(flagged, 0)
        yield tally.issue(
            "duplicate_rows",
            "error",
            f"{count} duplicated rows ({ratio:.1%}), over the limit of "
            f"{self.t.max_duplicate_ratio:.1%}",
            column=None,
            rows=self.rows,
        )

    def _numeric_issues(self, col: ColumnSchema) -> Iterable[Issue]:
        name, rows, t = col.name, self.rows, self.t
        bad = self.tallies[name, "type_mismatch"]
        if bad.count:
            sample = ", ".join(_q(v) for v in bad.samples)
            yield bad.issue(
                "type_mismatch",
                "error",
                f"column {_q(name)} must be numeric; {bad.count} values are not (e.g. {sample})",
                column=name,
                rows=rows,
            )
        tally = self.tallies[name, "non_finite"]
        if tally.count:
            yield tally.issue(
                "non_finite",
                "error",
                f"column {_q(name)} has {tally.count} NaN or infinite values",
                column=name,
                rows=rows,
            )
        tally = self.tallies[name, "value_overflow"]
        if tally.count:
            yield tally.issue(
                "value_overflow",
                "error",
                f"column {_q(name)} has {tally.count} values too large for the model's float32 "
                "arithmetic",
                column=name,
                rows=rows,
            )
        tally = self.tallies[name, "out_of_range"]
        if (
            col.min is not None
            and col.max is not None
            and tally.count / rows > (t.max_out_of_range_ratio)
        ):
            yield tally.issue(
                "out_of_range",
                "warning",
                f"column {_q(name)} has {tally.count} values outside the training range "
                f"[{col.min:g}, {col.max:g}]",
                column=name,
                rows=rows,
            )
        total, count = self.sums[name]
        if col.mean is not None and col.std and count > 1:
            z = abs(total / count - col.mean) / col.std
            if math.isfinite(z) and z > t.max_mean_shift_z:
                yield Issue(
                    check="mean_shift",
                    severity="warning",
                    column=name,
                    message=f"column {_q(name)} mean moved {z:.1f} standard deviations from "
                    "training",
                )

    def _target_issues(self) -> Iterable[Issue]:
        if self.schema.target.task == "regression":
            yield from self._numeric_target_issues()
            return
        target, rows = self.schema.target, self.rows
        missing = self.tallies[target.name, "missing_label"]
        if missing.count:
            yield missing.issue(
                "missing_label",
                "error",
                f"target {_q(target.name)} is empty in {missing.count} rows",
                column=target.name,
                rows=rows,
            )
        unknown = self.tallies[target.name, "unknown_label"]
        if unknown.count:
            sample = ", ".join(sorted({_q(v) for v in unknown.samples}))
            yield unknown.issue(
                "unknown_label",
                "error",
                f"target {_q(target.name)} has {unknown.count} labels outside "
                f"{excerpt(str(target.classes))} (e.g. {sample})",
                column=target.name,
                rows=rows,
            )
        present = sum(self.labels.values())
        if present and len(self.labels) < 2:
            yield Issue(
                check="single_class",
                severity="error",
                column=target.name,
                message=f"target {_q(target.name)} has only one class; training needs two or more",
            )
        if present and target.class_ratios:
            shift = max(
                abs(self.labels.get(c, 0) / present - r) for c, r in target.class_ratios.items()
            )
            if shift > self.t.max_label_shift:
                yield Issue(
                    check="label_shift",
                    severity="warning",
                    column=target.name,
                    message=f"class balance of {_q(target.name)} moved by {shift:.0%} from "
                    "training",
                )

    def frame(self) -> pd.DataFrame:
        """The typed frame (see `coerce_frame`), built once from the batches' typed columns:
        float32 numbers; categoricals as Python strings (one object per distinct value and
        batch, not per cell) with None when missing; labels as pandas text."""
        import pandas as pd

        pa = _pa()
        columns: dict[str, Any] = {}
        for col, _ in self.columns:
            chunks = self.typed.pop(col.name)
            if col.kind == "numeric":
                columns[col.name] = _concat(chunks)
            else:
                objects = _concat([_objects(c) for c in chunks], dtype=object)
                # dtype=object: pandas would otherwise make text columns its own string type.
                columns[col.name] = pd.Series(objects, dtype=object, copy=False)
        if self.target is not None:
            name = self.schema.target.name
            if self.schema.target.task == "regression":
                columns[name] = _concat(self.typed.pop(name), dtype="float64")
            else:
                labels = pa.chunked_array(self.typed.pop(name), type=pa.string())
                columns[name] = labels.to_pandas().astype("str")
        if not columns:
            return pd.DataFrame(index=pd.RangeIndex(self.rows))
        frame = pd.DataFrame(columns, copy=False)
        frame.index = pd.RangeIndex(self.rows)
        return frame


def _date_format_name(col: ColumnSchema) -> str:
    from mlops_template.training.timefeatures import ISO

    return "ISO 8601" if (col.format or ISO) == ISO else repr(col.format)


def _concat(parts: list[np.ndarray], dtype: Any = "float32") -> np.ndarray:
    import numpy as np

    return np.concatenate(parts) if parts else np.empty(0, dtype=dtype)


def _objects(values: pa.Array) -> np.ndarray:
    """Text as an object array sharing one Python string per distinct value (None for null)."""
    import numpy as np

    pc = _pc()
    encoded = pc.dictionary_encode(values)
    words = np.append(encoded.dictionary.to_numpy(zero_copy_only=False).astype(object), [None])
    indices = pc.fill_null(encoded.indices, len(words) - 1).to_numpy(zero_copy_only=False)
    return words[indices]


def _pa() -> Any:
    import pyarrow as pa

    return pa


def _pc() -> Any:
    import pyarrow.compute as pc

    return pc


def _canonical(values: pa.Array, dtype: ColumnType) -> pa.Array:
    """`canonical_categories` on an arrow column: text, booleans spelled True/False."""
    pa, pc = _pa(), _pc()
    if pa.types.is_boolean(values.type):
        return pc.if_else(values, "True", "False")
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    return pc.utf8_capitalize(values) if dtype == "boolean" else values


def _is_in(values: pa.Array, allowed: list[str]) -> np.ndarray:
    pa, pc = _pa(), _pc()
    found = pc.is_in(values, value_set=pa.array(allowed, type=pa.string()))
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False)


_NULL_HASH = 0x9E3779B97F4A7C15
_MIX = 0x100000001B3


def _mix(into: np.ndarray, column: np.ndarray) -> None:
    import numpy as np

    np.multiply(into, np.uint64(_MIX), out=into)
    np.bitwise_xor(into, column, out=into)


def _number_hash(numbers: np.ndarray, missing: np.ndarray) -> np.ndarray:
    import numpy as np
    import pandas as pd

    hashed = pd.util.hash_array(numbers, categorize=False)
    return np.where(missing, np.uint64(_NULL_HASH), hashed)


def _text_hash(values: pa.Array) -> np.ndarray:
    """A hash of each cell's text: each distinct value is hashed once (dictionary encoding)."""
    import numpy as np
    import pandas as pd

    pa, pc = _pa(), _pc()
    if not pa.types.is_string(values.type):
        values = values.cast(pa.string())
    encoded = pc.dictionary_encode(values)
    words = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)
    table = pd.util.hash_array(words, categorize=False) if len(words) else np.zeros(0, np.uint64)
    table = np.append(table, np.uint64(_NULL_HASH))
    indices = pc.fill_null(encoded.indices, len(words)).to_numpy(zero_copy_only=False)
    return table[indices]


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
