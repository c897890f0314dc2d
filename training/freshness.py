"""How fresh a data file is: the newest timestamp its time column holds.

The file is read in record batches (training.tabular_io), only the time column, so memory
holds one batch whatever the file's size. Values are parsed with pandas' `to_datetime`; one
with an offset (`2026-11-29T10:00:00+01:00`, `...Z`) is taken as written, one without as a
time in `timezone` (the config's `time.timezone`, UTC unless set). Values that do not parse
are skipped here: judging them is validation's job. The answer is a UTC datetime, or None
when the column holds no timestamp at all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlops_template.training.tabular_io import (
    PARQUET,
    Source,
    TabularReadError,
    as_seekable,
    csv_header,
    file_format,
    parquet_columns,
    record_batches,
)

if TYPE_CHECKING:
    import pandas as pd

# An explicit offset after a time of day, ending the value: 10:00Z, 10:00:00+01:00, 10:00-0530.
# (A date's own "-01" is not one.)
_OFFSET = r"\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\s*(?:[Zz]|[+-]\d{2}(?::?\d{2})?)\s*$"


def newest_timestamp(
    source: Source, column: str, *, timezone: str = "UTC", name: str | None = None
) -> datetime | None:
    """The newest timestamp of `column` in the file (UTC), or None if no value parses.

    Raises TabularReadError when the file has no such column."""
    newest: pd.Timestamp | None = None
    with as_seekable(source) as handle:
        fmt = file_format(handle, name or str(getattr(source, "name", "") or ""))
        if fmt == PARQUET:
            names = parquet_columns(handle)
            if column not in names:
                raise TabularReadError(f"the file has no time column {column!r}")
            batches = record_batches(handle, fmt, columns=[column])
            field = column
        else:
            header = csv_header(handle)
            if column not in header:
                raise TabularReadError(f"the file has no time column {column!r}")
            batches = record_batches(handle, fmt, header=header)
            field = f"_{header.index(column)}"
        for batch in batches:
            found = _newest(batch.column(field), timezone)
            if found is not None and (newest is None or found > newest):
                newest = found
    return None if newest is None else newest.to_pydatetime().astimezone(UTC)


def to_utc(values: Any, timezone: str = "UTC") -> pd.Series:
    """Text, dates or timestamps as UTC timestamps (NaT where a value does not parse): with an
    offset as written, naive ones in `timezone`."""
    import pandas as pd

    series = pd.Series(values)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        return _localised(series, timezone)
    text = series.astype("string").str.strip()
    aware = text.str.contains(_OFFSET, regex=True, na=False).to_numpy(dtype=bool)
    out = pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns, UTC]")
    if aware.any():
        out[aware] = _parse(text[aware], utc=True)
    if (~aware).any():
        naive = _parse(text[~aware], utc=False)
        out[~aware] = _localised(naive, timezone)
    return out


def _parse(text: pd.Series, *, utc: bool) -> pd.Series:
    """ISO 8601 first (fast, vectorised); what that misses, value by value (`mixed`)."""
    import warnings

    import pandas as pd

    parsed = pd.to_datetime(text, errors="coerce", utc=utc, format="ISO8601")
    missed = parsed.isna() & text.notna() & (text != "")
    if missed.any():
        with warnings.catch_warnings():  # "could not infer format": each is parsed alone
            warnings.simplefilter("ignore", UserWarning)
            parsed[missed] = pd.to_datetime(text[missed], errors="coerce", utc=utc, format="mixed")
    return parsed


def _localised(series: pd.Series, timezone: str) -> pd.Series:
    import pandas as pd

    series = pd.to_datetime(series, errors="coerce")
    if series.dt.tz is None:
        # A wall-clock time that does not exist (or exists twice) in the zone is not guessed.
        series = series.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    return series.dt.tz_convert("UTC")


def _newest(values: Any, timezone: str) -> pd.Timestamp | None:
    import pyarrow as pa

    if pa.types.is_timestamp(values.type) or pa.types.is_date(values.type):
        series = values.to_pandas()
    else:
        series = values.cast(pa.string()).to_pandas()
    parsed = to_utc(series, timezone).dropna()
    return None if parsed.empty else parsed.max()


def hours_since(timestamp: str | datetime | None, now: datetime | None = None) -> float | None:
    """Hours from `timestamp` (ISO 8601; naive is UTC) to `now`; None when there is none. Never
    negative: a file stamped in the future is as fresh as data gets."""
    if timestamp is None or timestamp == "":
        return None
    when = datetime.fromisoformat(timestamp) if isinstance(timestamp, str) else timestamp
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max(0.0, ((now or datetime.now(UTC)) - when).total_seconds() / 3600)
