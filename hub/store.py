"""Event store and quarantine: interfaces and in-memory implementations.

The pipeline talks to storage only through the small protocols below. Every write a processor
makes happens inside one unit of work together with its input position (``claim``/``advance``,
the "tracking" record), so a restart at any point neither loses nor doubles an effect. The
PostgreSQL implementations live outside ``hub/`` (``processors/pg_store.py``); the in-memory ones
here serve the fast unit tests and the one contract suite that both must pass. Projection
storage is in :mod:`hub.projection_store`.
"""

from __future__ import annotations

import base64
import copy
import enum
import hashlib
import threading
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Protocol

from hub.errors import StoreError
from hub.reasons import AuditOutcome, RejectReason, SequenceIssue

# Events that create a subject others may change, and the field holding the subject's id: the
# stores can find them by that id (hub.authority decides who may change them).
SUBJECT_FIELDS = {"missing-person-alert": "alert_id", "match-found": "match_id"}

__all__ = [
    "CaseReadAudit",
    "DisclosureAudit",
    "EventRecord",
    "EventStore",
    "EventStoreTxn",
    "InMemoryEventStore",
    "PublisherSequence",
    "QuarantineEntry",
    "QuarantineStatus",
    "SequenceAnomaly",
    "StoredEvent",
    "record_of",
    "to_jsonable",
]


_PLAIN = frozenset({str, int, float, bool, type(None)})


