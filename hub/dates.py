"""Days, times and ages as events and the matcher's JSON carry them, read the same everywhere."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any


def parse_time(value: Any) -> datetime | None:
    """A time as the matcher's JSON keeps it (ISO text) or as decoded; None if neither."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


def parse_day(value: Any) -> date | None:
    """A day as ISO text (a time's first ten characters will do) or as decoded; else None."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def whole_years(born: date, on: date) -> int:
    """Completed years from `born` to `on` (an age)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))
