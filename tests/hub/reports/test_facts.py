"""How alerts and rescued persons are classed: case type, woman / child, province, period."""

from __future__ import annotations

import datetime as dt

import pytest

from hub.reports.facts import Period, case_type_of, person_group, province_of

ON = dt.date(2024, 6, 1)


class TestClasses:
    def test_case_types_fold_into_the_joint_offices_four(self) -> None:
        """Abduction counts as suspected trafficking; UNKNOWN and new symbols as other."""
        assert case_type_of("ABDUCTION") == case_type_of("SUSPECTED_TRAFFICKING") == "trafficking"
        assert case_type_of("RUNAWAY") == "runaway" and case_type_of("LOST") == "lost"
        assert case_type_of("UNKNOWN") == case_type_of("SOMETHING_NEW") == case_type_of(None)

    def test_a_child_is_under_eighteen_on_the_day(self) -> None:
        """Born 2006-06-02 is 17 on 2024-06-01: a child; born 2006-06-01 is 18: not."""
        child = {"sex": "FEMALE", "birth": {"precision": "DAY", "date": "2006-06-02"}}
        adult = {"sex": "FEMALE", "birth": {"precision": "DAY", "date": "2006-06-01"}}
        assert person_group(child, ON) == "child"
        assert person_group(adult, ON) == "woman"

    def test_an_age_range_across_eighteen_is_neither(self) -> None:
        """16 to 19 may be an adult or a child: counted as age unknown, not guessed."""
        person = {"sex": "FEMALE", "birth": {"precision": "AGE_RANGE", "age_min": 16,
                                             "age_max": 19, "age_assessed_on": "2024-06-01"}}
        assert person_group(person, ON) == "unknown"

    def test_an_age_range_ages_with_time(self) -> None:
        """Assessed 12-14 in 2020, the person is 16-18 in 2024: no longer surely a child."""
        person = {"sex": "MALE", "birth": {"precision": "AGE_RANGE", "age_min": 12,
                                           "age_max": 14, "age_assessed_on": "2020-05-01"}}
        assert person_group(person, dt.date(2020, 6, 1)) == "child"
        assert person_group(person, ON) == "unknown"

    def test_a_year_only_birth_date_may_be_younger(self) -> None:
        """Born in 2006 (YEAR): on 2024-06-01 the person may be 17, so a child."""
        person = {"sex": "FEMALE", "birth": {"precision": "YEAR", "date": "2006-01-01"}}
        assert person_group(person, ON) == "unknown"
        assert person_group(person, dt.date(2023, 6, 1)) == "child"

    def test_adult_men_and_unknown_ages_are_not_women(self) -> None:
        """A man of 30 or a person without any birth data is 'other / age unknown'."""
        man = {"sex": "MALE", "birth": {"precision": "DAY", "date": "1994-01-01"}}
        assert person_group(man, ON) == "unknown"
        assert person_group({"sex": "FEMALE"}, ON) == "unknown"

    def test_province_of_a_participant_or_area(self) -> None:
        """510104 and 510000-police are both Sichuan; a name without digits is unknown."""
        assert province_of("510104") == province_of("510000-police") == "510000"
        assert province_of("hub-operator") == "unknown"


class TestPeriod:
    def test_both_days_are_included(self) -> None:
        """A moment on the last day is inside; one on the next day is not."""
        period = Period(dt.date(2024, 1, 1), dt.date(2024, 1, 31))
        assert period.holds(dt.datetime(2024, 1, 31, 23, 59, tzinfo=dt.UTC))
        assert not period.holds(dt.datetime(2024, 2, 1, 0, 0, tzinfo=dt.UTC))

    def test_a_backwards_period_is_refused(self) -> None:
        """A period ending before it starts is an error naming both days."""
        with pytest.raises(ValueError, match="2024-02-01 to 2024-01-01"):
            Period(dt.date(2024, 2, 1), dt.date(2024, 1, 1))
