"""One contract for every match-store backend: in memory and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hub.errors import StoreError
from hub.identity import HUB_OPERATOR_ID
from hub.matching.facts import SourceKind
from hub.matching.matcher import Decision
from hub.matching.memory_store import InMemoryMatchStore
from hub.matching.rules import (
    AlertStatus,
    IndexedPerson,
    KnownPair,
    PairRecord,
    PairStatus,
    new_alert,
)
from hub.matching.store import (
    FIRST_MATCH_SEQUENCE,
    IndexEntry,
    MatchStore,
    Outbox,
    OwnedQuery,
    Replacement,
    Side,
)
from hub.store import EventRecord, EventStore, InMemoryEventStore
from tests.hub.matching.matching_factories import person

BACKENDS = ["memory", pytest.param("postgres", marks=pytest.mark.services)]
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def stores(request: pytest.FixtureRequest) -> Iterator[tuple[EventStore, MatchStore]]:
    """(event store, match store) of one backend, empty."""
    if request.param == "memory":
        events = InMemoryEventStore()
        yield events, InMemoryMatchStore(events)
        return
    from processors.pg_matching import PgMatchStore
    from processors.pg_store import PgEventStore

    settings = request.getfixturevalue("fresh_db_settings")
    pg_events, matches = PgEventStore(settings.pg_dsn), PgMatchStore(settings.pg_dsn)
    yield pg_events, matches
    pg_events.close()
    matches.close()


@pytest.fixture
def store(stores: tuple[EventStore, MatchStore]) -> MatchStore:
    return stores[1]


@pytest.fixture
def reopen(
    request: pytest.FixtureRequest, store: MatchStore
) -> Iterator[Callable[[], MatchStore]]:
    """Opens another handle on the same store, as a second worker would (PostgreSQL: its own
    connection)."""
    if isinstance(store, InMemoryMatchStore):
        yield lambda: store
        return
    from processors.pg_matching import PgMatchStore

    settings = request.getfixturevalue("fresh_db_settings")
    made: list[PgMatchStore] = []

    def make() -> MatchStore:
        made.append(PgMatchStore(settings.pg_dsn))
        return made[-1]

    yield make
    for handle in made:
        handle.close()


def entry(
    source: SourceKind,
    keys: set[str],
    pinyin: tuple[str, str] | None = None,
    latin: tuple[str, str] | None = None,
    **facts: Any,
) -> IndexEntry:
    """A person to index under these keys."""
    return IndexEntry(IndexedPerson(person(source, **facts), "320000-police", "320102"),
                      frozenset(keys), pinyin, latin)


def labels(persons: list[IndexedPerson]) -> list[str]:
    return [p.facts.ref.label() for p in persons]


def pair_record(status: PairStatus = PairStatus.REVIEW, **changes: Any) -> PairRecord:
    base = PairRecord(
        alert_id="A-1", counterpart_ref="RECORD:M-1#0", counterpart_kind="RECORD",
        counterpart_id="M-1", child_index=0, score=12.5, level=Decision.REVIEW,
        explanation=("name: same", "-> REVIEW"), alert_event_id=str(uuid.uuid4()),
        counterpart_event_id=str(uuid.uuid4()), status=status,
    )
    return replace(base, **changes)


class TestIndex:
    def test_candidates_are_found_by_any_key_on_their_side_only(self, store: MatchStore) -> None:
        """A person is a candidate under each of its keys, once, and never for the other side."""
        record = entry(SourceKind.RECORD, {"n:zhou", "b:2015"})
        alert = entry(SourceKind.ALERT, {"n:zhou"})
        with store.transaction() as txn:
            txn.replace_persons("M-1", Side.OTHER, [record])
            txn.replace_persons("A-1", Side.ALERT, [alert])
            found = txn.candidates(["n:zhou", "b:2015", "absent"], Side.OTHER)
            assert labels(found) == [record.person.facts.ref.label()]
            assert found[0] == record.person
            assert labels(txn.candidates(["n:zhou"], Side.ALERT)) == labels([alert.person])
            assert txn.candidates([], Side.OTHER) == []
            assert txn.candidates(["absent"], Side.OTHER) == []

    def test_replace_drops_what_the_business_id_held(self, store: MatchStore) -> None:
        """Re-indexing a record replaces its persons; removing them says how many there were."""
        old = [entry(SourceKind.RECORD, {"k1"}, child_index=i) for i in (0, 1)]
        new = entry(SourceKind.RECORD, {"k2"}, child_index=0)
        other = entry(SourceKind.RECORD, {"k1"})
        with store.transaction() as txn:
            txn.replace_persons("M-1", Side.OTHER, old)
            txn.replace_persons("M-2", Side.OTHER, [other])
            txn.replace_persons("M-1", Side.OTHER, [new])
            assert labels(txn.candidates(["k1"], Side.OTHER)) == labels([other.person])
            assert labels(txn.candidates(["k2"], Side.OTHER)) == labels([new.person])
            assert txn.remove_persons("M-1", Side.ALERT) == 0
            assert txn.remove_persons("M-1", Side.OTHER) == 1
            assert txn.candidates(["k2"], Side.OTHER) == []

    def test_candidates_come_in_label_order(self, store: MatchStore) -> None:
        """The order does not depend on the order of indexing."""
        made = [entry(SourceKind.RECORD, {"k"}) for _ in range(4)]
        with store.transaction() as txn:
            for n, e in enumerate(reversed(made)):
                txn.replace_persons(f"M-{n}", Side.OTHER, [e])
            found = labels(txn.candidates(["k"], Side.OTHER))
        assert found == sorted(labels([e.person for e in made]))

    def test_a_candidate_is_owned_by_its_smallest_key_in_common(self, store: MatchStore) -> None:
        """Under each probe key, only the persons whose smallest key shared with the probe is
        that key, in the keys' stored form (code point order of what `blind` gives): every
        candidate is scored under exactly one key."""
        plain = ["b:2015", "n:zhou", "n:周"]
        both = entry(SourceKind.RECORD, {"b:2015", "n:zhou", "x:other"})
        name = entry(SourceKind.RECORD, {"n:zhou", "n:周"})
        han = entry(SourceKind.RECORD, {"n:周", "a:not-in-probe"})
        with store.transaction() as txn:
            for n, e in enumerate((both, name, han)):
                txn.replace_persons(f"M-{n}", Side.OTHER, [e])
            stored = {k: txn.blind([k])[0] for k in plain}
            probe = txn.blind(plain)
            owned = {k: labels(txn.owned_candidates(stored[k], probe, Side.OTHER)) for k in plain}
            assert txn.owned_candidates(stored["b:2015"], probe, Side.ALERT) == []
        expected: dict[str, list[IndexedPerson]] = {k: [] for k in plain}
        for e in (both, name, han):
            owner = min((k for k in plain if k in e.keys), key=lambda k: stored[k])
            expected[owner].append(e.person)
        assert owned == {k: labels(people) for k, people in expected.items()}
        every = sorted(label for found in owned.values() for label in found)
        assert every == sorted(labels([both.person, name.person, han.person]))

    def test_an_indexed_person_is_read_back_by_label(self, store: MatchStore) -> None:
        """The person of a label, on its side, until replaced."""
        record = entry(SourceKind.RECORD, {"k"})
        label = record.person.facts.ref.label()
        with store.transaction() as txn:
            txn.replace_persons("M-1", Side.OTHER, [record])
            assert txn.person(Side.OTHER, label) == record.person
            assert txn.person(Side.ALERT, label) is None
            txn.replace_persons("M-1", Side.OTHER, [])
            assert txn.person(Side.OTHER, label) is None

    def test_name_counts_follow_indexing_and_removal(self, store: MatchStore) -> None:
        """Counts of surnames, given names, Han-named persons and all persons go up and down."""
        with store.transaction() as txn:
            txn.replace_persons("M-1", Side.OTHER, [
                entry(SourceKind.RECORD, {"k"}, ("zhou", "jiayi")),
                entry(SourceKind.RECORD, {"k"}, ("zhou", "yu")),
                entry(SourceKind.RECORD, {"k"}),  # no Chinese name
            ])
            txn.replace_persons("A-1", Side.ALERT, [entry(SourceKind.ALERT, {"k"}, ("wu", "yu"))])
            counts = txn.name_counts([("zhou", "yu"), ("li", "absent")])
            assert counts.surname_counts == {"zhou": 2}
            assert counts.given_counts == {"yu": 2}
            assert (counts.named, counts.persons, len(counts)) == (3, 4, 4)
            txn.remove_persons("M-1", Side.OTHER)
            counts = txn.name_counts([("zhou", "yu")])
            assert counts.surname_counts.get("zhou", 0) == 0
            assert counts.given_counts == {"yu": 1}
            assert (counts.named, counts.persons) == (1, 1)

    def test_latin_name_counts_follow_indexing_and_removal(self, store: MatchStore) -> None:
        """Family and first given names of Latin-script names are counted apart from Chinese
        ones, as the batch index counts them ("f:", "g:"); a part the name lacks is not."""
        with store.transaction() as txn:
            txn.replace_persons("M-1", Side.OTHER, [
                entry(SourceKind.RECORD, {"k"}, latin=("smith", "anna")),
                entry(SourceKind.RECORD, {"k"}, latin=("smith", "bo")),
                entry(SourceKind.RECORD, {"k"}, latin=("", "anna")),  # given name only
                entry(SourceKind.RECORD, {"k"}, ("zhou", "yu")),
            ])
            counts = txn.name_counts([], [("smith", "anna"), ("jones", "cy")])
            assert counts.latin_counts == {"f:smith": 2, "g:anna": 2}
            assert (counts.latin_named, counts.named, counts.persons) == (3, 1, 4)
            txn.replace_persons("M-1", Side.OTHER, [
                entry(SourceKind.RECORD, {"k"}, latin=("smith", "bo")),
            ])
            counts = txn.name_counts([], [("smith", "anna")])
            assert counts.latin_counts["f:smith"] == 1
            assert counts.latin_counts.get("g:anna", 0) == 0
            assert (counts.latin_named, counts.named, counts.persons) == (1, 0, 1)

    def test_dna_candidates_need_the_share_and_come_best_first(self, store: MatchStore) -> None:
        """A person shares enough DNA groups of those both typed, best share first, bounded."""
        probe = ["dna:g1:12-13", "dna:g2:8-9", "dna:g3:10-10", "dnag:g1", "dnag:g2", "dnag:g3"]
        best = entry(SourceKind.RECORD, {"dna:g1:12-13", "dna:g2:8-9", "dnag:g1", "dnag:g2"})
        half = entry(SourceKind.RECORD, {"dna:g1:12-13", "dnag:g1", "dnag:g2"})
        little = entry(SourceKind.RECORD, {"dna:g3:10-10", "dnag:g1", "dnag:g2", "dnag:g3"})
        none = entry(SourceKind.RECORD, {"dnag:g1", "dnag:g2"})
        with store.transaction() as txn:
            for n, e in enumerate((little, none, half, best)):
                txn.replace_persons(f"M-{n}", Side.OTHER, [e])
            found = txn.dna_candidates(probe, Side.OTHER, 0.5, None)
            assert labels(found) == labels([best.person, half.person])
            assert labels(txn.dna_candidates(probe, Side.OTHER, 0.3, 1)) == labels([best.person])
            assert len(txn.dna_candidates(probe, Side.OTHER, 0.3, None)) == 3
            assert txn.dna_candidates([], Side.OTHER, 0.5, None) == []
            assert txn.dna_candidates(probe, Side.ALERT, 0.5, None) == []


class TestAlerts:
    def test_state_reads_back_and_keeps_its_last_reason(self, store: MatchStore) -> None:
        """An alert's body, updates, DNA and status survive a round trip; a status reason stays
        until another replaces it."""
        state = replace(
            new_alert("A-1"), alert_event_id=str(uuid.uuid4()), publisher_id="510000-police",
            body={"alert_id": "A-1", "person": {"name": "周佳怡", "sex": "FEMALE"}},
            updates=({"update_id": "U-1", "urgency": "HIGH"},),
            parents_dna={"profile_id": "DNA-1"},
        )
        with store.transaction() as txn:
            assert txn.alert("A-1") is None
            txn.save_alert(state)
            assert txn.alert("A-1") == state
            closed = replace(state, status=AlertStatus.CLOSED)
            txn.save_alert(closed, "alert-closed e-1: FOUND")
            txn.save_alert(closed)
            assert txn.alert("A-1") == closed
        with store.transaction() as txn:
            found = txn.alert("A-1")
            assert found is not None and found.status is AlertStatus.CLOSED

    def test_open_alerts_filter_by_sex_and_last_seen(self, store: MatchStore) -> None:
        """A sighting finds open alerts not of the excluded sex, last seen before it."""
        def alert(n: int, sex: str, seen: str, status: AlertStatus = AlertStatus.OPEN) -> Any:
            return replace(
                new_alert(f"A-{n}"), alert_event_id=str(uuid.uuid4()), publisher_id="p",
                body={"person": {"sex": sex}, "last_seen_at": seen}, status=status,
            )
        with store.transaction() as txn:
            txn.save_alert(alert(1, "FEMALE", "2026-01-01T08:00:00+00:00"))
            txn.save_alert(alert(2, "MALE", "2026-01-01T08:00:00+00:00"))
            txn.save_alert(alert(3, "FEMALE", "2026-02-01T08:00:00+00:00"))
            txn.save_alert(alert(4, "FEMALE", "2025-01-01T08:00:00+00:00", AlertStatus.CLOSED))
            txn.save_alert(new_alert("A-5"))  # an update that arrived before its alert
            ids = [a.alert_id for a in txn.open_alerts(None, None)]
            assert ids == ["A-1", "A-2", "A-3"]
            ids = [a.alert_id for a in txn.open_alerts("MALE", "2026-01-15T00:00:00+00:00")]
            assert ids == ["A-1"]

    def test_a_tip_goes_to_each_recipient_once(self, store: MatchStore) -> None:
        """The second record of the same tip event for the same recipient says it went."""
        with store.transaction() as txn:
            assert txn.record_tip_forward("e-1", "T-1", "510000-police", "OWNER", ["A-1"])
            assert not txn.record_tip_forward("e-1", "T-1", "510000-police", "OWNER", ["A-1"])
            assert txn.record_tip_forward("e-1", "T-1", "320000-police", "AREA", ["A-1"])


class TestPairs:
    def test_a_review_keeps_the_recipients_of_an_earlier_notification(
        self, store: MatchStore
    ) -> None:
        """Who was told and on what evidence stays when the pair is refreshed as a review."""
        notified = pair_record(PairStatus.NOTIFIED, level=Decision.NOTIFY, evidence="e1",
                               recipients=("510000-police",), routing_notes=("note",))
        with store.transaction() as txn:
            assert txn.pair("M") is None
            txn.save_pair("M", notified, notified=True)
            txn.save_pair("M", pair_record(PairStatus.NOTIFIED, score=9.0), notified=False)
            known = txn.pair("M")
        assert known is not None
        assert (known.status, known.evidence, known.recipients) == (
            PairStatus.NOTIFIED, "e1", ("510000-police",)
        )
        assert store.review_list() == []

    def test_review_list_holds_undecided_reviews_best_first(self, store: MatchStore) -> None:
        """Pairs between the thresholds are listed by score; a decision takes one off."""
        with store.transaction() as txn:
            txn.save_pair("M-low", pair_record(score=3.0, counterpart_id="M-2"), notified=False)
            txn.save_pair("M-high", pair_record(score=7.0), notified=False)
            txn.save_pair("M-gone", pair_record(score=9.0), notified=False)
            txn.decide("M-gone", "A-1", PairStatus.REJECTED, "510000-police", T0)
        review = store.review_list()
        assert [r["match_id"] for r in review] == ["M-high", "M-low"]
        assert review[0]["explanation"] == ["name: same", "-> REVIEW"]
        assert (review[1]["alert_id"], review[1]["counterpart_id"], review[1]["child_index"]) == (
            "A-1", "M-2", 0
        )
        assert [r["match_id"] for r in store.review_list(limit=1)] == ["M-high"]

    def test_a_decided_pair_keeps_its_decision(self, store: MatchStore) -> None:
        """A decision that arrived before its match, or after it, is not overwritten."""
        with store.transaction() as txn:
            txn.decide("M-early", "A-1", PairStatus.REJECTED, "510000-police", T0)
            txn.save_pair("M-early", pair_record(), notified=False)
            txn.save_pair("M-late", pair_record(PairStatus.NOTIFIED), notified=True)
            txn.decide("M-late", None, PairStatus.NEED_INFO, "510000-police", None)
            txn.save_pair("M-late", pair_record(PairStatus.NOTIFIED), notified=True)
            early, late = txn.pair("M-early"), txn.pair("M-late")
        assert early is not None and early.status is PairStatus.REJECTED
        assert late is not None and late.status is PairStatus.NEED_INFO

    def test_of_two_decisions_the_later_one_stands(self, store: MatchStore) -> None:
        """Decisions applied out of order leave the one decided last."""
        with store.transaction() as txn:
            txn.decide("M", "A-1", PairStatus.CONFIRMED, "510000-police", T0 + timedelta(hours=1))
            txn.decide("M", "A-1", PairStatus.REJECTED, "510000-police", T0)
            first = txn.pair("M")
            txn.decide("M", "A-1", PairStatus.REJECTED, "510000-police", T0 + timedelta(hours=2))
            second = txn.pair("M")
        assert first is not None and first.status is PairStatus.CONFIRMED
        assert second is not None and second.status is PairStatus.REJECTED


    def test_two_transactions_finding_the_same_new_pair_take_turns(
        self, store: MatchStore, reopen: Callable[[], MatchStore]
    ) -> None:
        """The second transaction asking for a pair the first is about to notify waits for it
        and then sees it notified, so a pair found twice at once is notified once."""
        seen: list[KnownPair | None] = []
        asking = threading.Event()

        worker = reopen()

        def second() -> None:
            asking.set()
            with worker.transaction() as txn:
                seen.append(txn.pair("M"))

        other = threading.Thread(target=second)
        with store.transaction() as txn:
            assert txn.pair("M") is None
            other.start()
            asking.wait(10)
            time.sleep(0.5)  # room for the second one to reach the pair (and wait there)
            txn.save_pair("M", pair_record(PairStatus.NOTIFIED, evidence="e1"), notified=True)
        other.join(30)
        assert len(seen) == 1 and seen[0] is not None
        assert (seen[0].status, seen[0].evidence) == (PairStatus.NOTIFIED, "e1")


class TestBatches:
    def test_a_batch_of_replacements_is_each_replacement_in_order(
        self, store: MatchStore
    ) -> None:
        """Persons indexed in one batch are found, counted and replaced as one by one; of two
        replacements of one business id the last stands, and one without persons removes."""
        kept = entry(SourceKind.RECORD, {"k1", "k2"}, ("zhou", "yu"))
        first = [entry(SourceKind.RECORD, {"k1"}, ("wu", "yu"), child_index=i) for i in (0, 1)]
        last = entry(SourceKind.RECORD, {"k2"}, ("wu", "li"), child_index=0)
        gone = entry(SourceKind.RECORD, {"k1"})
        alert = entry(SourceKind.ALERT, {"k1"}, ("zhou", "yu"))
        with store.transaction() as txn:
            txn.replace_persons("M-3", Side.OTHER, [gone])
            txn.replace_batch([
                Replacement("M-1", Side.OTHER, [kept]),
                Replacement("M-2", Side.OTHER, first),
                Replacement("A-1", Side.ALERT, [alert]),
                Replacement("M-2", Side.OTHER, [last]),
                Replacement("M-3", Side.OTHER, []),
            ])
            assert labels(txn.candidates(["k1"], Side.OTHER)) == labels([kept.person])
            assert labels(txn.candidates(["k2"], Side.OTHER)) == sorted(
                labels([kept.person, last.person]))
            assert labels(txn.candidates(["k1"], Side.ALERT)) == labels([alert.person])
            counts = txn.name_counts([("zhou", "yu"), ("wu", "li")])
            assert counts.surname_counts == {"zhou": 2, "wu": 1}
            assert counts.given_counts == {"yu": 2, "li": 1}
            assert (counts.named, counts.persons) == (3, 3)
            txn.replace_batch([])
            assert txn.name_counts([]).persons == 3

    def test_persons_are_read_back_together_by_side_and_label(self, store: MatchStore) -> None:
        """Every asked (side, label) that is indexed, on its own side; the others left out."""
        records = [entry(SourceKind.RECORD, {"k"}) for _ in range(3)]
        alert = entry(SourceKind.ALERT, {"k"})
        with store.transaction() as txn:
            for n, e in enumerate(records):
                txn.replace_persons(f"M-{n}", Side.OTHER, [e])
            txn.replace_persons("A-1", Side.ALERT, [alert])
            wanted = [(Side.OTHER, records[0].person.facts.ref.label()),
                      (Side.OTHER, records[2].person.facts.ref.label()),
                      (Side.ALERT, records[1].person.facts.ref.label()),
                      (Side.ALERT, alert.person.facts.ref.label()),
                      (Side.OTHER, "RECORD:absent#0")]
            found = txn.persons(wanted)
            assert txn.persons([]) == {}
        assert found == {wanted[0]: records[0].person, wanted[1]: records[2].person,
                         wanted[3]: alert.person}

    def test_owned_candidates_of_a_batch_are_those_of_each_query(
        self, store: MatchStore
    ) -> None:
        """Each query of a batch finds what it finds alone, in order; a person found by two
        queries is in both."""
        plain = ["b:2015", "n:zhou", "n:周"]
        made = [
            entry(SourceKind.RECORD, {"b:2015", "n:zhou", "x:other"}),
            entry(SourceKind.RECORD, {"n:zhou", "n:周"}),
            entry(SourceKind.RECORD, {"n:周", "a:not-in-probe"}),
            entry(SourceKind.ALERT, {"n:zhou"}),
        ]
        with store.transaction() as txn:
            for n, e in enumerate(made):
                side = Side.ALERT if e.person.facts.ref.source is SourceKind.ALERT else Side.OTHER
                txn.replace_persons(f"B-{n}", side, [e])
            stored = {k: txn.blind([k])[0] for k in plain}
            probe = txn.blind(plain)
            narrow = txn.blind(["n:周"])
            queries = [
                *(OwnedQuery(stored[k], probe, Side.OTHER) for k in plain),
                OwnedQuery(stored["n:zhou"], probe, Side.ALERT),
                OwnedQuery(stored["n:周"], narrow, Side.OTHER),
                OwnedQuery(txn.blind(["absent"])[0], probe, Side.OTHER),
            ]
            alone = [labels(txn.owned_candidates(*q)) for q in queries]
            together = [labels(found) for found in txn.owned_candidates_batch(queries)]
            assert txn.owned_candidates_batch([]) == []
        assert together == alone
        assert sum(map(len, alone)) == 6  # 3 persons once each, the alert, two under 周 alone

    def test_outbox_batch_keeps_its_order(self, store: MatchStore) -> None:
        """Messages written together are claimed in the order given, in their own box."""
        sent = [("t.k", f"k{n}".encode(), f"v{n}".encode()) for n in range(5)]
        with store.transaction() as txn:
            txn.outbox_batch(sent[:3], Outbox.PROBES)
            txn.outbox_batch([("t.m", None, b"message")])
            txn.outbox_batch(sent[3:], Outbox.PROBES)
            txn.outbox_batch([], Outbox.PROBES)
        claimed = store.claim_outbox(box=Outbox.PROBES)
        assert [(m.topic, m.key, m.value) for m in claimed] == sent
        assert [(m.topic, m.key, m.value) for m in store.claim_outbox()] == [
            ("t.m", None, b"message")]


class TestOutboxAndBookkeeping:
    def test_outbox_rows_are_claimed_once_until_sent(self, store: MatchStore) -> None:
        """A claimed row is not handed out again while fresh; a sent one never."""
        with store.transaction() as txn:
            txn.outbox("t.a", b"k", b"one")
            txn.outbox("t.b", None, b"two")
        claimed = store.claim_outbox()
        assert [(m.topic, m.key, m.value) for m in claimed] == [
            ("t.a", b"k", b"one"), ("t.b", None, b"two")
        ]
        assert store.claim_outbox() == []
        store.mark_sent([claimed[0].id])
        with store.transaction() as txn:
            txn.outbox("t.c", None, b"three")
        assert [m.value for m in store.claim_outbox(limit=5)] == [b"three"]

    def test_probes_wait_in_their_own_outbox(self, store: MatchStore) -> None:
        """Probes to the keyed topic and messages to participants are claimed and marked apart."""
        with store.transaction() as txn:
            txn.outbox("t.match-keys", b"n:zhou", b"probe", Outbox.PROBES)
            txn.outbox("t.ingest", None, b"event")
        probes = store.claim_outbox(box=Outbox.PROBES)
        assert [(m.topic, m.key, m.value) for m in probes] == [
            ("t.match-keys", b"n:zhou", b"probe")
        ]
        store.mark_sent([m.id for m in probes], Outbox.PROBES)
        assert [m.value for m in store.claim_outbox()] == [b"event"]
        assert store.claim_outbox(box=Outbox.PROBES) == []

    def test_sequence_numbers_start_high_and_grow(self, store: MatchStore) -> None:
        """The hub operator's match-found numbering starts at its own base and never repeats."""
        with store.transaction() as txn:
            first, second = txn.next_sequence(), txn.next_sequence()
        assert first == FIRST_MATCH_SEQUENCE and second == first + 1

    def test_a_failure_is_kept_and_a_second_one_replaces_the_why(self, store: MatchStore) -> None:
        """Failed events are listed by id with the latest reason."""
        with store.transaction() as txn:
            txn.fail("e-2", "migrant-record", "bad age")
            txn.fail("e-1", "rescue-notice", "first")
            txn.fail("e-1", "rescue-notice", "second")
        assert store.failures() == [
            ("e-1", "rescue-notice", "second"), ("e-2", "migrant-record", "bad age")
        ]
        assert store.failures()[0].reason == "second"

    def test_positions_are_per_consumer_and_partition(self, store: MatchStore) -> None:
        """A partition's position starts at -1 and moves forward only."""
        with store.transaction() as txn:
            assert txn.claim("match", "t.verified", 0) == -1
            txn.advance("match", "t.verified", 0, 10)
            txn.advance("match", "t.verified", 0, 4)
        with store.transaction() as txn:
            assert txn.claim("match", "t.verified", 0) == 10
            assert txn.claim("match", "t.verified", 1) == -1
            assert txn.claim("other", "t.verified", 0) == -1

    def test_registered_participants_come_from_the_event_store(
        self, stores: tuple[EventStore, MatchStore]
    ) -> None:
        """Registrations stored as events are what routing reads, with their jurisdictions."""
        events, store = stores
        with events.transaction() as txn:
            for n, (pid, area) in enumerate((("510000-police", "510000"), ("320000-x", None))):
                txn.append(registration(n + 1, pid, area))
        with store.transaction() as txn:
            assert txn.registered() == {"510000-police": "510000", "320000-x": None}


