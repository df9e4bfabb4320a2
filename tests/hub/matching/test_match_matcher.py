"""The matcher in both directions, decisions, explanations, DNA."""

from __future__ import annotations

import datetime as dt
import random

from matching_factories import person

from hub.matching.blocking import CandidateIndex
from hub.matching.evaluation import shared_evidence
from hub.matching.facts import Sex, SourceKind, StrProfile
from hub.matching.features import prepare
from hub.matching.kinship import AlleleTable
from hub.matching.matcher import Decision, Matcher

TABLE = AlleleTable.load()
MATCHER = Matcher()


def _family(seed: int) -> tuple[StrProfile, StrProfile, StrProfile]:
    rng = random.Random(seed)

    def draw() -> StrProfile:
        return {
            locus: tuple(rng.choices(list(f), list(f.values()), k=2))  # type: ignore[misc]
            for locus, f in TABLE.frequencies.items()
        }

    father, mother = draw(), draw()
    child = {locus: (rng.choice(father[locus]), rng.choice(mother[locus])) for locus in father}
    return father, mother, child


def _woman_alert() -> object:
    return person(
        SourceKind.ALERT,
        name="张丽",
        born=dt.date(1995, 3, 8),
        id_number="51010419950308152X",
        province="510104",
        sex=Sex.FEMALE,
        observed=dt.date(2019, 4, 1),
    )


class TestMatcher:
    def test_new_record_finds_open_alert_with_explanation(self) -> None:
        """A homophone name with a mistyped number notifies, and says why field by field."""
        alerts = CandidateIndex()
        alert = _woman_alert()
        alerts.add(prepare(alert))  # type: ignore[arg-type]
        record = person(
            name="章莉",
            born=dt.date(1995, 3, 8),
            id_number="51010419950308125X",
            province="510104",
            seen=("320583",),
            sex=Sex.FEMALE,
        )
        hits = MATCHER.match_new_record(record, alerts)
        assert len(hits) == 1
        hit = hits[0]
        assert hit.decision is Decision.NOTIFY
        assert hit.alert_ref == alert.ref  # type: ignore[attr-defined]
        assert hit.record_ref == record.ref
        text = "\n".join(hit.explanation)
        assert (
            "id_number: transposed" in text and "given_name: pinyin" in text and "-> NOTIFY" in text
        )

    def test_new_alert_searches_stored_records(self) -> None:
        """The other direction finds the same pair."""
        records = CandidateIndex()
        record = person(name="张丽", born=dt.date(1995, 3, 8), id_number="51010419950308152X")
        records.add(prepare(record))
        hits = MATCHER.match_new_alert(_woman_alert(), records)  # type: ignore[arg-type]
        assert [h.record_ref for h in hits] == [record.ref]

    def test_different_person_with_common_name_is_not_notified(self) -> None:
        """Same common name, different number, birth ten years apart: no NOTIFY."""
        alerts = CandidateIndex()
        alerts.add(prepare(_woman_alert()))  # type: ignore[arg-type]
        other = person(name="张丽", born=dt.date(1985, 2, 1), id_number="320102198502011223")
        assert all(
            h.decision is not Decision.NOTIFY for h in MATCHER.match_new_record(other, alerts)
        )

    def test_strong_dna_alone_makes_a_hit_for_a_renamed_child(self) -> None:
        """A rescued child with another name and no number: the parents' trio decides."""
        father, mother, child = _family(11)
        alert = person(
            SourceKind.ALERT,
            name="王梓涵",
            born=dt.date(2013, 6, 1),
            observed=dt.date(2016, 1, 1),
            father=father,
            mother=mother,
            province="520102",
            sex=Sex.FEMALE,
        )
        rescue = person(
            SourceKind.RESCUE,
            name="小花",
            ages=(9, 11),
            observed=dt.date(2023, 5, 1),
            profile=child,
            seen=("410102",),
            sex=Sex.FEMALE,
        )
        alerts = CandidateIndex()
        alerts.add(prepare(alert))
        hits = MATCHER.match_new_record(rescue, alerts)
        assert len(hits) == 1 and hits[0].decision is Decision.NOTIFY
        assert hits[0].kinship is not None and hits[0].kinship.strong

    def test_dna_exclusion_prevents_a_hit(self) -> None:
        """Same name and age, but the child's profile excludes the reporting parents."""
        father, mother, _ = _family(12)
        _, _, stranger = _family(13)
        alert = person(
            SourceKind.ALERT,
            name="李浩然",
            born=dt.date(2015, 2, 2),
            observed=dt.date(2017, 1, 1),
            father=father,
            mother=mother,
            sex=Sex.MALE,
        )
        rescue = person(
            SourceKind.RESCUE,
            name="李浩然",
            ages=(7, 8),
            observed=dt.date(2022, 9, 1),
            profile=stranger,
            sex=Sex.MALE,
        )
        alerts = CandidateIndex()
        alerts.add(prepare(alert))
        assert MATCHER.match_new_record(rescue, alerts) == []

    def test_thresholds_split_notify_review_and_nothing(self) -> None:
        """Moving the thresholds turns the same pair from NOTIFY into REVIEW into nothing."""
        alerts = CandidateIndex()
        alerts.add(prepare(_woman_alert()))  # type: ignore[arg-type]
        record = person(name="张丽", born=dt.date(1995, 3, 8), sex=Sex.FEMALE)
        score = MATCHER.match_new_record(record, alerts)[0].score
        review = Matcher(MATCHER.model.with_thresholds(score + 1, score - 1), TABLE)
        assert review.match_new_record(record, alerts)[0].decision is Decision.REVIEW
        nothing = Matcher(MATCHER.model.with_thresholds(score + 2, score + 1), TABLE)
        assert nothing.match_new_record(record, alerts) == []

    def test_records_are_never_matched_with_records(self) -> None:
        """An index of records gives no hits for a record probe: alerts pair with the others."""
        records = CandidateIndex()
        records.add(prepare(person(name="张丽", born=dt.date(1995, 3, 8))))
        assert (
            MATCHER.match_new_record(person(name="张丽", born=dt.date(1995, 3, 8)), records) == []
        )


class TestSharedEvidence:
    def test_strongest_shared_fact_of_a_pair(self) -> None:
        """What a missed pair still shares is named by its strongest agreeing field: an
        identity number before a name, a name before an alias, and nothing but sex and age
        for a renamed child without number, alias or mark."""
        born = dt.date(2015, 3, 1)
        alert = prepare(person(SourceKind.ALERT, name="张丽", born=born, other_names=("丫丫",)))
        assert shared_evidence(alert, prepare(person(name="张丽", born=born))) == "name"
        assert shared_evidence(alert, prepare(person(name="丫丫", born=born))) == "alias"
        renamed = prepare(person(name="王芳", born=born))
        assert shared_evidence(alert, renamed) == "sex and age at most"
        number = "110101201503010020"
        with_id = prepare(person(SourceKind.ALERT, name="张丽", born=born, id_number=number))
        assert shared_evidence(with_id, prepare(person(name="张丽", id_number=number))) == (
            "identity number")
