"""Resident identity numbers and participant ids."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from hub.identity import (
    IdNumberStatus,
    annotate_identity_numbers,
    check_character,
    check_resident_id,
    participant_problem,
)


class TestResidentId:
    def test_standard_example_is_valid(self) -> None:
        """The GB 11643 example number checks out, with birth date and sex derived."""
        verdict = check_resident_id("11010519491231002X")
        assert verdict.status is IdNumberStatus.VALID
        assert verdict.birth_date == date(1949, 12, 31)
        assert verdict.sex == "FEMALE"
        assert verdict.area_code == "110105"

    def test_lowercase_x_is_accepted(self) -> None:
        """A lowercase x check character is read as X."""
        assert check_resident_id("11010519491231002x").valid

    @pytest.mark.parametrize("last", list("0123456789"))
    def test_wrong_check_character_is_flagged(self, last: str) -> None:
        """Every check character except the right one is INVALID_CHECK_DIGIT, naming both."""
        verdict = check_resident_id("11010519491231002" + last)
        assert verdict.status is IdNumberStatus.INVALID_CHECK_DIGIT
        assert "expected X" in verdict.reason

    def test_check_character_matches_mod_11_2(self) -> None:
        """The check character follows ISO 7064 MOD 11-2 for a hand-computed case."""
        digits = "51010419850101001"
        weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
        total = sum(int(d) * w for d, w in zip(digits, weights, strict=True))
        assert check_character(digits) == "10X98765432"[total % 11]

    def test_impossible_birth_date(self) -> None:
        """A 30 February birth date is INVALID_DATE."""
        number = "110105" + "20150230" + "002"
        verdict = check_resident_id(number + check_character(number))
        assert verdict.status is IdNumberStatus.INVALID_DATE

    def test_future_birth_date(self) -> None:
        """A birth date after today is INVALID_DATE."""
        number = "110105" + "20300101" + "002"
        verdict = check_resident_id(number + check_character(number), today=date(2026, 1, 1))
        assert verdict.status is IdNumberStatus.INVALID_DATE

    @pytest.mark.parametrize("text", ["12345", "11010519491231002Y", "A1010519491231002X"])
    def test_bad_shape(self, text: str) -> None:
        """Wrong length or characters are INVALID_FORMAT."""
        assert check_resident_id(text).status is IdNumberStatus.INVALID_FORMAT

    def test_legacy_15_digit_number(self) -> None:
        """A first-generation 15-digit number is recognised, with its 19xx birth date."""
        verdict = check_resident_id("110105491231002")
        assert verdict.status is IdNumberStatus.LEGACY_15_DIGIT
        assert verdict.birth_date == date(1949, 12, 31)

    def test_retired_area_code_is_not_rejected(self) -> None:
        """An area code that no longer exists is fine: numbers keep their issuing code."""
        number = "512301198001010012"  # 5123xx: a Sichuan prefecture code since retired
        fixed = number[:17] + check_character(number[:17])
        assert check_resident_id(fixed).valid

    def test_missing_number(self) -> None:
        """No number is NOT_GIVEN, not an error."""
        assert check_resident_id(None).status is IdNumberStatus.NOT_GIVEN
        assert check_resident_id("  ").status is IdNumberStatus.NOT_GIVEN

    def test_annotation_is_nested_and_kept(self) -> None:
        """Annotating sets a status beside every id_number and keeps the number itself."""
        payload: dict[str, Any] = {"person": {"id_number": "11010519491231002Y"},
                   "children": [{"child": {"id_number": None}}]}
        annotate_identity_numbers(payload)
        assert payload["person"] == {"id_number": "11010519491231002Y",
                                     "id_number_status": "INVALID_FORMAT"}
        assert payload["children"][0]["child"]["id_number_status"] == "NOT_GIVEN"


class TestParticipantIds:
    @pytest.mark.parametrize("pid", ["320000-police", "510100-migrant-registry",
                                     "000000-hub-operator", "530000-womens-federation"])
    def test_well_formed(self, pid: str) -> None:
        """Area code plus a known department is well formed."""
        assert participant_problem(pid) is None

    @pytest.mark.parametrize("pid", ["32000-police", "320000-army", "320000police",
                                     "320000-hub-operator", "000000-police"])
    def test_malformed(self, pid: str) -> None:
        """Bad area codes, unknown departments and misuse of 000000 are named."""
        assert participant_problem(pid)
