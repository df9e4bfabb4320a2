"""The verify stage without Faust: a batch of ingest messages in, store rows and outputs out.

One batch is one transaction on the event store: the stored events, the quarantine rows, the
publishers' sequence state and the input positions commit together or not at all. Outputs (the
verified and quarantine topic messages) are returned to the caller, who sends them after the
commit; messages at or below the recorded input position are not processed again, but their
verified output is sent again, so a crash between commit and send loses nothing (consumers of
the verified topic absorb the repeat by event id).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from hub.envelope import Envelope, decode_envelope, decode_payload
from hub.errors import EnvelopeError, HubError
from hub.keys import VerifyKey
from hub.registry import REGISTRY_EVENT_TYPES, Registry
from hub.schema_catalog import SchemaCatalog
from hub.store import (
    EventRecord,
    EventStore,
    EventStoreTxn,
    PublisherSequence,
    QuarantineEntry,
    QuarantineStatus,
    SequenceAnomaly,
    record_of,
)
from hub.verify import (
    Rejected,
    SequenceIssue,
    SequenceWarning,
    Verified,
    apply_registry_event,
    verify,
)

log = logging.getLogger(__name__)

RETRY_HEADER = "x-hub-retry-of"

# Registry events that can cure an earlier rejection, and the rejections they can cure: events a
# participant sent before its registration, key or permission reached this worker (registry and
# ingest partitions may be read by different workers) are re-driven without waiting for an
# operator.
CURING_EVENTS = frozenset({"participant-registered", "key-added", "permission-granted"})
CURABLE_REASONS = ("UNKNOWN_PUBLISHER", "UNKNOWN_KEY", "NOT_PERMITTED")


@dataclass(frozen=True)
class InMessage:
    """One consumed Kafka message."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None
    headers: Mapping[str, bytes] = field(default_factory=dict)


class PartitionPositions(Protocol):
    """A transaction that records a consumer's input positions (every stage's store has one)."""

    def claim(self, consumer: str, topic: str, partition: int) -> int: ...

    def advance(self, consumer: str, topic: str, partition: int, offset: int) -> None: ...


def claim_partitions(
    txn: PartitionPositions, consumer: str, messages: Iterable[InMessage]
) -> dict[tuple[str, int], int]:
    """Claim each partition of the batch once, in order of first appearance: the last offset
    the consumer processed on it (-1 if none), by (topic, partition)."""
    done: dict[tuple[str, int], int] = {}
    for msg in messages:
        part = (msg.topic, msg.partition)
        if part not in done:
            done[part] = txn.claim(consumer, msg.topic, msg.partition)
    return done


def advance_partitions(
    txn: PartitionPositions, consumer: str, messages: Iterable[InMessage]
) -> None:
    """Advance each partition of the batch to its highest offset in the batch, in order of first
    appearance."""
    last: dict[tuple[str, int], int] = {}
    for msg in messages:
        part = (msg.topic, msg.partition)
        last[part] = max(last.get(part, msg.offset), msg.offset)
    for (topic, partition), offset in last.items():
        txn.advance(consumer, topic, partition, offset)


@dataclass(frozen=True)
class Outgoing:
    """A message to send after the batch commits: to the verified or the quarantine topic."""

    stream: str  # "verified", "quarantine", or "ingest"/"registry" for a re-drive
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


@dataclass
class BatchResult:
    """What one batch did."""

    outgoing: list[Outgoing] = field(default_factory=list)
    stored: int = 0
    quarantined: int = 0
    duplicates: int = 0
    resent: int = 0
    redriven: int = 0
    records: list[EventRecord] = field(default_factory=list)
    cured: set[str] = field(default_factory=set)


