"""Columns that look like personal data: found when a schema is inferred, kept out of features.

A column is personal when most of its non-empty values match one detector: email addresses,
phone numbers, payment card numbers (13-19 digits passing the Luhn checksum), IPv4/IPv6
addresses, US social security numbers. A model config may allow a column by name
(`privacy.allow = ["email"]`) after someone judged it lawful to learn from.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import pandas as pd

# A column is personal when at least this share of its sampled non-empty values match.
MATCH_SHARE = 0.8
SAMPLE = 500

_EMAIL = re.compile(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")
_SSN = re.compile(r"^(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}$")
_CARD_CHARS = re.compile(r"^[\d -]{13,23}$")


class PrivacyConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: list[str] = Field(
        default_factory=list,
        description="Columns that look like personal data but may be features (judged lawful).",
    )


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def is_card_number(text: str) -> bool:
    if not _CARD_CHARS.match(text):
        return False
    digits = re.sub(r"[ -]", "", text)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def is_phone(text: str) -> bool:
    if not _PHONE.match(text):
        return False
    digits = re.sub(r"\D", "", text)
    # Phone numbers are written with separators or a leading +; a bare number is a measurement.
    return 7 <= len(digits) <= 15 and (text.startswith("+") or bool(re.search(r"[\s().-]", text)))


DETECTORS: dict[str, Callable[[str], bool]] = {
    "email": lambda t: bool(_EMAIL.match(t)),
    "card_number": is_card_number,
    "us_ssn": lambda t: bool(_SSN.match(t)),
    "ip_address": is_ip_address,
    "phone": is_phone,
}


def detect_values(values: Iterable[str]) -> str | None:
    """The kind of personal data most of the values are, or None."""
    sample = [v.strip() for v in values if v and v.strip()][:SAMPLE]
    if not sample:
        return None
    for kind, matches in DETECTORS.items():  # order matters: an SSN is not read as a phone
        if sum(matches(v) for v in sample) >= MATCH_SHARE * len(sample):
            return kind
    return None


def detect_column(series: pd.Series) -> str | None:
    """Text columns only: numbers in a numeric column are measurements, not identifiers."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return None
    return detect_values(series.dropna().astype(str).tolist())
