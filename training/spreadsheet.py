"""CSV files we hand to people, safe to open in a spreadsheet (OWASP: CSV injection).

Excel and LibreOffice run a cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage
return as a formula. Such text cells are written with a leading single quote, which spreadsheets
read as "this is text". A text cell that already starts with a quote gets one more, so that
`read_spreadsheet_csv` removes exactly one quote from each quoted cell and gives back the values
that were written. Numbers (`-1.5`, `+3e4`) stay as they are: they are not formulas.
"""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARK = "'"
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _as_text(value: Any) -> Any:
    if isinstance(value, str) and value.startswith((*FORMULA_STARTS, TEXT_MARK)):
        return value if _NUMBER.fullmatch(value) else TEXT_MARK + value
    return value


def _unmarked(value: Any) -> Any:
    return value[1:] if isinstance(value, str) and value.startswith(TEXT_MARK) else value


def to_spreadsheet_csv(frame: pd.DataFrame) -> bytes:
    """The frame as CSV bytes with no cell a spreadsheet would run."""
    from pandas.api.types import is_numeric_dtype

    safe = frame.copy()
    for column in safe.columns:
        if not is_numeric_dtype(safe[column]):
            safe[column] = safe[column].map(_as_text)
    # CRLF (RFC 4180) makes the writer quote a cell holding a lone CR, which would otherwise
    # start a new row, and a formula, in a spreadsheet.
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def read_spreadsheet_csv(data: bytes, **read_csv: Any) -> pd.DataFrame:
    """What `to_spreadsheet_csv` wrote, with the values it was given."""
    import pandas as pd
    from pandas.api.types import is_numeric_dtype

    frame = pd.read_csv(io.BytesIO(data), **read_csv)
    for column in frame.columns:
        if not is_numeric_dtype(frame[column]):
            frame[column] = frame[column].map(_unmarked)
    return frame
