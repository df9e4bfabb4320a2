"""Dates and ages in the forms departments write them."""

# ruff: noqa: RUF001 -- full-width digits are part of what is tested

from __future__ import annotations

import datetime as dt

import pytest

from connectors.dates import (
    AgeRange,
    DateFormatError,
    PartialDate,
    Precision,
    parse_age,
    parse_date,
)


class TestParseDate:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2009-05-31", PartialDate(2009, 5, 31)),
            ("2009/5/31", PartialDate(2009, 5, 31)),
            ("2009.5.31", PartialDate(2009, 5, 31)),
            ("2009年5月31日", PartialDate(2009, 5, 31)),
            ("20090531", PartialDate(2009, 5, 31)),
            ("２００９／５／３１", PartialDate(2009, 5, 31)),
            ("2009-05-31 14:30:00", PartialDate(2009, 5, 31)),
            ("200905", PartialDate(2009, 5)),
            ("2009-05", PartialDate(2009, 5)),
            ("2009年5月", PartialDate(2009, 5)),
            ("2009年", PartialDate(2009)),
            ("2009", PartialDate(2009)),
        ],
    )
    def test_common_forms(self, text: str, expected: PartialDate) -> None:
        """Each common Chinese date form parses to the right date and precision."""
        assert parse_date(text) == expected

    def test_precision_follows_what_is_written(self) -> None:
        """A month-only date has MONTH precision and stands for the first of the month."""
        parsed = parse_date("200905")
        assert parsed.precision is Precision.MONTH
        assert parsed.first_day() == dt.date(2009, 5, 1)
        assert parse_date("2009").precision is Precision.YEAR

    def test_excel_values(self) -> None:
        """Excel cells arrive as dates or whole numbers and still parse."""
        assert parse_date(dt.date(2010, 1, 2)) == PartialDate(2010, 1, 2)
        assert parse_date(20100102) == PartialDate(2010, 1, 2)

    @pytest.mark.parametrize("text", ["2009-02-30", "2009-13-01", "1850-01-01", "abc", "", "5/31"])
    def test_impossible_dates_are_refused_with_reason(self, text: str) -> None:
        """Impossible or unreadable dates raise DateFormatError with a readable message."""
        with pytest.raises(DateFormatError) as err:
            parse_date(text)
        assert str(err.value)


class TestParseAge:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("12", AgeRange(12, 12, False)),
            ("12岁", AgeRange(12, 12, False)),
            ("约12岁", AgeRange(11, 13, True)),
            ("12岁左右", AgeRange(11, 13, True)),
            ("10-12岁", AgeRange(10, 12, True)),
            ("10至12岁", AgeRange(10, 12, True)),
        ],
    )
    def test_age_forms(self, text: str, expected: AgeRange) -> None:
        """Exact, approximate and ranged ages give the right bounds."""
        assert parse_age(text) == expected

    def test_not_an_age(self) -> None:
        """Text that is no age is refused."""
        with pytest.raises(DateFormatError):
            parse_age("很小")
