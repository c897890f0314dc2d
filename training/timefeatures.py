"""Dates and timestamps: how a column's text is read, and the calendar features derived from it.

Training (`features.model_inputs`) and serving (`onnx_model.OnnxModel`) both turn a date column
into model inputs through `derive`, so the two cannot differ. Only the standard library and numpy:
the serving path imports this module and carries no pandas.

A value is read as the wall-clock time of the column's zone: a naive value ("2024-03-01 08:00")
is taken as that zone's time already; a value with an offset ("...T08:00+02:00", "...Z") is
converted into it. Calendar features are then that wall clock's year, month, hour...
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo

import numpy as np

ISO = "iso"
# ISO 8601 dates and times as people write them: a date, then optionally a time (T or a space),
# seconds, a fraction and a zone. Stricter than `fromisoformat`, which also takes week dates and
# bare digit runs that are more likely codes than dates.
_ISO_TEXT = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.(\d{1,9}))?)?)?"
    r"(?:Z|[+-]\d{2}:?\d{2})?"
)
# The other formats a column may use, tried in this order when a column is inferred: month-first
# slash dates come before day-first ones, so a column whose days never pass 12 reads as US dates.
FORMATS: tuple[str, ...] = (
    ISO,
    "%Y/%m/%d",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d %H:%M:%S",
    "%m/%d/%Y",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%d/%m/%Y",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %H:%M:%S",
    "%d.%m.%Y",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y %H:%M:%S",
    "%d %b %Y",
    "%b %d %Y",
    "%b %d, %Y",
)
_EPOCH = datetime(1970, 1, 1)
_DAY = 86400.0


def zone(name: str) -> tzinfo:
    """The zone a name gives (an IANA name such as Europe/Paris, or UTC)."""
    if name.upper() == "UTC":
        return UTC
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def parse(text: str, fmt: str = ISO) -> datetime:
    """One value in a format (ISO or a strptime pattern); ValueError when it is not one."""
    text = text.strip()
    if fmt == ISO:
        match = _ISO_TEXT.fullmatch(text)
        if match is None:
            raise ValueError(f"{text[:40]!r} is not an ISO 8601 date or timestamp")
        fraction = match.group(1)
        if fraction is not None and len(fraction) > 6:  # nanoseconds (Arrow): to microseconds
            start = match.start(1)
            text = text[: start + 6] + text[start + len(fraction) :]
        return datetime.fromisoformat(text)
    return datetime.strptime(text, fmt)


def has_time(text: str, fmt: str = ISO) -> bool:
    """Whether a value carries a time of day (a timestamp) rather than a date alone."""
    return len(text.strip()) > 10 if fmt == ISO else "%H" in fmt


def wall_seconds(text: str, fmt: str = ISO, zone_name: str = "UTC") -> float:
    """Seconds from 1970-01-01 00:00 to the value's wall-clock time in the zone."""
    moment = parse(text, fmt)
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone(zone_name)).replace(tzinfo=None)
    return (moment - _EPOCH).total_seconds()


def seconds(
    values: Iterable[object], fmt: str = ISO, zone_name: str = "UTC"
) -> tuple[np.ndarray, np.ndarray]:
    """`wall_seconds` of every value (NaN where missing or unreadable), and which were unreadable.

    Each distinct text is parsed once: a daily table repeats its dates across rows.
    """
    known: dict[str, float] = {}
    out: list[float] = []
    bad: list[bool] = []
    for value in values:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            out.append(math.nan)
            bad.append(False)
            continue
        text = value if isinstance(value, str) else str(value)
        if text not in known:
            try:
                known[text] = wall_seconds(text, fmt, zone_name)
            except (ValueError, OverflowError):
                known[text] = math.inf  # a marker: never a real wall clock
        found = known[text]
        bad.append(found == math.inf)
        out.append(math.nan if found == math.inf else found)
    return np.asarray(out, dtype=np.float64), np.asarray(bad, dtype=bool)


def detect_format(values: Sequence[str]) -> str | None:
    """The first of `FORMATS` every value reads in, or None (not a date column)."""
    if not values:
        return None
    for fmt in FORMATS:
        try:
            for text in values:
                parse(text, fmt)
        except (ValueError, OverflowError):
            continue
        return fmt
    return None


# The features derived from a date; a timestamp adds the hour. Cyclical features put December
# next to January and Sunday next to Monday, which a plain number cannot.
DATE_PARTS: tuple[str, ...] = (
    "year",
    "month",
    "day",
    "day_of_week",
    "day_of_year",
    "month_sin",
    "month_cos",
    "day_of_week_sin",
    "day_of_week_cos",
    "day_of_year_sin",
    "day_of_year_cos",
)
TIME_PARTS: tuple[str, ...] = ("hour", "hour_sin", "hour_cos")


def derived_names(column: str, timestamp: bool) -> list[str]:
    """The model inputs a date column becomes: `column__year`, `column__month`, ..."""
    parts = DATE_PARTS + (TIME_PARTS if timestamp else ())
    return [f"{column}__{part}" for part in parts]


def calendar(wall: np.ndarray, timestamp: bool) -> list[np.ndarray]:
    """The calendar features of wall-clock seconds (NaN where missing), in `derived_names`
    order, as float32 (the model's arithmetic)."""
    wall = np.asarray(wall, dtype=np.float64)
    missing = ~np.isfinite(wall)
    safe = np.where(missing, 0.0, wall)
    days = np.floor(safe / _DAY)
    day = days.astype("int64").astype("datetime64[D]")
    month_start = day.astype("datetime64[M]")
    year_start = day.astype("datetime64[Y]")
    year = year_start.astype("int64") + 1970.0
    month = month_start.astype("int64") % 12 + 1.0
    day_of_month = (day - month_start).astype("int64") + 1.0
    day_of_week = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    day_of_year = (day - year_start).astype("int64") + 1.0
    turn = 2 * math.pi
    parts = [
        year,
        month,
        day_of_month,
        day_of_week,
        day_of_year,
        np.sin(turn * (month - 1) / 12),
        np.cos(turn * (month - 1) / 12),
        np.sin(turn * day_of_week / 7),
        np.cos(turn * day_of_week / 7),
        np.sin(turn * (day_of_year - 1) / 365.25),
        np.cos(turn * (day_of_year - 1) / 365.25),
    ]
    if timestamp:
        hour = np.floor((safe - days * _DAY) / 3600)
        parts += [hour, np.sin(turn * hour / 24), np.cos(turn * hour / 24)]
    return [np.where(missing, np.nan, p).astype(np.float32) for p in parts]


def derive(
    values: Iterable[object], fmt: str = ISO, zone_name: str = "UTC", *, timestamp: bool = True
) -> list[np.ndarray]:
    """A date column's text -> its calendar features (`derived_names` order). The one function
    training and serving both call; a value that cannot be read counts as missing (validation
    and the API refuse such values before they get here)."""
    wall, _ = seconds(values, fmt, zone_name)
    return calendar(wall, timestamp)


def now_wall_seconds(zone_name: str = "UTC") -> float:
    """The current wall-clock time of the zone, as `wall_seconds` counts it."""
    moment = datetime.now(zone(zone_name)).replace(tzinfo=None)
    return (moment - _EPOCH).total_seconds()


def day_seconds(day: date) -> float:
    return (datetime(day.year, day.month, day.day) - _EPOCH).total_seconds()


def iso_text(wall: float) -> str:
    """Wall-clock seconds as ISO text (for reports and examples)."""
    return (_EPOCH + timedelta(seconds=wall)).isoformat()
