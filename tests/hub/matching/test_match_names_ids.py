"""Names, pinyin and identity numbers."""

from __future__ import annotations

import datetime as dt

from hub.identity import check_character
from hub.matching import idnumber
from hub.matching.facts import Sex
from hub.matching.names import (
    fuzzy_pinyin,
    jaro_winkler,
    latin_key,
    pinyin,
    split_han_name,
    surname_pinyin,
)


class TestNames:
    def test_compound_surname_is_kept_whole(self) -> None:
        """欧阳/司马/诸葛 are two-character surnames; ordinary names split after one character."""
        assert split_han_name("欧阳娜娜") == ("欧阳", "娜娜")
        assert split_han_name("诸葛亮") == ("诸葛", "亮")
        assert split_han_name("王小明") == ("王", "小明")

    def test_homophones_share_toneless_pinyin(self) -> None:
        """张丽 and 章莉 are written differently but sound the same."""
        assert pinyin("张丽") == pinyin("章莉") == "zhangli"

    def test_surname_reading_differs_from_word_reading(self) -> None:
        """曾 as a surname reads zeng, not ceng."""
        assert surname_pinyin("曾") == "zeng"

    def test_fuzzy_pinyin_folds_southern_confusions(self) -> None:
        """zh/z and ing/in confusions fold together; different sounds stay apart."""
        assert fuzzy_pinyin("静") == fuzzy_pinyin("进")
        assert fuzzy_pinyin("张") == fuzzy_pinyin("赞")
        assert fuzzy_pinyin("丽") != fuzzy_pinyin("明")

    def test_latin_key_ignores_accents_and_order(self) -> None:
        """Nguyễn Thị Lan and 'Lan Nguyen Thi' have the same key."""
        assert latin_key("Nguyễn Thị Lan") == latin_key("Lan Nguyen Thi")

    def test_jaro_winkler_reference_values(self) -> None:
        """The textbook pairs give the textbook similarities."""
        assert round(jaro_winkler("martha", "marhta"), 3) == 0.961
        assert round(jaro_winkler("dixon", "dicksonx"), 3) == 0.813
        assert jaro_winkler("abc", "xyz") == 0.0


class TestIdNumbers:
    def test_check_character_of_the_standard_example(self) -> None:
        """11010519491231002X: the published example's check character is X."""
        assert check_character("11010519491231002") == "X"

    def test_parse_reads_birth_and_sex(self) -> None:
        """The birth date and sex (odd order code: male) come out of the number."""
        parsed = idnumber.parse("11010519491231002X")
        assert parsed is not None
        assert parsed.birth == dt.date(1949, 12, 31)
        assert parsed.sex is Sex.FEMALE
        assert parsed.check_ok

    def test_bad_check_digit_is_flagged_not_rejected(self) -> None:
        """A wrong check character still parses, with check_ok False."""
        parsed = idnumber.parse("110105194912310021")
        assert parsed is not None and not parsed.check_ok

    def test_digits_of_other_scripts_are_not_an_identity_number(self) -> None:
        """Arabic-Indic digits pass str.isdigit() but make no number: None, never a crash."""
        arabic = "".join(chr(0x0660 + int(c)) for c in "11010519491231002") + "X"
        assert idnumber.parse(arabic) is None

    def test_comparison_levels(self) -> None:
        """Exact, one mistyped digit, two adjacent digits swapped, or different."""
        a = "11010519491231002X"
        assert idnumber.compare(a, a) is idnumber.IdLevel.EXACT
        assert idnumber.compare(a, "11010519491231003X") is idnumber.IdLevel.ONE_TYPO
        assert idnumber.compare(a, "11010591491231002X") is idnumber.IdLevel.TRANSPOSED
        assert idnumber.compare(a, "320102199001010011") is idnumber.IdLevel.DIFFERENT