class BatchSeen:
    """The verifier's SeenEvents over the store, as of this transaction, plus this batch."""

    def __init__(self, known: Mapping[str, bytes]) -> None:
        self.wire: dict[str, bytes] = dict(known)

    def contains(self, event_id: uuid.UUID) -> bool:
        return str(event_id) in self.wire

    def add(self, event_id: uuid.UUID) -> None:
        # The wire bytes are filled in by the stage right after verification succeeds.
        self.wire.setdefault(str(event_id), b"")

    def discard(self, event_id: uuid.UUID) -> None:
        self.wire.pop(str(event_id), None)


class BatchSequences:
    """The verifier's SequenceTracker over ``publisher_sequences``, written back at commit."""

    def __init__(
        self,
        load: Callable[[Iterable[str]], Mapping[str, PublisherSequence]],
        now: datetime,
    ) -> None:
        self.load = load
        self.state: dict[str, PublisherSequence] = {}
        self.now = now
        self.changed: set[str] = set()
        self.anomalies: list[SequenceAnomaly] = []

    def _get(self, publisher_id: str) -> PublisherSequence:
        # Keyed on the envelope's publisher, read on first use: the Kafka key is the client's to
        # set, and a keyless or mis-keyed message must not start its publisher again from zero.
        if publisher_id not in self.state:
            loaded = self.load([publisher_id]).get(publisher_id)
            self.state[publisher_id] = loaded or PublisherSequence(publisher_id, 0, self.now)
        return self.state[publisher_id]

    def observe(self, publisher_id: str, sequence: int) -> SequenceWarning | None:
        st = self._get(publisher_id)
        expected = st.last_sequence + 1
        warning: SequenceWarning | None = None
        if sequence <= st.last_sequence:
            warning = SequenceWarning(SequenceIssue.REPLAY, publisher_id, expected, sequence)
            st = replace(st, replays=st.replays + 1)
        else:
            if sequence != expected:
                warning = SequenceWarning(SequenceIssue.GAP, publisher_id, expected, sequence)
                st = replace(st, gaps=st.gaps + 1)
            st = replace(st, last_sequence=sequence)
        self.state[publisher_id] = replace(st, events=st.events + 1, last_seen_at=self.now)
        self.changed.add(publisher_id)
        return warning

    def duplicate(self, publisher_id: str) -> None:
        st = self._get(publisher_id)
        self.state[publisher_id] = replace(st, duplicates=st.duplicates + 1, last_seen_at=self.now)
        self.changed.add(publisher_id)

    def note(self, warning: SequenceWarning, event_id: str) -> None:
        kind = "gap" if warning.kind is SequenceIssue.GAP else "replay"
        self.anomalies.append(
            SequenceAnomaly(
                warning.publisher_id, kind, warning.expected, warning.got, event_id, self.now
            )
        )

    def flush(self, txn: EventStoreTxn) -> None:
        for publisher_id in sorted(self.changed):
            txn.save_sequence(self.state[publisher_id])
        for anomaly in self.anomalies:
            txn.record_anomaly(anomaly)


class RegistryView:
    """The registry as persisted in the event store, refreshed as new registry events land."""

    def __init__(self, store: EventStore, catalog: SchemaCatalog, anchor: VerifyKey) -> None:
        self._store = store
        self._catalog = catalog
        self._anchor = anchor
        self.registry = Registry.bootstrap(anchor)
        self._position = 0

    def reset(self) -> None:
        """Forget in-memory changes (after a failed batch) and reload from the store."""
        self.registry = Registry.bootstrap(self._anchor)
        self._position = 0

    def refresh(self) -> bool:
        """Apply registry events stored since the last refresh; True if any were new."""
        changed = False
        while True:
            batch = self._store.read(
                after=self._position, limit=500, event_types=REGISTRY_EVENT_TYPES
            )
            if not batch:
                return changed
            for stored in batch:
                env = decode_envelope(stored.record.wire)
                payload = decode_payload(self._catalog, env)
                outcome = apply_registry_event(self.registry, Verified(env, payload))
                if outcome is not None:
                    # Stored events were applicable when stored; a failure here is a bug to see.
                    log.error(
                        "stored registry event %s does not apply: %s", env.event_id, outcome.detail
                    )
                changed = True
                self._position = stored.position