class TestUnitsOfWork:
    def test_a_failed_transaction_leaves_no_trace(self, store: MatchStore) -> None:
        """Everything written before the exception, in the middle of the batch, is undone."""
        with pytest.raises(RuntimeError), store.transaction() as txn:
            txn.replace_persons("M-1", Side.OTHER, [entry(SourceKind.RECORD, {"k"})])
            txn.save_pair("M", pair_record(), notified=False)
            txn.outbox("t.a", None, b"x")
            txn.claim("match", "t.verified", 0)
            txn.advance("match", "t.verified", 0, 3)
            raise RuntimeError("mid-batch")
        with store.transaction() as txn:
            assert txn.candidates(["k"], Side.OTHER) == []
            assert txn.pair("M") is None
            assert txn.claim("match", "t.verified", 0) == -1
        assert store.claim_outbox() == [] and store.review_list() == []

    def test_a_savepoint_undoes_one_event_alone(self, store: MatchStore) -> None:
        """Work inside a failed savepoint is undone; work before and after it commits."""
        with store.transaction() as txn:
            txn.save_pair("M-before", pair_record(), notified=False)
            with pytest.raises(ValueError), txn.savepoint():
                txn.save_pair("M-inside", pair_record(), notified=False)
                txn.replace_persons("M-1", Side.OTHER, [entry(SourceKind.RECORD, {"k"})])
                raise ValueError("one bad event")
            txn.save_pair("M-after", pair_record(), notified=False)
        with store.transaction() as txn:
            assert txn.pair("M-inside") is None
            assert txn.candidates(["k"], Side.OTHER) == []
        assert sorted(r["match_id"] for r in store.review_list()) == ["M-after", "M-before"]


def registration(n: int, participant: str, jurisdiction: str | None) -> EventRecord:
    """A stored participant-registered event."""
    event_id = str(uuid.uuid4())
    return EventRecord(
        event_id=event_id, event_type="participant-registered", schema_version=1,
        schema_fingerprint="ab" * 32, publisher_id=HUB_OPERATOR_ID, key_id="0f" * 16,
        sequence=n, occurred_at=T0, published_at=T0, payload=b"\x02" + event_id.encode(),
        signature=bytes(64), wire=b"EXH\x01" + event_id.encode(),
        body={"participant_id": participant, "jurisdiction": jurisdiction},
    )


def test_the_memory_store_has_no_response_tables() -> None:
    """A details request needs the PostgreSQL store: the in-memory one says so."""
    store = InMemoryMatchStore()
    with pytest.raises(StoreError, match="response tables"), store.transaction() as txn:
        txn.cursor  # noqa: B018 - the property raises
