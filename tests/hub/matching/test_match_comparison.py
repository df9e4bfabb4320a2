"""Field comparisons: names, ages, numbers, marks."""

from __future__ import annotations

import datetime as dt

from matching_factories import person

from hub.matching.comparison import compare
from hub.matching.facts import DatePrecision, Sex, SourceKind
from hub.matching.features import prepare
from hub.matching.kinship import AlleleTable

TABLE = AlleleTable.load()
ID = "11010519491231002X"


def _levels(a: object, b: object) -> dict[str, str | None]:
    result = compare(prepare(a), prepare(b), TABLE)  # type: ignore[arg-type]
    return {f: result.level_name(f) for f in result.levels}


class TestNames:
    def test_homophone_names_agree_by_sound(self) -> None:
        """张丽 / 章莉: surname and given name agree at the pinyin level."""
        levels = _levels(person(name="张丽"), person(name="章莉"))
        assert levels["surname"] == "pinyin"
        assert levels["given_name"] == "pinyin"

    def test_renamed_child_compares_on_child_fields(self) -> None:
        """A child missing at 4, registered under a new surname: child_ fields, not adult ones."""
        alert = person(
            SourceKind.ALERT, name="王梓涵", born=dt.date(2014, 3, 1), observed=dt.date(2018, 5, 1)
        )
        record = person(name="刘梓涵", ages=(9, 10), observed=dt.date(2024, 1, 1))
        levels = _levels(alert, record)
        assert levels["child_surname"] == "different"
        assert levels["child_given_name"] == "exact"
        assert levels["surname"] is None

    def test_missing_name_is_not_a_disagreement(self) -> None:
        """No name on one side: name fields are not compared at all."""
        levels = _levels(person(name="李娜"), person(name=None))
        assert levels["surname"] is None and levels["given_name"] is None

    def test_nickname_cross_compared_with_name(self) -> None:
        """An alert's nickname 丫丫 equals the name a rescued child gives."""
        levels = _levels(
            person(SourceKind.ALERT, name="陈静", other_names=("丫丫",)), person(name="丫丫")
        )
        assert levels["other_names"] == "exact"

    def test_repeated_nickname_does_not_match_a_given_name(self) -> None:
        """强强 is a nickname, not surname 强 + given 强: no alias agreement with 李强."""
        levels = _levels(person(name="李强", other_names=("强强",)), person(name="周强"))
        assert levels["other_names"] == "none"

    def test_latin_names_use_jaro_winkler(self) -> None:
        """Accents dropped and a letter slipped still agree closely, part by part."""
        levels = _levels(person(name="Nguyễn Thị Hương"), person(name="Nguyen Thi Huong"))
        assert levels["latin_given"] == levels["latin_family"] == "exact"
        levels = _levels(person(name="Phonesavanh Keomany"), person(name="Phonesavahn Keomany"))
        assert levels["latin_given"] == "jw_high"
        assert levels["latin_family"] == "exact"


class TestBirth:
    def test_estimated_age_years_later_is_compatible(self) -> None:
        """Born 2015-05-01, rescued in 2023 and estimated 7-9: ranges overlap."""
        alert = person(born=dt.date(2015, 5, 1), observed=dt.date(2017, 1, 1))
        rescue = person(ages=(7, 9), observed=dt.date(2023, 8, 1))
        assert _levels(alert, rescue)["birth"] == "range"

    def test_age_a_little_off_is_near(self) -> None:
        """An estimate a year off is 'near', not 'different'."""
        alert = person(born=dt.date(2015, 5, 1))
        rescue = person(ages=(5, 6), observed=dt.date(2023, 8, 1))
        assert _levels(alert, rescue)["birth"] == "near"

    def test_year_precision_agrees_at_year_level(self) -> None:
        """A date known only to the year agrees with a full date in that year."""
        a = person(born=dt.date(1990, 7, 8))
        b = person(born=dt.date(1990, 1, 1), precision=DatePrecision.YEAR)
        assert _levels(a, b)["birth"] == "year"

    def test_far_apart_births_differ(self) -> None:
        """Ten years apart is a disagreement."""
        assert (
            _levels(person(born=dt.date(1990, 1, 1)), person(born=dt.date(2000, 1, 1)))["birth"]
            == "different"
        )


class TestIdNumbers:
    def test_mistyped_digit_and_swap(self) -> None:
        """One wrong digit and two swapped digits have their own levels."""
        assert (
            _levels(person(id_number=ID), person(id_number="11010519491231003X"))["id_number"]
            == "one_typo"
        )
        assert (
            _levels(person(id_number=ID), person(id_number="11010591491231002X"))["id_number"]
            == "transposed"
        )

    def test_number_supplies_birth_and_sex_when_not_stated(self) -> None:
        """A number without stated birth date or sex still compares on both."""
        numbered = person(id_number=ID, sex=Sex.UNKNOWN)
        stated = person(born=dt.date(1949, 12, 31), sex=Sex.FEMALE)
        levels = _levels(numbered, stated)
        assert levels["birth"] == "exact" and levels["sex"] == "agree"

    def test_number_contradicting_stated_birth_is_noted(self) -> None:
        """A number whose birth date differs from the stated one is flagged in the notes."""
        result = compare(
            prepare(person(id_number=ID, born=dt.date(1950, 6, 1))), prepare(person()), TABLE
        )
        assert any("birth date differs" in note for note in result.notes)

    def test_same_number_beside_an_estimated_age_agrees_on_birth(self) -> None:
        """The alert's own number copied into a record beside an age estimated a year off:
        the number carries one birth date, so birth agrees (not "within two years"); a
        different number beside the same estimate is still compared by the estimate."""
        alert = person(SourceKind.ALERT, id_number=ID, born=dt.date(1949, 12, 31))
        estimated = person(id_number=ID, born=dt.date(1951, 1, 1), precision=DatePrecision.YEAR)
        result = compare(prepare(alert), prepare(estimated), TABLE)
        assert result.level_name("birth") == "exact"
        assert "same identity number" in result.detail("birth")
        other = person(id_number="110105195006010021", born=dt.date(1951, 1, 1),
                       precision=DatePrecision.YEAR)
        assert _levels(alert, other)["birth"] == "near"


class TestMarksAndPlaces:
    def test_same_located_mark_is_strong(self) -> None:
        """A mole behind the left ear on both sides, written differently."""
        levels = _levels(person(marks="左耳后有黑痣"), person(marks="左耳有痣\uff0c额头有疤"))
        assert levels["marks"] == "strong"

    def test_home_province_from_any_county_code(self) -> None:
        """Two county codes of Sichuan agree on the home province."""
        assert _levels(person(province="510104"), person(province="511302"))["province"] == "home"