def _ids(messages: Iterable[InMessage]) -> dict[int, uuid.UUID]:
    out: dict[int, uuid.UUID] = {}
    for i, msg in enumerate(messages):
        try:
            out[i] = decode_envelope(msg.value).event_id
        except EnvelopeError:
            continue  # the verifier rejects it as MALFORMED with the exact reason
    return out


class VerifyStage:
    """Verify, store and route a batch of ingest messages (see the module docstring)."""

    def __init__(
        self,
        store: EventStore,
        catalog: SchemaCatalog,
        anchor: VerifyKey,
        *,
        consumer: str = "verify",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        first_topics: Iterable[str] = (),
    ) -> None:
        self.first_topics = frozenset(first_topics)
        self.store = store
        self.catalog = catalog
        self.consumer = consumer
        self.clock = clock
        self.registry = RegistryView(store, catalog, anchor)

    def process(self, messages: Sequence[InMessage]) -> BatchResult:
        """Run one batch in one transaction; raises StoreUnavailable to be retried as a whole."""
        if self.first_topics:
            # Registry changes in a batch take effect before the batch's other events (a
            # stable sort keeps each partition's order), so a participant registered just
            # before its first events is not quarantined for a race between two topics.
            messages = sorted(messages, key=lambda m: m.topic not in self.first_topics)
        try:
            self.registry.refresh()
            with self.store.transaction() as txn:
                return self._process(txn, messages)
        except BaseException:
            # The registry may hold changes of the rolled-back batch.
            self.registry.reset()
            raise

    def _process(self, txn: EventStoreTxn, messages: Sequence[InMessage]) -> BatchResult:
        result = BatchResult()
        now = self.clock()
        done = claim_partitions(txn, self.consumer, messages)
        ids = _ids(messages)
        seen = BatchSeen(txn.known(str(i) for i in ids.values()))
        sequences = BatchSequences(txn.sequences, now)
        for index, msg in enumerate(messages):
            if msg.offset <= done[(msg.topic, msg.partition)]:
                event_id = ids.get(index)
                if event_id is not None and seen.wire.get(str(event_id)) == msg.value:
                    env = decode_envelope(msg.value)
                    result.outgoing.append(_verified_out(msg.value, env))
                    result.resent += 1
                continue
            self._one(txn, msg, ids.get(index), seen, sequences, now, result)
        txn.append_many(result.records)
        sequences.flush(txn)
        self._redrive(txn, result, now)
        advance_partitions(txn, self.consumer, messages)
        return result

    def _one(
        self,
        txn: EventStoreTxn,
        msg: InMessage,
        event_id: uuid.UUID | None,
        seen: BatchSeen,
        sequences: BatchSequences,
        now: datetime,
        result: BatchResult,
    ) -> None:
        if event_id is not None and seen.wire.get(str(event_id)) == msg.value:
            # The very same bytes again (a connector resending after a crash): absorbed.
            env = decode_envelope(msg.value)
            sequences.duplicate(env.publisher_id)
            result.duplicates += 1
            retry_of = _retry_of(msg)
            if retry_of is not None:
                # Re-driven after it got stored some other way (e.g. retried twice): done.
                _mark(txn, retry_of, QuarantineStatus.RESOLVED, now)
            return
        outcome = verify(
            msg.value,
            catalog=self.catalog,
            registry=self.registry.registry,
            seen=seen,
            sequences=sequences,
            now=now,
        )
        if isinstance(outcome, Verified):
            problem = apply_registry_event(self.registry.registry, outcome)
            if problem is None:
                self._store(txn, msg, outcome, seen, sequences, result)
                return
            seen.discard(outcome.envelope.event_id)
            outcome = problem
        self._quarantine(txn, msg, outcome, now, result)

    def _store(
        self,
        txn: EventStoreTxn,
        msg: InMessage,
        outcome: Verified,
        seen: BatchSeen,
        sequences: BatchSequences,
        result: BatchResult,
    ) -> None:
        env = outcome.envelope
        record = record_of(env, msg.value, outcome.payload)
        result.records.append(record)  # written in one go at the end of the batch
        seen.wire[record.event_id] = msg.value
        for warning in outcome.warnings:
            sequences.note(warning, record.event_id)
        retry_of = _retry_of(msg)
        if retry_of is not None:
            _mark(txn, retry_of, QuarantineStatus.RESOLVED, sequences.now)
        if env.event_type in CURING_EVENTS:
            result.cured.add(str(outcome.payload["participant_id"]))
        result.stored += 1
        result.outgoing.append(_verified_out(msg.value, env))

    def _redrive(self, txn: EventStoreTxn, result: BatchResult, now: datetime) -> None:
        """Send back for verification what this batch's registry events may now accept."""
        for participant in sorted(result.cured):
            for entry in txn.open_quarantine(participant, CURABLE_REASONS):
                txn.mark_quarantine(entry.id, QuarantineStatus.RETRIED, now)
                stream = "registry" if entry.event_type in REGISTRY_EVENT_TYPES else "ingest"
                headers = ((RETRY_HEADER, str(entry.id).encode()),)
                result.outgoing.append(
                    Outgoing(stream, participant.encode("utf-8"), entry.wire, headers)
                )
                result.redriven += 1

    def _quarantine(
        self,
        txn: EventStoreTxn,
        msg: InMessage,
        outcome: Rejected,
        now: datetime,
        result: BatchResult,
    ) -> None:
        env = outcome.envelope
        detail = outcome.detail
        retry_of = _retry_of(msg)
        if retry_of is not None:
            detail = f"retry of quarantine #{retry_of}: {detail}"
        entry = QuarantineEntry(
            reason=str(outcome.reason),
            detail=detail,
            wire=msg.value,
            received_at=now,
            source_topic=msg.topic,
            source_partition=msg.partition,
            source_offset=msg.offset,
            event_id=str(env.event_id) if env else None,
            publisher_id=env.publisher_id if env else None,
            event_type=env.event_type if env else None,
        )
        entry_id = txn.quarantine(entry)
        result.quarantined += 1
        headers = (
            ("reason", entry.reason.encode()),
            ("detail", detail.encode("utf-8")),
            ("received-at", now.isoformat().encode()),
            ("quarantine-id", str(entry_id).encode()),
        )
        key = (env.publisher_id if env else "unknown").encode("utf-8")
        result.outgoing.append(Outgoing("quarantine", key, msg.value, headers))


