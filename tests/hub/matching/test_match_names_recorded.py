"""Names as recorded: name kind, sound-alike surnames, Latin names part by part, keys, documents."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from matching_factories import person

from hub.matching.blocking import CandidateIndex, blocking_keys
from hub.matching.comparison import compare
from hub.matching.facts import NameKind, PersonFacts, SourceKind
from hub.matching.features import prepare
from hub.matching.kinship import AlleleTable
from hub.matching.matcher import Matcher
from hub.matching.names import jaro_winkler, soundex

TABLE = AlleleTable.load()
MATCHER = Matcher(table=TABLE)


def _levels(a: PersonFacts, b: PersonFacts) -> dict[str, str | None]:
    result = compare(prepare(a), prepare(b), TABLE)
    return {f: result.level_name(f) for f in result.levels}


def _with(p: PersonFacts, **changes: object) -> PersonFacts:
    return dataclasses.replace(p, **changes)  # type: ignore[arg-type]


def _han_population(surname: str, one_in: int = 3) -> CandidateIndex:
    """600 named persons, one in `one_in` with `surname` (a third: common, as 陈 or 王 are)."""
    index = CandidateIndex()
    given = "丽娟芳敏静秀英华慧巧美娜"
    others = "李刘周吴徐孙胡朱高林何郭马罗"
    for i in range(600):
        sur = surname if i % one_in == 0 else others[i % len(others)]
        index.add(prepare(person(name=sur + given[i % len(given)] + given[(i // 7) % len(given)],
                                 born=dt.date(1960 + i % 40, 1 + i % 12, 1 + i % 28))))
    return index


class TestSoundAlikeSurname:
    @pytest.mark.parametrize("alert_name,other_name", [
        ("陈秀英", "晨秀英"), ("王丽娟", "汪丽娟"), ("张美娜", "章美娜"), ("杨慧", "阳慧")])
    def test_between_exact_and_different_after_adjustment(
        self, alert_name: str, other_name: str
    ) -> None:
        """陈/晨, 王/汪, 张/章, 杨/阳 among many of that surname: above "different", below exact."""
        population = _han_population(alert_name[0])
        alert = prepare(person(SourceKind.ALERT, name=alert_name))
        assert compare(alert, prepare(person(name=other_name)), TABLE).level_name(
            "surname") == "pinyin"
        sound = MATCHER.score_pair(alert, prepare(person(name=other_name)), population)
        exact = MATCHER.score_pair(alert, prepare(person(name=alert_name)), population)
        differ = MATCHER.score_pair(alert, prepare(person(name="欧" + alert_name[1:])), population)
        assert differ.contributions["surname"] < sound.contributions["surname"]
        assert sound.contributions["surname"] <= exact.contributions["surname"]

    def test_commonness_counts_alike_for_sound_and_exact(self) -> None:
        """A surname's commonness lowers a sound-alike agreement (陈/晨) by as many bits as an
        exact one, and among persons one in 15 of whom are 陈 it stays well above the floor
        (the counts are of sounds: set against the rare u of sound-alike writings alone, 陈's
        frequency pushed 陈/晨 down to the weight of a plain mismatch)."""
        alert = prepare(person(SourceKind.ALERT, name="陈秀英"))
        floor = MATCHER.model.weight("surname", 2) + 0.5
        gaps = []
        for one_in in (15, 40):
            population = _han_population("陈", one_in)
            sound = MATCHER.score_pair(alert, prepare(person(name="晨秀英")), population)
            exact = MATCHER.score_pair(alert, prepare(person(name="陈秀英")), population)
            assert sound.contributions["surname"] > floor + 1.0
            gaps.append(exact.contributions["surname"] - sound.contributions["surname"])
        assert gaps[0] == pytest.approx(gaps[1], abs=0.1)


class TestGivenNameOnly:
    def test_given_name_only_is_never_surname_different(self) -> None:
        """A rescued child's "秀英" recorded as a given name only: given name exact, no surname."""
        alert = person(SourceKind.ALERT, name="王秀英")
        child = _with(person(SourceKind.RESCUE, name="秀英"), name_kind=NameKind.GIVEN_ONLY)
        levels = _levels(alert, child)
        assert levels["surname"] is None
        assert levels["given_name"] == "exact"
        # The same text taken as a full name is split 秀 + 英: the bug this field fixes.
        assert _levels(alert, person(SourceKind.RESCUE, name="秀英"))["surname"] == "different"

    def test_one_character_given_name_only(self) -> None:
        """"洋" as a given name only meets 杨洋 on the given name; no surname is compared."""
        child = _with(person(name="洋"), name_kind=NameKind.GIVEN_ONLY)
        levels = _levels(person(SourceKind.ALERT, name="杨洋"), child)
        assert levels["given_name"] == "exact" and levels["surname"] is None

    def test_nickname_compares_as_alias(self) -> None:
        """A name recorded as a nickname (强强) is an alias, never surname 强 + given 强."""
        record = _with(person(name="强强"), name=None, other_names=("强强",),
                       name_kind=NameKind.NICKNAME)
        levels = _levels(person(SourceKind.ALERT, name="李强", other_names=("强强",)), record)
        assert levels["other_names"] == "exact"
        assert levels["surname"] is None and levels["given_name"] is None


