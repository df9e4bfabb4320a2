"""Dates and ages as departments write them, parsed with the precision they actually carry.

Forms understood: 2009-05-31, 2009/5/31, 2009.5.31, 2009年5月31日, 20090531, 2009-05, 200905,
2009年5月, 2009年, 2009; Excel date cells arrive as date objects. Ages: 12, 12岁, 约12岁, 12岁左右,
12周岁, 10-12岁, 10至12岁.
"""

# ruff: noqa: RUF003 -- full-width punctuation is what Chinese files contain

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from enum import Enum


class Precision(Enum):
    """How much of a date is known."""

    DAY = "DAY"
    MONTH = "MONTH"
    YEAR = "YEAR"


@dataclass(frozen=True)
class PartialDate:
    """A date known to the day, the month or only the year."""

    year: int
    month: int | None = None
    day: int | None = None

    @property
    def precision(self) -> Precision:
        if self.day is not None:
            return Precision.DAY
        if self.month is not None:
            return Precision.MONTH
        return Precision.YEAR

    def iso(self) -> str:
        """'2009-05-31', '2009-05' or '2009'."""
        if self.month is None:
            return f"{self.year:04d}"
        if self.day is None:
            return f"{self.year:04d}-{self.month:02d}"
        return f"{self.year:04d}-{self.month:02d}-{self.day:02d}"

    def first_day(self) -> dt.date:
        """The earliest calendar day the partial date can stand for."""
        return dt.date(self.year, self.month or 1, self.day or 1)


class DateFormatError(ValueError):
    """A cell is not a date in any of the understood forms; the message says why."""


_MIN_YEAR = 1900
_SEPARATED = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})(?:\s*[-/.月]\s*(\d{1,2})\s*日?)?\s*月?$")
_YEAR_ONLY = re.compile(r"^(\d{4})\s*年?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})?$")
# A date with a time appended (Excel and database exports): keep only the date part.
_WITH_TIME = re.compile(r"^(.+?)[\sT]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$")


def _normalise(text: str) -> str:
    # NFKC turns full-width digits and punctuation (２００９／５／３１) into ASCII; ASCII text
    # is its own NFKC form.
    return (text if text.isascii() else unicodedata.normalize("NFKC", text)).strip()


def _build(year: int, month: int | None, day: int | None, original: str) -> PartialDate:
    this_year = dt.date.today().year
    if not _MIN_YEAR <= year <= this_year + 1:
        raise DateFormatError(f"year {year} in {original!r} is not plausible")
    if month is not None and not 1 <= month <= 12:
        raise DateFormatError(f"month {month} in {original!r} does not exist")
    if day is not None:
        assert month is not None
        last = calendar.monthrange(year, month)[1]
        if not 1 <= day <= last:
            raise DateFormatError(f"day {day} in {original!r} does not exist in that month")
    return PartialDate(year, month, day)


def parse_date(value: object) -> PartialDate:
    """A PartialDate from a cell (text, number or date object); DateFormatError if it is none."""
    if isinstance(value, dt.datetime):
        return PartialDate(value.year, value.month, value.day)
    if isinstance(value, dt.date):
        return PartialDate(value.year, value.month, value.day)
    if isinstance(value, bool):
        raise DateFormatError(f"{value!r} is not a date")
    if isinstance(value, int | float):
        if isinstance(value, float) and not value.is_integer():
            raise DateFormatError(f"{value!r} is not a date")
        value = str(int(value))
    text = _normalise(str(value))
    if not text:
        raise DateFormatError("the date is empty")
    if len(text) == 10 and text[4] == text[7] == "-" and text.isascii():
        # 2009-05-31, by far the most common form, without the regular expressions below.
        year, month, day = text[:4], text[5:7], text[8:]
        if year.isdigit() and month.isdigit() and day.isdigit():
            return _build(int(year), int(month), int(day), str(value))
    timed = _WITH_TIME.match(text)
    if timed:
        text = timed.group(1).strip()
    for pattern in (_SEPARATED, _COMPACT):
        match = pattern.match(text)
        if match:
            year, month, day = match.group(1), match.group(2), match.group(3)
            return _build(int(year), int(month), int(day) if day else None, str(value))
    match = _YEAR_ONLY.match(text)
    if match:
        return _build(int(match.group(1)), None, None, str(value))
    raise DateFormatError(
        f"{str(value)!r} is not a date; write it like 2009-05-31, 2009年5月31日, 20090531 or 200905"
    )


@dataclass(frozen=True)
class AgeRange:
    """An age in whole years, exact (low == high) or estimated."""

    low: int
    high: int
    approximate: bool


_AGE = re.compile(
    r"^(?P<about>约|大约|大概|估计)?\s*(?P<low>\d{1,3})\s*(?:(?:-|~|至|到)\s*(?P<high>\d{1,3}))?\s*"
    r"(?:周?岁)?\s*(?P<around>左右|上下|多)?$"
)
# "约12岁" means 11 to 13: police estimates of a child's age are rarely closer than a year.
_APPROX_SPREAD = 1


def parse_age(value: object) -> AgeRange:
    """An AgeRange from '12', '12岁', '约12岁', '12岁左右' or '10-12岁'."""
    if isinstance(value, bool):
        raise DateFormatError(f"{value!r} is not an age")
    if isinstance(value, int | float):
        if isinstance(value, float) and not value.is_integer():
            raise DateFormatError(f"{value!r} is not an age in whole years")
        age = int(value)
        if not 0 <= age <= 120:
            raise DateFormatError(f"age {age} is not plausible")
        return AgeRange(age, age, False)
    text = _normalise(str(value))
    match = _AGE.match(text)
    if not match:
        raise DateFormatError(f"{str(value)!r} is not an age; write it like 12, 约12岁 or 10-12岁")
    low = int(match.group("low"))
    high = int(match.group("high")) if match.group("high") else low
    if low > high or high > 120:
        raise DateFormatError(f"age {str(value)!r} is not plausible")
    approximate = bool(match.group("about") or match.group("around") or match.group("high"))
    if approximate and match.group("high") is None:
        low, high = max(0, low - _APPROX_SPREAD), high + _APPROX_SPREAD
    return AgeRange(low, high, approximate)
