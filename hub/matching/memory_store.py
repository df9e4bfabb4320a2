"""A :class:`hub.matching.store.MatchStore` in process memory, for fast tests of the match
stage; the same contract as the PostgreSQL one (processors/pg_matching.py)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from hub.errors import StoreError
from hub.matching.rules import (
    DECISIONS,
    AlertState,
    IndexedPerson,
    KnownPair,
    PairRecord,
    PairStatus,
)
from hub.matching.store import (
    FIRST_MATCH_SEQUENCE,
    RECLAIM_AFTER,
    IndexEntry,
    MatchFailure,
    NameCounts,
    Outbox,
    OutboxMessage,
    OwnedQuery,
    Replacement,
    Side,
)
from hub.store import EventStore

__all__ = ["InMemoryMatchStore"]


@dataclass
class _Indexed:
    person: IndexedPerson
    business_id: str
    keys: frozenset[str]
    pinyin: tuple[str, str] | None
    latin: tuple[str, str] | None = None


@dataclass
class _Pair:
    record: PairRecord | None
    status: PairStatus
    alert_id: str | None
    notifications: int = 0
    decided_by: str | None = None
    decided_at: datetime | None = None
    first_found_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class _Outgoing:
    message: OutboxMessage
    claimed_at: datetime | None = None
    sent: bool = False


@dataclass
class _State:
    persons: dict[tuple[Side, str], _Indexed] = field(default_factory=dict)
    names: dict[tuple[str, str], int] = field(default_factory=dict)
    alerts: dict[str, tuple[AlertState, str | None]] = field(default_factory=dict)
    pairs: dict[str, _Pair] = field(default_factory=dict)
    outbox: dict[Outbox, list[_Outgoing]] = field(
        default_factory=lambda: {box: [] for box in Outbox}
    )
    sequence: int = FIRST_MATCH_SEQUENCE
    failures: dict[str, MatchFailure] = field(default_factory=dict)
    tracking: dict[tuple[str, str, int], int] = field(default_factory=dict)
    tips: set[tuple[str, str]] = field(default_factory=set)


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return None if value is None else datetime.fromisoformat(str(value))


def _of_side(state: _State, side: Side) -> list[tuple[str, _Indexed]]:
    """The persons of one side by label (the order PostgreSQL returns them in)."""
    return sorted(
        ((label, p) for (s, label), p in state.persons.items() if s is side),
        key=lambda item: item[0],
    )


class _Txn:
    def __init__(self, state: _State, events: EventStore | None) -> None:
        self.state = state
        self._events = events

    def claim(self, consumer: str, topic: str, partition: int) -> int:
        return self.state.tracking.get((consumer, topic, partition), -1)

    def advance(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        key = (consumer, topic, partition)
        self.state.tracking[key] = max(offset, self.state.tracking.get(key, -1))

    def lock(self) -> None:
        pass  # a transaction holds the whole in-memory store already

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        saved = copy.deepcopy(self.state)
        try:
            yield
        except BaseException:
            self.state = saved
            raise

    # --- the candidate index ---------------------------------------------------------------

    def replace_persons(self, business_id: str, side: Side, entries: Sequence[IndexEntry]) -> None:
        self.remove_persons(business_id, side)
        for entry in entries:
            label = entry.person.facts.ref.label()
            self.state.persons[(side, label)] = _Indexed(
                entry.person, business_id, frozenset(entry.keys), entry.pinyin, entry.latin
            )
            self._count(entry.pinyin, entry.latin, +1)

    def replace_batch(self, replacements: Sequence[Replacement]) -> None:
        for replacement in replacements:
            self.replace_persons(*replacement)

    def remove_persons(self, business_id: str, side: Side) -> int:
        gone = [k for k, p in self.state.persons.items()
                if k[0] is side and p.business_id == business_id]
        for key in gone:
            person = self.state.persons.pop(key)
            self._count(person.pinyin, person.latin, -1)
        return len(gone)

    def _count(
        self, pinyin: tuple[str, str] | None, latin: tuple[str, str] | None, delta: int
    ) -> None:
        parts = [("persons", "*")]
        if pinyin is not None:
            parts += [("surname", pinyin[0]), ("given", pinyin[1]), ("total", "*")]
        if latin is not None:
            parts += [(part, value) for part, value in (
                ("latin_family", latin[0]), ("latin_given", latin[1]), ("latin_total", "*"),
            ) if value]
        for part in parts:
            self.state.names[part] = self.state.names.get(part, 0) + delta

    def name_counts(
        self, names: Iterable[tuple[str, str]], latin: Iterable[tuple[str, str]] = ()
    ) -> NameCounts:
        wanted = list(names)
        counts = NameCounts(
            named=self.state.names.get(("total", "*"), 0),
            persons=self.state.names.get(("persons", "*"), 0),
            latin_named=self.state.names.get(("latin_total", "*"), 0),
        )
        for family, first in latin:
            for part, prefix, value in (
                ("latin_family", "f:", family), ("latin_given", "g:", first)
            ):
                if value and (part, value) in self.state.names:
                    counts.latin_counts[prefix + value] = self.state.names[(part, value)]
        for surname, given in wanted:
            if ("surname", surname) in self.state.names:
                counts.surname_counts[surname] = self.state.names[("surname", surname)]
            if ("given", given) in self.state.names:
                counts.given_counts[given] = self.state.names[("given", given)]
        return counts

    def candidates(self, keys: Iterable[str], side: Side) -> list[IndexedPerson]:
        wanted = set(keys)
        return [p.person for _, p in _of_side(self.state, side) if p.keys & wanted]

    def blind(self, keys: Iterable[str]) -> list[str]:
        return sorted(set(keys))  # stored as they are: the memory store is never dumped

    def owned_candidates(
        self, key: str, probe_keys: Iterable[str], side: Side
    ) -> list[IndexedPerson]:
        wanted = set(probe_keys) | {key}
        return [p.person for _, p in _of_side(self.state, side)
                if key in p.keys and min(p.keys & wanted) == key]

    def owned_candidates_batch(self, queries: Sequence[OwnedQuery]) -> list[list[IndexedPerson]]:
        return [self.owned_candidates(*query) for query in queries]

    def person(self, side: Side, ref: str) -> IndexedPerson | None:
        found = self.state.persons.get((side, ref))
        return None if found is None else found.person

    def persons(self, wanted: Iterable[tuple[Side, str]]) -> dict[tuple[Side, str], IndexedPerson]:
        return {key: self.state.persons[key].person for key in wanted
                if key in self.state.persons}

    def dna_candidates(
        self, keys: Iterable[str], side: Side, min_share: float, limit: int | None
    ) -> list[IndexedPerson]:
        wanted = set(keys)
        scored: list[tuple[float, str, IndexedPerson]] = []
        for label, p in _of_side(self.state, side):
            hits = p.keys & wanted
            shared = len({k.split(":")[1] for k in hits if k.startswith("dna:")})
            possible = max(sum(1 for k in hits if k.startswith("dnag:")), 1)
            if shared > 0 and shared >= min_share * possible:
                scored.append((-shared / possible, label, p.person))
        scored.sort(key=lambda s: (s[0], s[1]))
        return [s[2] for s in scored[:limit]]

    # --- alerts and tips -------------------------------------------------------------------

    def alert(self, alert_id: str) -> AlertState | None:
        found = self.state.alerts.get(alert_id)
        return None if found is None else found[0]

    def save_alert(self, state: AlertState, reason: str | None = None) -> None:
        before = self.state.alerts.get(state.alert_id)
        kept = reason if reason is not None else (before[1] if before else None)
        self.state.alerts[state.alert_id] = (copy.deepcopy(state), kept)

    def open_alerts(self, not_sex: str | None, seen_by: str | None) -> list[AlertState]:
        limit = _when(seen_by)
        found = []
        for alert_id in sorted(self.state.alerts):
            state = self.state.alerts[alert_id][0]
            if state.status != "open" or state.body is None:
                continue
            person = state.body.get("person") or {}
            if not_sex is not None and person.get("sex") == not_sex:
                continue
            seen = _when(state.body.get("last_seen_at"))
            if limit is not None and (seen is None or seen > limit):
                continue
            found.append(state)
        return found

    def record_tip_forward(
        self, tip_event_id: str, tip_id: str, recipient: str, role: str, alert_ids: list[str]
    ) -> bool:
        key = (tip_event_id, recipient)
        if key in self.state.tips:
            return False
        self.state.tips.add(key)
        return True

    # --- pairs and decisions ---------------------------------------------------------------

    def pair(self, match_id: str) -> KnownPair | None:
        found = self.state.pairs.get(match_id)
        if found is None:
            return None
        record = found.record
        return KnownPair(
            found.status,
            record.evidence if record else None,
            (record.recipients or ()) if record else (),
        )

    def save_pair(self, match_id: str, pair: PairRecord, notified: bool) -> None:
        found = self.state.pairs.get(match_id)
        if found is None:
            found = self.state.pairs[match_id] = _Pair(None, pair.status, pair.alert_id)
        before = found.record
        if before is not None:
            pair = replace(
                pair,
                recipients=pair.recipients if pair.recipients is not None else before.recipients,
                routing_notes=pair.routing_notes
                if pair.routing_notes is not None
                else before.routing_notes,
                evidence=pair.evidence if pair.evidence is not None else before.evidence,
            )
        found.record = pair
        found.alert_id = pair.alert_id
        if found.status not in DECISIONS:
            found.status = pair.status
        found.notifications += 1 if notified else 0

    def decide(
        self, match_id: str, alert_id: str | None, decision: PairStatus, by: str, at: Any
    ) -> None:
        when = _when(at)
        found = self.state.pairs.get(match_id)
        if found is None:
            self.state.pairs[match_id] = _Pair(None, decision, alert_id, 0, by, when)
            return
        if found.decided_at is None or when is None or when >= found.decided_at:
            found.status = decision
        found.decided_by = by
        if when is not None and (found.decided_at is None or when > found.decided_at):
            found.decided_at = when
        found.alert_id = found.alert_id or alert_id

    # --- participants, outbox, sequence, failures ------------------------------------------

    def registered(self) -> dict[str, str | None]:
        if self._events is None:
            return {}
        found: dict[str, str | None] = {}
        after = 0
        while batch := self._events.read(after=after, event_types=["participant-registered"]):
            for stored in batch:
                body = stored.record.body
                if body.get("participant_id"):
                    found[str(body["participant_id"])] = body.get("jurisdiction")
            after = batch[-1].position
        return found

    def outbox(
        self, topic: str, key: bytes | None, value: bytes, box: Outbox = Outbox.MESSAGES
    ) -> None:
        rows = self.state.outbox[box]
        rows.append(_Outgoing(OutboxMessage(len(rows) + 1, topic, key, value)))

    def outbox_batch(
        self, messages: Sequence[tuple[str, bytes | None, bytes]], box: Outbox = Outbox.MESSAGES
    ) -> None:
        for topic, key, value in messages:
            self.outbox(topic, key, value, box)

    def next_sequence(self) -> int:
        number = self.state.sequence
        self.state.sequence += 1
        return number

    def fail(self, event_id: str, event_type: str, reason: str) -> None:
        self.state.failures[event_id] = MatchFailure(event_id, event_type, reason)

    @property
    def cursor(self) -> Any:
        raise StoreError("the in-memory match store keeps no response tables; details "
                         "requests need the PostgreSQL store")


class InMemoryMatchStore:
    """The matcher's state in memory; a transaction works on a copy swapped in on success.

    `events` is where registrations are read from (as the PostgreSQL store reads its event
    store); without one no participant is registered.
    """

    def __init__(self, events: EventStore | None = None) -> None:
        self._state = _State()
        self._events = events
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[_Txn]:
        with self._lock:
            txn = _Txn(copy.deepcopy(self._state), self._events)
            yield txn
            self._state = txn.state

    def claim_outbox(
        self, limit: int = 1000, box: Outbox = Outbox.MESSAGES
    ) -> list[OutboxMessage]:
        with self._lock:
            now = datetime.now(UTC)
            claimed: list[OutboxMessage] = []
            for row in self._state.outbox[box]:
                if len(claimed) >= limit:
                    break
                taken = row.claimed_at is not None and now - row.claimed_at < RECLAIM_AFTER
                if row.sent or taken:
                    continue
                row.claimed_at = now
                claimed.append(row.message)
            return claimed

    def mark_sent(self, ids: Sequence[int], box: Outbox = Outbox.MESSAGES) -> None:
        wanted = set(ids)
        with self._lock:
            for row in self._state.outbox[box]:
                if row.message.id in wanted:
                    row.sent = True

    def review_list(self, limit: int = 100) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for match_id, pair in self._state.pairs.items():
            record = pair.record
            if pair.status is not PairStatus.REVIEW or record is None:
                continue
            rows.append({
                "match_id": match_id,
                "alert_id": pair.alert_id,
                "counterpart_kind": record.counterpart_kind,
                "counterpart_id": record.counterpart_id,
                "child_index": record.child_index,
                "score": record.score,
                "explanation": list(record.explanation),
                "first_found_at": pair.first_found_at,
            })
        rows.sort(key=lambda r: (-float(r["score"]), r["first_found_at"]))
        return rows[:limit]

    def failures(self) -> list[MatchFailure]:
        return [self._state.failures[k] for k in sorted(self._state.failures)]

    def close(self) -> None:
        pass  # nothing to release
