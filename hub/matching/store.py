"""The streaming matcher's storage: the interface the match stage works through.

One transaction holds a batch's index changes, alert states, pairs, outgoing messages and input
positions, so a redelivered batch has no second effect. Implementations: in memory
(:mod:`hub.matching.memory_store`, for fast tests) and PostgreSQL (``processors/pg_matching.py``);
one contract suite runs against both (``tests/hub/matching/test_match_store_contract.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, NamedTuple, Protocol

from hub.matching.rules import AlertState, IndexedPerson, KnownPair, PairRecord, PairStatus

__all__ = [
    "FIRST_MATCH_SEQUENCE",
    "RECLAIM_AFTER",
    "IndexEntry",
    "MatchFailure",
    "MatchStore",
    "MatchTxn",
    "NameCounts",
    "Outbox",
    "OutboxMessage",
    "OwnedQuery",
    "Replacement",
    "Side",
]

# An outbox row claimed by a worker that never marked it sent is taken over after this long.
RECLAIM_AFTER = timedelta(seconds=30)
# The first number of the hub operator's one sequence in a new database (migration 0045): its
# registry events and the events the pipeline signs share it.
FIRST_MATCH_SEQUENCE = 1


class Outbox(enum.StrEnum):
    """The two outboxes: messages to participants and the ingest topic, and probes to the keyed
    topic (hub.matching.fanout), kept apart so each says how far behind its sending is."""

    MESSAGES = "match_outbox"
    PROBES = "match_probe_outbox"


class Side(enum.StrEnum):
    """Which side of matching a person is on: an alert's missing person, or anyone else
    (a migrant record's registrant or child, a rescued person)."""

    ALERT = "ALERT"
    OTHER = "OTHER"


@dataclass(frozen=True)
class IndexEntry:
    """A person to index, with its blocking keys and, for a Chinese name, its (surname, given
    name) pinyin, which feed the name-frequency counts."""

    person: IndexedPerson
    keys: frozenset[str]
    pinyin: tuple[str, str] | None
    # A Latin-script name's (family, first given) parts, for the same counts.
    latin: tuple[str, str] | None = None


@dataclass
class NameCounts:
    """How often names occur among the indexed persons, and how many persons there are: the
    matcher's NamePopulation (hub.matching.matcher), for the names asked about."""

    surname_counts: dict[str, int] = field(default_factory=dict)
    given_counts: dict[str, int] = field(default_factory=dict)
    named: int = 0
    persons: int = 0
    # Latin-script names as the matcher reads them: "f:<family>" and "g:<first given>".
    latin_counts: dict[str, int] = field(default_factory=dict)
    latin_named: int = 0

    def __len__(self) -> int:
        """Every indexed person."""
        return self.persons


@dataclass(frozen=True)
class OutboxMessage:
    """One message waiting to be sent."""

    id: int
    topic: str
    key: bytes | None
    value: bytes


class Replacement(NamedTuple):
    """The persons one alert/record/notice is indexed as from now on (none: taken out)."""

    business_id: str
    side: Side
    entries: Sequence[IndexEntry]


class OwnedQuery(NamedTuple):
    """One probe's search under its key (:meth:`MatchTxn.owned_candidates`), keys stored form."""

    key: str
    probe_keys: Sequence[str]
    side: Side


class MatchFailure(NamedTuple):
    """An event matching could not use, with why."""

    event_id: str
    event_type: str
    reason: str


class MatchTxn(Protocol):
    """The matcher's reads and writes inside one transaction; all or nothing."""

    def claim(self, consumer: str, topic: str, partition: int) -> int:
        """Lock this input partition for the consumer; the last processed offset or -1."""

    def advance(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        """Record that the consumer processed this partition up to and including offset."""

    def lock(self) -> None:
        """Serialise matching batches across workers (an alert and a record committed at the
        same moment would otherwise each search an index without the other)."""

    def savepoint(self) -> AbstractContextManager[None]:
        """A nested unit of work: one event's changes are undone alone when it fails."""

    def replace_persons(self, business_id: str, side: Side, entries: Sequence[IndexEntry]) -> None:
        """Drop the indexed persons of one alert/record/notice and index these instead."""

    def replace_batch(self, replacements: Sequence[Replacement]) -> None:
        """:meth:`replace_persons` for each replacement, in order, written together (one
        statement per table in PostgreSQL); of two for one business id and side the last
        stands."""

    def remove_persons(self, business_id: str, side: Side) -> int:
        """Take one alert's/record's/notice's persons out of the index; how many there were."""

    def name_counts(
        self, names: Iterable[tuple[str, str]], latin: Iterable[tuple[str, str]] = ()
    ) -> NameCounts:
        """Persons per surname and per given name (for these names), Han-named persons, and
        every indexed person; for the Latin (family, first given) names, persons per part and
        Latin-named persons."""

    def candidates(self, keys: Iterable[str], side: Side) -> list[IndexedPerson]:
        """Every person of `side` indexed under at least one of the keys, by person label."""

    def blind(self, keys: Iterable[str]) -> list[str]:
        """Blocking keys in the form the index stores them (keyed hashes in PostgreSQL, so that
        no name travels in a probe), sorted and without repeats."""

    def owned_candidates(
        self, key: str, probe_keys: Iterable[str], side: Side
    ) -> list[IndexedPerson]:
        """Persons of `side` indexed under `key` for whom `key` is the smallest (in code point
        order) of the `probe_keys` they are indexed under: each candidate of a probe is scored
        under one key only (hub.matching.fanout), by person label. The keys are in their
        stored form (:meth:`blind`)."""

    def owned_candidates_batch(self, queries: Sequence[OwnedQuery]) -> list[list[IndexedPerson]]:
        """:meth:`owned_candidates` for each query (one query in PostgreSQL), in their order."""

    def person(self, side: Side, ref: str) -> IndexedPerson | None:
        """The indexed person with this label, or None once it is replaced or removed."""

    def persons(self, wanted: Iterable[tuple[Side, str]]) -> dict[tuple[Side, str], IndexedPerson]:
        """:meth:`person` for each (side, label) at once; those not indexed are left out."""

    def dna_candidates(
        self, keys: Iterable[str], side: Side, min_share: float, limit: int | None
    ) -> list[IndexedPerson]:
        """Persons of `side` sharing at least `min_share` of the DNA locus groups both typed,
        best share first, at most `limit` (see hub.matching.blocking.CandidateIndex).

        `keys` are the probe's DNA keys (dna:GROUP:ALLELES) and group keys (dnag:GROUP); a
        person's dnag keys say which of the probe's groups it could share at all.
        """

    def alert(self, alert_id: str) -> AlertState | None:
        """The alert's state (locked for this transaction), or None if never seen."""

    def save_alert(self, state: AlertState, reason: str | None = None) -> None:
        """Store the alert's state; a reason is kept with a status change (the last one stays)."""

    def open_alerts(self, not_sex: str | None, seen_by: str | None) -> list[AlertState]:
        """Open alerts a sighting could concern, by alert id: the person's sex is not `not_sex`
        and they were last seen no later than `seen_by` (ISO time); either filter off when None."""

    def record_tip_forward(
        self, tip_event_id: str, tip_id: str, recipient: str, role: str, alert_ids: list[str]
    ) -> bool:
        """Record that a tip went to a recipient; False if it had gone already."""

    def pair(self, match_id: str) -> KnownPair | None:
        """What is known of a pair; None if new. The pair is locked for this transaction even
        while new, so two transactions finding the same pair decide on it one after the other
        and it is notified once."""

    def save_pair(self, match_id: str, pair: PairRecord, notified: bool) -> None:
        """Insert or refresh a pair, counting a notification; a decided pair keeps its decision,
        and a pair written without recipients keeps those of its last notification."""

    def decide(
        self, match_id: str, alert_id: str | None, decision: PairStatus, by: str, at: Any
    ) -> None:
        """Record a police decision (it may arrive before its match is known here); of two
        decisions the later one stands."""

    def registered(self) -> dict[str, str | None]:
        """Registered participants and their jurisdictions, from the event store (stored
        before anything after them reaches the matcher)."""

    def outbox(
        self, topic: str, key: bytes | None, value: bytes, box: Outbox = Outbox.MESSAGES
    ) -> None:
        """A message to send once this transaction has committed."""

    def outbox_batch(
        self, messages: Sequence[tuple[str, bytes | None, bytes]], box: Outbox = Outbox.MESSAGES
    ) -> None:
        """:meth:`outbox` for each (topic, key, value), in order, written together."""

    def next_sequence(self) -> int:
        """The next sequence number of the hub operator's match-found events."""

    def fail(self, event_id: str, event_type: str, reason: str) -> None:
        """Keep an event matching could not use, with why (a second failure replaces the why)."""

    @property
    def cursor(self) -> Any:
        """The PostgreSQL cursor of this transaction, for the response tables
        (processors.pg_response); a store without them raises StoreError."""


class MatchStore(Protocol):
    """Transactions over the matcher's state, the outbox and the review list."""

    def transaction(self) -> AbstractContextManager[MatchTxn]:
        """A unit of work, committed on clean exit and undone on an exception."""

    def claim_outbox(
        self, limit: int = 1000, box: Outbox = Outbox.MESSAGES
    ) -> list[OutboxMessage]:
        """Unsent messages not being sent by another worker (or abandoned), oldest first."""

    def mark_sent(self, ids: Sequence[int], box: Outbox = Outbox.MESSAGES) -> None:
        """These messages went out and were acknowledged."""

    def review_list(self, limit: int = 100) -> list[dict[str, Any]]:
        """Undecided pairs between the thresholds, best score first."""

    def failures(self) -> list[MatchFailure]:
        """Every event matching kept as failed, by event id."""

    def close(self) -> None:
        """Release connections."""
