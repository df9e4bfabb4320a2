"""The verify stage without Faust: a batch of ingest messages in, store rows and outputs out.

One batch is one transaction on the event store: the stored events, the quarantine rows, the
publishers' sequence state and the input positions commit together or not at all. Outputs (the
verified and quarantine topic messages) are returned to the caller, who sends them after the
commit; messages at or below the recorded input position are not processed again, but their
verified output is sent again, so a crash between commit and send loses nothing (consumers of
the verified topic absorb the repeat by event id).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hub.atrest import quarantine_case
from hub.authority import named_subject, refusal, subject_of
from hub.envelope import Envelope, decode_envelope, decode_payload
from hub.errors import EnvelopeError, HubError
from hub.keys import SigningKey, VerifyKey
from hub.limits import MAX_WIRE_BYTES, storable_text
from hub.notice import refusal_body, seal_notice
from hub.reasons import AuditOutcome, RejectReason
from hub.registry import REGISTRY_EVENT_TYPES
from hub.schema_catalog import SchemaCatalog
from hub.store import (
    CaseReadAudit,
    DisclosureAudit,
    EventRecord,
    EventStore,
    EventStoreTxn,
    QuarantineEntry,
    QuarantineStatus,
    record_of,
)
from hub.verify import Rejected, Verified, apply_registry_event, verify
from processors.tracking import (
    DECODED,
    DecodedRecords,
    InMessage,
    advance_partitions,
    claim_partitions,
    refusals_marked,
    split_until_alone,
)
from processors.verify_state import BatchSeen, BatchSequences, BatchSubjects, RegistryView

log = logging.getLogger(__name__)

RETRY_HEADER = "x-hub-retry-of"
_DETAIL_TEXT = 4000  # characters of a rejection's detail kept in the store
_HEADER_TEXT = 1000  # and on the quarantine topic

# Registry events that can cure an earlier rejection, and the rejections they can cure: events a
# participant sent before its registration, key or permission reached this worker (registry and
# ingest partitions may be read by different workers) are re-driven without waiting for an
# operator.
CURING_EVENTS = frozenset({"participant-registered", "key-added", "permission-granted"})
CURABLE_REASONS = (
    RejectReason.UNKNOWN_PUBLISHER, RejectReason.UNKNOWN_KEY, RejectReason.NOT_PERMITTED
)
# Requests for personal data: every one whose signature holds is audited, refused ones here.
AUDITED_REQUESTS = frozenset({"details-request", "case-request"})
# Refusals of events whose signature held: the publisher is told (hub.notice.refusal_body).
TOLD_REASONS = frozenset({
    RejectReason.KEY_NOT_YET_VALID,
    RejectReason.KEY_REVOKED,
    RejectReason.NOT_PERMITTED,
    RejectReason.NOT_ENTITLED,
    RejectReason.UNKNOWN_SUBJECT,
})


@dataclass(frozen=True)
class Outgoing:
    """A message to send after the batch commits: to the verified or the quarantine topic."""

    # "verified", "quarantine", "ingest"/"registry" for a re-drive, or "notice" for a signed
    # notice to the participant named by the key
    stream: str
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

    def merged(self, later: BatchResult) -> BatchResult:
        """This result followed by a later one (the halves of a split batch)."""
        return BatchResult(
            self.outgoing + later.outgoing,
            self.stored + later.stored,
            self.quarantined + later.quarantined,
            self.duplicates + later.duplicates,
            self.resent + later.resent,
            self.redriven + later.redriven,
            self.records + later.records,
            self.cured | later.cured,
        )

def _envelopes(messages: Iterable[InMessage]) -> dict[int, Envelope]:
    """The envelope of each message that decodes as one, by index: decoded once per batch."""
    out: dict[int, Envelope] = {}
    for i, msg in enumerate(messages):
        try:
            out[i] = decode_envelope(msg.value)
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
        notice_key: SigningKey | None = None,
        decoded: DecodedRecords = DECODED,
    ) -> None:
        # What this stage stores is left here for the stages that receive it back.
        self.decoded = decoded
        self.first_topics = frozenset(first_topics)
        # The hub operator's key signs what publishers are told of refusals; without it (no
        # operator key on this worker) refusals are only kept in quarantine.
        self.notice_key = notice_key
        self.store = store
        self.catalog = catalog
        self.consumer = consumer
        self.clock = clock
        self.registry = RegistryView(store, catalog, anchor)

    def process(self, messages: Sequence[InMessage]) -> BatchResult:
        """Run one batch in one transaction; raises StoreUnavailable to be retried as a whole.

        A batch the store refuses for any other reason is split in halves until the message it
        refuses is alone; that message is quarantined as UNSTORABLE and the others are stored,
        so one message never holds up the next ones.
        """
        if self.first_topics:
            # Registry changes in a batch take effect before the batch's other events (a
            # stable sort keeps each partition's order), so a participant registered just
            # before its first events is not quarantined for a race between two topics.
            messages = sorted(messages, key=lambda m: m.topic not in self.first_topics)
        return split_until_alone(
            list(messages), self._attempt, self._unstorable, BatchResult.merged
        )

    def _attempt(self, messages: Sequence[InMessage]) -> BatchResult:
        # Outside the refusal marking: a registry that cannot be read is no message's fault.
        self.registry.refresh()
        try:
            with refusals_marked(), self.store.transaction() as txn:
                return self._process(txn, messages)
        except BaseException:
            self.registry.reset()  # it may hold changes of the rolled-back batch
            raise

    def _unstorable(self, msg: InMessage, cause: Exception) -> BatchResult:
        """Quarantine one message the store refused, with what the store said."""
        log.error(
            "the store refuses %s[%d]@%d; it is quarantined as UNSTORABLE: %s",
            msg.topic, msg.partition, msg.offset, cause,
        )
        result = BatchResult()
        with self.store.transaction() as txn:
            done = claim_partitions(txn, self.consumer, [msg])
            if msg.offset > done[(msg.topic, msg.partition)]:
                try:
                    env: Envelope | None = decode_envelope(msg.value)
                except EnvelopeError:
                    env = None
                detail = f"the event store refused this message: {cause}"
                rejected = Rejected(RejectReason.UNSTORABLE, detail, env)
                self._quarantine(txn, msg, rejected, self.clock(), result, retry_of=None)
            advance_partitions(txn, self.consumer, [msg])
        return result

    def _process(self, txn: EventStoreTxn, messages: Sequence[InMessage]) -> BatchResult:
        result = BatchResult()
        now = self.clock()
        done = claim_partitions(txn, self.consumer, messages)
        envelopes = _envelopes(messages)
        seen = BatchSeen(txn.known(str(e.event_id) for e in envelopes.values()))
        sequences = BatchSequences(txn.sequences, now)
        sequences.preload(e.publisher_id for e in envelopes.values())
        subjects = BatchSubjects(txn)
        for index, msg in enumerate(messages):
            env = envelopes.get(index)
            if msg.offset <= done[(msg.topic, msg.partition)]:
                if env is not None and seen.wire.get(str(env.event_id)) == msg.value:
                    result.outgoing.append(_verified_out(msg.value, env))
                    result.resent += 1
                continue
            self._one(txn, msg, env, seen, sequences, subjects, now, result)
        txn.append_many(result.records)
        sequences.flush(txn)
        self._redrive(txn, result, subjects, now)
        advance_partitions(txn, self.consumer, messages)
        return result

    def _one(
        self,
        txn: EventStoreTxn,
        msg: InMessage,
        env: Envelope | None,
        seen: BatchSeen,
        sequences: BatchSequences,
        subjects: BatchSubjects,
        now: datetime,
        result: BatchResult,
    ) -> None:
        retry_of = _genuine_retry(txn, msg)
        if env is not None and seen.wire.get(str(env.event_id)) == msg.value:
            # The very same bytes again (a connector resending after a crash): absorbed.
            sequences.duplicate(env.publisher_id)
            result.duplicates += 1
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
            envelope=env,
        )
        if isinstance(outcome, Verified):
            problem = apply_registry_event(self.registry.registry, outcome) or refusal(
                outcome.envelope, outcome.payload, subjects
            )
            if problem is None:
                self._store(txn, outcome, msg.value, seen, sequences, subjects, result, retry_of)
                return
            seen.discard(outcome.envelope.event_id)
            outcome = problem
        self._quarantine(txn, msg, outcome, now, result, retry_of)

    def _store(
        self,
        txn: EventStoreTxn,
        outcome: Verified,
        wire: bytes,
        seen: BatchSeen,
        sequences: BatchSequences,
        subjects: BatchSubjects,
        result: BatchResult,
        retry_of: int | None,
    ) -> None:
        env = outcome.envelope
        record = record_of(env, wire, outcome.payload)
        result.records.append(record)  # written in one go at the end of the batch
        self.decoded.put(hashlib.sha256(wire).digest(), record)
        seen.wire[record.event_id] = wire
        for warning in outcome.warnings:
            sequences.note(warning, record.event_id)
        if retry_of is not None:
            _mark(txn, retry_of, QuarantineStatus.RESOLVED, sequences.now)
        if env.event_type in CURING_EVENTS:
            result.cured.add(str(outcome.payload["participant_id"]))
        subject = subject_of(env.event_type, record.body)
        if subject is not None:
            subjects.add(subject, record)
        result.stored += 1
        result.outgoing.append(_verified_out(wire, env))

    def _redrive(
        self, txn: EventStoreTxn, result: BatchResult, subjects: BatchSubjects, now: datetime
    ) -> None:
        """Send back for verification what this batch's registry events, alerts and matches
        may now accept."""
        for participant in sorted(result.cured):
            for entry in txn.open_quarantine(participant, CURABLE_REASONS):
                self._send_back(txn, entry, result, now)
        for publisher, arrived in sorted(subjects.waiting().items()):
            for entry in txn.open_quarantine(publisher, [RejectReason.UNKNOWN_SUBJECT]):
                if self._named_subject(entry.wire) in arrived:
                    self._send_back(txn, entry, result, now)

    def _send_back(
        self, txn: EventStoreTxn, entry: QuarantineEntry, result: BatchResult, now: datetime
    ) -> None:
        assert entry.id is not None and entry.publisher_id is not None  # read from the store
        txn.mark_quarantine(entry.id, QuarantineStatus.RETRIED, now)
        stream = "registry" if entry.event_type in REGISTRY_EVENT_TYPES else "ingest"
        headers = ((RETRY_HEADER, str(entry.id).encode()),)
        key = entry.publisher_id.encode("utf-8")
        result.outgoing.append(Outgoing(stream, key, entry.wire, headers))
        result.redriven += 1

    def _named_subject(self, wire: bytes) -> str | None:
        """The alert or match a quarantined change names (it was verified once, so it decodes)."""
        env = decode_envelope(wire)
        return named_subject(env.event_type, decode_payload(self.catalog, env))

    def _audit_refused(self, txn: EventStoreTxn, env: Envelope, detail: str, now: datetime
                       ) -> None:
        """A refused request for details or a case file is audited like a granted one (who,
        why, when)."""
        try:
            payload: Mapping[str, Any] = decode_payload(self.catalog, env)
        except HubError:  # a payload that does not decode still leaves a row naming the sender
            payload = {}
        if env.event_type == "case-request":
            txn.audit_case_read(CaseReadAudit(
                case_id=storable_text(str(payload.get("case_id") or "")),
                requester=env.publisher_id,
                request_event_id=str(env.event_id),
                reason=storable_text(str(payload.get("reason") or ""), _DETAIL_TEXT),
                step="verify",
                outcome=AuditOutcome.REFUSED,
                detail=storable_text(detail, _DETAIL_TEXT),
                at=now,
            ))
            return
        txn.audit_disclosure(DisclosureAudit(
            match_id=storable_text(str(payload.get("match_id") or "")),
            requester=env.publisher_id,
            request_event_id=str(env.event_id),
            reason=storable_text(str(payload.get("reason") or ""), _DETAIL_TEXT),
            outcome=AuditOutcome.REFUSED,
            detail=storable_text(detail, _DETAIL_TEXT),
            at=now,
        ))

    def _quarantine(
        self,
        txn: EventStoreTxn,
        msg: InMessage,
        outcome: Rejected,
        now: datetime,
        result: BatchResult,
        retry_of: int | None,
    ) -> None:
        env = outcome.envelope
        detail = storable_text(outcome.detail, _DETAIL_TEXT)
        if retry_of is not None:
            detail = f"retry of quarantine #{retry_of}: {detail}"
        entry = QuarantineEntry(
            reason=outcome.reason,
            detail=detail,
            wire=msg.value,
            received_at=now,
            source_topic=msg.topic,
            source_partition=msg.partition,
            source_offset=msg.offset,
            event_id=str(env.event_id) if env else None,
            publisher_id=env.publisher_id if env else None,
            event_type=env.event_type if env else None,
            case_id=quarantine_case(self.catalog, env),  # personal data sealed at rest
        )
        entry_id = txn.quarantine(entry)
        result.quarantined += 1
        if env is not None and env.event_type in AUDITED_REQUESTS \
                and outcome.reason in TOLD_REASONS:
            # Authentic requests only (the signature held): a forgery cannot put words in a
            # unit's mouth in the audit; it is kept in quarantine like any other.
            self._audit_refused(txn, env, f"{entry.reason}: {detail}", now)
        headers = (
            ("reason", entry.reason.encode()),
            ("detail", detail[:_HEADER_TEXT].encode("utf-8")),
            ("received-at", now.isoformat().encode()),
            ("quarantine-id", str(entry_id).encode()),
            ("original-size", str(len(msg.value)).encode()),
        )
        key = (env.publisher_id if env else "unknown").encode("utf-8")
        if env is not None and outcome.reason in TOLD_REASONS and self.notice_key is not None:
            body = refusal_body(env.publisher_id, str(env.event_id), env.event_type,
                                entry.reason, detail, entry_id)
            notice = seal_notice(self.notice_key, body, issued_at=now)
            result.outgoing.append(Outgoing("notice", key, notice, ()))
        # The whole message is in the store; the topic copy is cut to a size every transport
        # takes, or copying an oversized message would fail for ever.
        copy = msg.value[:MAX_WIRE_BYTES]
        result.outgoing.append(Outgoing("quarantine", key, copy, headers))


def _verified_out(wire: bytes, env: Envelope) -> Outgoing:
    headers = (("event-id", str(env.event_id).encode()), ("event-type", env.event_type.encode()))
    return Outgoing("verified", env.publisher_id.encode("utf-8"), wire, headers)

def _genuine_retry(txn: EventStoreTxn, msg: InMessage) -> int | None:
    """The quarantine entry this message retries, if it carries exactly that entry's bytes.

    The header is the client's to set: trusted alone, anyone could close any entry by sending
    some stored event with it. Only the entry's own bytes coming back may settle it.
    """
    raw = msg.headers.get(RETRY_HEADER)
    if raw is None or not raw.isdigit() or len(raw) > 18:
        return None
    entry_id = int(raw)
    return entry_id if txn.quarantine_wire(entry_id) == msg.value else None


def _mark(txn: EventStoreTxn, entry_id: int, status: QuarantineStatus, at: datetime) -> None:
    try:
        txn.mark_quarantine(entry_id, status, at)
    except HubError as err:
        # A retry header naming no entry must not cost the event: it is stored all the same.
        log.warning("retry header names quarantine #%s: %s", entry_id, err)


__all__ = [
    "RETRY_HEADER",
    "BatchResult",
    "Outgoing",
    "VerifyStage",
]