def _latin(name: str | None = None, family: str | None = None, given: str | None = None,
           born: dt.date | None = None, documents: tuple[str, ...] = (),
           source: SourceKind = SourceKind.RECORD) -> PersonFacts:
    return _with(person(source, name=name, born=born), family_name=family, given_names=given,
                 foreign_documents=documents)


class TestLatinParts:
    def test_each_agreeing_part_earns_credit(self) -> None:
        """A married woman's new surname: the given name still counts; the family name not."""
        alert = prepare(_latin(family="Nguyen", given="Thi Lan", source=SourceKind.ALERT))
        married = MATCHER.score_pair(alert, prepare(_latin(family="Tran", given="Thi Lan")))
        stranger = MATCHER.score_pair(alert, prepare(_latin(family="Tran", given="Van Minh")))
        assert married.comparison.level_name("latin_given") == "exact"
        assert married.comparison.level_name("latin_family") == "different"
        assert married.comparison.level_name("latin_middle") == "exact"
        assert married.score > stranger.score

    def test_words_in_written_order_not_sorted(self) -> None:
        """Jaro-Winkler on each part as written: the prefix bonus no longer swings with a sort."""
        levels = _levels(_latin("Mohammed Zimmermann"), _latin("Mohamed Zimmermann"))
        assert levels["latin_family"] == "exact"
        assert levels["latin_given"] == "jw_high"
        # Sorting "Ana Zimmermann" / "Anna Zimmermann" is harmless, but "Zoe Adams" / "Zoey
        # Adams" sorted puts the family name first: part by part, each prefix is the part's own.
        assert _levels(_latin("Zoe Adams"), _latin("Zoey Adams"))["latin_given"] == "jw_high"
        assert jaro_winkler("anna", "ana") == pytest.approx(0.9333, abs=1e-3)

    def test_parts_written_the_other_way_round(self) -> None:
        """Family name first on one side: parts are compared crosswise."""
        levels = _levels(_latin("Keomany Souksavanh"), _latin("Souksavanh Keomany"))
        assert levels["latin_family"] == levels["latin_given"] == "exact"

    def test_common_family_name_counts_less_than_rare(self) -> None:
        """Frequency adjustment from the searched data: "smith" says less than "zielinski"."""
        index = CandidateIndex()
        for i in range(700):
            family = "smith" if i % 4 == 0 else f"fam{i}"
            index.add(prepare(_latin(family=family, given=f"given{i}")))
        alert_common = prepare(_latin(family="Smith", given="Ava", source=SourceKind.ALERT))
        alert_rare = prepare(_latin(family="Zielinski", given="Ava", source=SourceKind.ALERT))
        common = MATCHER.score_pair(
            alert_common, prepare(_latin(family="Smith", given="Bo")), index)
        rare = MATCHER.score_pair(
            alert_rare, prepare(_latin(family="Zielinski", given="Bo")), index)
        assert common.contributions["latin_family"] < rare.contributions["latin_family"]

    def test_name_seen_often_among_few_latin_names_counts_less(self) -> None:
        """Among 60 Latin names (foreign victims among Chinese ones), a name seen ten times
        counts less than the average agreement, as a Chinese name does below 500 persons."""
        index = CandidateIndex()
        for i in range(60):
            family, given = ("htwe", "nan") if i % 6 == 0 else (f"fam{i}", f"given{i}")
            index.add(prepare(_latin(family=family, given=given)))
        alert = prepare(_latin(family="Htwe", given="Nan", source=SourceKind.ALERT))
        seen = MATCHER.score_pair(alert, prepare(_latin(family="Htwe", given="Nan")), index)
        for part in ("latin_family", "latin_given"):
            assert seen.contributions[part] < MATCHER.model.weight(part, 0) - 1.0

    def test_one_word_name_weaker_than_full_name(self) -> None:
        """"Smith" alone agreeing with John Smith counts less than both parts agreeing."""
        alert = prepare(_latin("John Smith", source=SourceKind.ALERT))
        one = MATCHER.score_pair(alert, prepare(_latin("Smith")))
        full = MATCHER.score_pair(alert, prepare(_latin("John Smith")))
        assert one.comparison.level_name("latin_one_word") == "exact"
        assert one.score < full.score
        assert one.contributions["latin_one_word"] < full.contributions["latin_family"] + (
            full.contributions["latin_given"])