def to_jsonable(value: Any) -> Any:
    """A decoded Avro value turned into plain JSON types (bytes as base64, times as ISO text)."""
    kind = type(value)
    # Exact types first: nearly every value of a decoded payload is one, and this runs for
    # every stored event.
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {str(k): v if type(v) in _PLAIN else to_jsonable(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _PLAIN else to_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value)
    return value


@dataclass(frozen=True)
class EventRecord:
    """One verified event as stored: every envelope field, the signature and the wire bytes."""

    event_id: str
    event_type: str
    schema_version: int
    schema_fingerprint: str
    publisher_id: str
    key_id: str
    sequence: int
    occurred_at: datetime
    published_at: datetime
    payload: bytes
    signature: bytes
    wire: bytes
    body: Mapping[str, Any]  # JSON types only (see to_jsonable), as stored and projected
    # The case's data key was destroyed (hub.atrest): wire and payload are empty and body
    # holds only the clear view of the event.
    shredded: bool = False


def record_of(envelope: Any, wire: bytes, body: Mapping[str, Any]) -> EventRecord:
    """The store record of a verified :class:`hub.envelope.Envelope` and its decoded payload."""
    return EventRecord(
        event_id=str(envelope.event_id),
        event_type=envelope.event_type,
        schema_version=envelope.schema_version,
        schema_fingerprint=bytes(envelope.schema_fingerprint).hex(),
        publisher_id=envelope.publisher_id,
        key_id=envelope.key_id,
        sequence=envelope.sequence,
        occurred_at=envelope.occurred_at,
        published_at=envelope.published_at,
        payload=bytes(envelope.payload),
        signature=bytes(envelope.signature),
        wire=bytes(wire),
        body=to_jsonable(body),
    )


@dataclass(frozen=True)
class StoredEvent:
    """An event with its position in the store (ascending in order of arrival)."""

    position: int
    record: EventRecord


class QuarantineStatus(enum.StrEnum):
    """Where a rejected event stands."""

    OPEN = "open"
    RETRIED = "retried"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class QuarantineEntry:
    """A rejected message kept with its machine-readable reason and its original bytes."""

    reason: RejectReason
    detail: str
    wire: bytes
    received_at: datetime
    source_topic: str = ""
    source_partition: int = -1
    source_offset: int = -1
    event_id: str | None = None
    publisher_id: str | None = None
    event_type: str | None = None
    id: int = 0
    status: QuarantineStatus = QuarantineStatus.OPEN
    retried_at: datetime | None = None
    retries: int = 0
    # The case whose data key seals the kept bytes at rest (hub.atrest.quarantine_case).
    case_id: str | None = None


@dataclass(frozen=True)
class PublisherSequence:
    """What the hub last saw from one publisher."""

    publisher_id: str
    last_sequence: int
    last_seen_at: datetime
    events: int = 0
    gaps: int = 0
    replays: int = 0
    duplicates: int = 0


@dataclass(frozen=True)
class SequenceAnomaly:
    """A gap or replay in a publisher's sequence, kept for operators."""

    publisher_id: str
    kind: SequenceIssue
    expected: int
    got: int
    event_id: str
    detected_at: datetime


class EventStoreTxn(Protocol):
    """One unit of work on the event store; all or nothing."""

    def claim(self, consumer: str, topic: str, partition: int) -> int:
        """Lock this input partition for the consumer; the last processed offset or -1."""

    def advance(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        """Record that the consumer processed this partition up to and including offset."""

    def known(self, event_ids: Iterable[str]) -> dict[str, bytes]:
        """Of the given ids, those already stored, each with its stored wire bytes."""

    def append(self, record: EventRecord) -> bool:
        """Store the event; False (and no effect at all) if its id is already stored."""

    def append_many(self, records: Sequence[EventRecord]) -> None:
        """Store events in this order; ids already stored have no effect (one round trip)."""

    def sequences(self, publishers: Iterable[str]) -> dict[str, PublisherSequence]:
        """The current sequence state of the given publishers (absent when never seen)."""

    def save_sequence(self, state: PublisherSequence) -> None:
        """Replace one publisher's sequence state."""

    def record_anomaly(self, anomaly: SequenceAnomaly) -> None:
        """Keep a sequence gap or replay for operators."""

    def quarantine(self, entry: QuarantineEntry) -> int:
        """Keep a rejected message; returns its quarantine id."""

    def audit_disclosure(self, entry: DisclosureAudit) -> None:
        """Keep one row of the disclosure audit (a details request refused here)."""

    def audit_case_read(self, entry: CaseReadAudit) -> None:
        """Keep one row of the case-file audit (a case-file request refused here)."""

    def mark_quarantine(self, entry_id: int, status: QuarantineStatus, at: datetime) -> None:
        """Move a quarantine entry to a new status (retried entries get retried_at and a count)."""

    def open_quarantine(
        self, publisher_id: str, reasons: Iterable[RejectReason]
    ) -> list[QuarantineEntry]:
        """Open entries of one publisher kept for one of the reasons, oldest first."""

    def quarantine_wire(self, entry_id: int) -> bytes | None:
        """The bytes kept in one quarantine entry (None when there is no such entry)."""

    def lock_subject(self, event_type: str, subject_id: str) -> None:
        """Serialise, until commit, every transaction that creates or names this subject."""

    def subject_events(self, event_type: str, subject_id: str) -> list[tuple[str, dict[str, Any]]]:
        """(publisher, body) of each stored event of this type creating this subject, in order
        (types and id fields: hub.authority.SUBJECT_FIELDS); takes the subject's lock first."""


class EventStore(Protocol):
    """The append-only store of verified events, plus quarantine and sequence bookkeeping."""

    def transaction(self) -> Any:
        """A context manager yielding an :class:`EventStoreTxn`, committed on clean exit."""

    def get(self, event_id: str) -> StoredEvent | None:
        """The stored event with this id, if any."""

    def wire_digests(self, event_ids: Sequence[str]) -> dict[str, bytes]:
        """SHA-256 of the stored wire bytes by event id; ids not stored are left out."""

    def get_many(self, event_ids: Sequence[str]) -> dict[str, StoredEvent]:
        """Stored events by id; ids not stored are left out."""

    def read(
        self, *, after: int = 0, limit: int = 1000, event_types: Sequence[str] | None = None
    ) -> list[StoredEvent]:
        """Events with position > after, ascending, optionally only of some types."""

    def count(self) -> int:
        """How many events are stored."""

    def quarantined(
        self, *, reason: RejectReason | None = None, status: QuarantineStatus | None = None
    ) -> list[QuarantineEntry]:
        """Quarantine entries, oldest first, optionally filtered."""

    def quarantine_entry(self, entry_id: int) -> QuarantineEntry | None:
        """One quarantine entry by id."""

    def anomalies(self, publisher_id: str | None = None) -> list[SequenceAnomaly]:
        """Recorded sequence gaps and replays, oldest first."""

    def disclosure_audits(self, match_id: str | None = None) -> list[DisclosureAudit]:
        """Rows of the disclosure audit, oldest first, optionally of one match."""

    def publishers(self) -> list[PublisherSequence]:
        """Sequence state of every publisher seen."""


def _track_key(consumer: str, topic: str, partition: int) -> tuple[str, str, int]:
    return (consumer, topic, partition)


@dataclass(frozen=True)
class DisclosureAudit:
    """One request for the personal details behind a hit, granted or refused (append-only)."""

    match_id: str
    requester: str
    request_event_id: str
    reason: str
    outcome: AuditOutcome
    detail: str
    at: datetime


@dataclass(frozen=True)
class CaseReadAudit:
    """One request for a rescued person's case file, granted or refused (append-only).

    `step` says which check decided: "verify" (permission, key) or "entitlement" (who may
    read this case, processors.case_stage)."""

    case_id: str
    requester: str
    request_event_id: str
    reason: str
    step: str
    outcome: AuditOutcome
    detail: str
    at: datetime


@dataclass
class _EventState:
    events: dict[str, StoredEvent] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    next_position: int = 1
    tracking: dict[tuple[str, str, int], int] = field(default_factory=dict)
    sequences: dict[str, PublisherSequence] = field(default_factory=dict)
    anomalies: list[SequenceAnomaly] = field(default_factory=list)
    quarantine: dict[int, QuarantineEntry] = field(default_factory=dict)
    next_quarantine: int = 1
    audits: list[DisclosureAudit] = field(default_factory=list)
    case_audits: list[CaseReadAudit] = field(default_factory=list)


class _InMemoryEventTxn:
    def __init__(self, state: _EventState) -> None:
        self._s = state

    def claim(self, consumer: str, topic: str, partition: int) -> int:
        return self._s.tracking.get(_track_key(consumer, topic, partition), -1)

    def advance(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        key = _track_key(consumer, topic, partition)
        self._s.tracking[key] = max(offset, self._s.tracking.get(key, -1))

    def known(self, event_ids: Iterable[str]) -> dict[str, bytes]:
        ev = self._s.events
        return {i: ev[i].record.wire for i in event_ids if i in ev}

    def append(self, record: EventRecord) -> bool:
        if record.event_id in self._s.events:
            return False
        position = self._s.next_position
        self._s.next_position += 1
        frozen = replace(record, body=copy.deepcopy(dict(record.body)))
        self._s.events[record.event_id] = StoredEvent(position, frozen)
        self._s.order.append(record.event_id)
        return True

    def append_many(self, records: Sequence[EventRecord]) -> None:
        for record in records:
            self.append(record)

    def sequences(self, publishers: Iterable[str]) -> dict[str, PublisherSequence]:
        seq = self._s.sequences
        return {p: seq[p] for p in publishers if p in seq}

    def save_sequence(self, state: PublisherSequence) -> None:
        self._s.sequences[state.publisher_id] = state

    def record_anomaly(self, anomaly: SequenceAnomaly) -> None:
        self._s.anomalies.append(anomaly)

    def audit_disclosure(self, entry: DisclosureAudit) -> None:
        self._s.audits.append(entry)

    def audit_case_read(self, entry: CaseReadAudit) -> None:
        self._s.case_audits.append(entry)

    def quarantine(self, entry: QuarantineEntry) -> int:
        entry_id = self._s.next_quarantine
        self._s.next_quarantine += 1
        self._s.quarantine[entry_id] = replace(entry, id=entry_id)
        return entry_id

    def mark_quarantine(self, entry_id: int, status: QuarantineStatus, at: datetime) -> None:
        entry = self._s.quarantine.get(entry_id)
        if entry is None:
            raise StoreError(f"quarantine entry {entry_id} does not exist")
        if status is QuarantineStatus.RETRIED:
            entry = replace(entry, status=status, retried_at=at, retries=entry.retries + 1)
        else:
            entry = replace(entry, status=status)
        self._s.quarantine[entry_id] = entry

    def open_quarantine(
        self, publisher_id: str, reasons: Iterable[RejectReason]
    ) -> list[QuarantineEntry]:
        wanted = set(reasons)
        return [
            e
            for _, e in sorted(self._s.quarantine.items())
            if e.status is QuarantineStatus.OPEN
            and e.publisher_id == publisher_id
            and e.reason in wanted
        ]

    def quarantine_wire(self, entry_id: int) -> bytes | None:
        entry = self._s.quarantine.get(entry_id)
        return None if entry is None else entry.wire

    def lock_subject(self, event_type: str, subject_id: str) -> None:
        pass  # a transaction holds the whole in-memory store already

    def subject_events(self, event_type: str, subject_id: str) -> list[tuple[str, dict[str, Any]]]:
        field = SUBJECT_FIELDS[event_type]
        found = (self._s.events[i].record for i in self._s.order)
        return [
            (r.publisher_id, dict(r.body))
            for r in found
            if r.event_type == event_type and str(r.body.get(field)) == subject_id
        ]


class InMemoryEventStore:
    """An :class:`EventStore` in process memory, for unit tests; transactions roll back on error."""

    def __init__(self) -> None:
        self._state = _EventState()
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[_InMemoryEventTxn]:
        with self._lock:
            # Work on a copy and swap it in on success: an exception leaves no trace.
            draft = copy.deepcopy(self._state)
            yield _InMemoryEventTxn(draft)
            self._state = draft

    def get(self, event_id: str) -> StoredEvent | None:
        return self._state.events.get(event_id)

    def get_many(self, event_ids: Sequence[str]) -> dict[str, StoredEvent]:
        events = self._state.events
        return {i: events[i] for i in event_ids if i in events}

    def wire_digests(self, event_ids: Sequence[str]) -> dict[str, bytes]:
        events = self._state.events
        return {i: hashlib.sha256(events[i].record.wire).digest() for i in event_ids if i in events}

    def read(
        self, *, after: int = 0, limit: int = 1000, event_types: Sequence[str] | None = None
    ) -> list[StoredEvent]:
        wanted = set(event_types) if event_types is not None else None
        out: list[StoredEvent] = []
        for event_id in self._state.order:
            stored = self._state.events[event_id]
            if stored.position <= after:
                continue
            if wanted is not None and stored.record.event_type not in wanted:
                continue
            out.append(stored)
            if len(out) >= limit:
                break
        return out

    def count(self) -> int:
        return len(self._state.events)

    def quarantined(
        self, *, reason: RejectReason | None = None, status: QuarantineStatus | None = None
    ) -> list[QuarantineEntry]:
        return [
            e
            for _, e in sorted(self._state.quarantine.items())
            if (reason is None or e.reason == reason) and (status is None or e.status is status)
        ]

    def quarantine_entry(self, entry_id: int) -> QuarantineEntry | None:
        return self._state.quarantine.get(entry_id)

    def anomalies(self, publisher_id: str | None = None) -> list[SequenceAnomaly]:
        return [
            a
            for a in self._state.anomalies
            if publisher_id is None or a.publisher_id == publisher_id
        ]

    def disclosure_audits(self, match_id: str | None = None) -> list[DisclosureAudit]:
        return [a for a in self._state.audits if match_id is None or a.match_id == match_id]

    def publishers(self) -> list[PublisherSequence]:
        return [self._state.sequences[p] for p in sorted(self._state.sequences)]