def _verified_out(wire: bytes, env: Envelope) -> Outgoing:
    headers = (("event-id", str(env.event_id).encode()), ("event-type", env.event_type.encode()))
    return Outgoing("verified", env.publisher_id.encode("utf-8"), wire, headers)


def event_id_of(msg: InMessage) -> str | None:
    """The event id of a verified-topic message: from its header, else from the envelope."""
    raw = msg.headers.get("event-id")
    if raw is not None:
        return raw.decode("ascii", "replace")
    try:
        return str(decode_envelope(msg.value).event_id)
    except EnvelopeError:
        return None


def _retry_of(msg: InMessage) -> int | None:
    raw = msg.headers.get(RETRY_HEADER)
    if raw is None:
        return None
    try:
        return int(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None


def _mark(txn: EventStoreTxn, entry_id: int, status: QuarantineStatus, at: datetime) -> None:
    try:
        txn.mark_quarantine(entry_id, status, at)
    except HubError as err:
        # A retry header naming no entry must not cost the event: it is stored all the same.
        log.warning("retry header names quarantine #%s: %s", entry_id, err)


__all__ = [
    "RETRY_HEADER",
    "BatchResult",
    "InMessage",
    "Outgoing",
    "RegistryView",
    "VerifyStage",
    "advance_partitions",
    "claim_partitions",
    "event_id_of",
]