class TestLatinCandidates:
    def test_pair_without_birth_year_becomes_candidate(self) -> None:
        """No birth date on either side, surname mistyped: the name-part keys still meet."""
        index = CandidateIndex()
        stored = prepare(_latin(family="Phonesavahn", given="Keo"))
        index.add(stored)
        for i in range(50):
            index.add(prepare(_latin(family=f"Other{i}", given=f"Name{i}")))
        probe = prepare(_latin(family="Phonesavanh", given="Keo", source=SourceKind.ALERT))
        assert stored.facts.ref in {c.facts.ref for c in index.candidates(probe)}

    def test_passport_is_key_and_evidence(self) -> None:
        """Different transcriptions, no birth date: the passport finds and weighs the pair."""
        alert = prepare(_latin(family="Nguyen", given="Lan", documents=("VNM:C1234567",),
                               source=SourceKind.ALERT))
        record = prepare(_latin(family="Nguyễn", given="Lanh", documents=("C1234567",)))
        index = CandidateIndex()
        index.add(record)
        assert "fd:C1234567" in blocking_keys(alert, stored=False)
        assert [c.facts.ref for c in index.candidates(alert)] == [record.facts.ref]
        scored = MATCHER.score_pair(alert, record)
        assert scored.comparison.level_name("foreign_document") == "exact"
        typo = prepare(_latin(family="Tran", given="Binh", documents=("VNM:C1234576",)))
        assert MATCHER.score_pair(alert, typo).comparison.level_name(
            "foreign_document") == "one_typo"
        other_country = prepare(_latin(family="Nguyen", given="Lan", documents=("LAO:C1234567",)))
        assert MATCHER.score_pair(alert, other_country).comparison.level_name(
            "foreign_document") == "different"

    def test_soundex(self) -> None:
        """Soundex codes as published (Robert R163, Tymczak T522, Pfister P236, Ashcraft A261)."""
        assert [soundex(w) for w in ("robert", "tymczak", "pfister", "ashcraft")] == [
            "r163", "t522", "p236", "a261"]


class TestAddressAndBirthTypo:
    def test_address_without_area_code_compared_as_text(self) -> None:
        """Foreign addresses (no area code): words in another order or a typo still agree."""
        a = _with(_latin("Lan Nguyen"), address_text="12 Hang Bac Street, Hoan Kiem, Hanoi")
        b = _with(_latin("Lan Nguyen"), address_text="Hang Bac Stret 12 Hoan Kiem Hanoi")
        c = _with(_latin("Lan Nguyen"), address_text="5 Rue de Rivoli, Paris")
        assert _levels(a, b)["address"] == "high"
        assert _levels(a, c)["address"] == "different"
        assert _levels(a, _latin("Lan Nguyen"))["address"] is None

    def test_birth_date_typing_error(self) -> None:
        """1985-03-12 / 1985-03-21 (two digits swapped) and 1985-12-03 (day/month) are typos."""
        a = person(born=dt.date(1985, 3, 12))
        assert _levels(a, person(born=dt.date(1985, 3, 21)))["birth"] == "typo"
        assert _levels(a, person(born=dt.date(1985, 12, 3)))["birth"] == "typo"
        assert _levels(a, person(born=dt.date(1975, 3, 12)))["birth"] == "typo"
        assert _levels(a, person(born=dt.date(1990, 7, 1)))["birth"] == "different"
