"""What every stage that consumes a topic shares: the consumed message, its input positions
recorded in the stage's own transaction, batches split around a message the store refuses, and
the stored record of a verified-topic message.

A stage claims each partition of a batch (the last offset it processed there), skips what it
already did, and advances the positions in the same transaction as its output, so a batch is
done exactly once whatever crashes in between.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, runtime_checkable

from hub.envelope import decode_envelope, decode_payload
from hub.errors import EnvelopeError, HubError, StoreUnavailable
from hub.schema_catalog import SchemaCatalog
from hub.store import EventRecord, EventStore, record_of

R = TypeVar("R")


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


@runtime_checkable
class BulkPositions(Protocol):
    """A transaction that claims and advances all of a batch's partitions at once (PostgreSQL:
    a few statements per batch instead of three per partition)."""

    def claim_many(
        self, consumer: str, parts: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], int]: ...

    def advance_many(self, consumer: str, offsets: dict[tuple[str, int], int]) -> None: ...


def claim_partitions(
    txn: PartitionPositions, consumer: str, messages: Iterable[InMessage]
) -> dict[tuple[str, int], int]:
    """Claim each partition of the batch once: the last offset the consumer processed on it
    (-1 if none), by (topic, partition). One at a time in order of first appearance, or all at
    once in (topic, partition) order by a transaction that can."""
    parts = list(dict.fromkeys((msg.topic, msg.partition) for msg in messages))
    if isinstance(txn, BulkPositions):
        return txn.claim_many(consumer, parts)
    return {part: txn.claim(consumer, *part) for part in parts}


def advance_partitions(
    txn: PartitionPositions, consumer: str, messages: Iterable[InMessage]
) -> None:
    """Advance each partition of the batch to its highest offset in the batch."""
    last: dict[tuple[str, int], int] = {}
    for msg in messages:
        part = (msg.topic, msg.partition)
        last[part] = max(last.get(part, msg.offset), msg.offset)
    if isinstance(txn, BulkPositions):
        txn.advance_many(consumer, last)
        return
    for (topic, partition), offset in last.items():
        txn.advance(consumer, topic, partition, offset)


class BatchRefused(Exception):
    """A stage's store refused a batch for a reason other than an outage."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


@contextmanager
def refusals_marked() -> Iterator[None]:
    """Inside: any failure but an outage (StoreUnavailable) becomes BatchRefused."""
    try:
        yield
    except (StoreUnavailable, BatchRefused):
        raise
    except Exception as err:
        raise BatchRefused(err) from err


def split_until_alone(
    messages: list[InMessage],
    attempt: Callable[[list[InMessage]], R],
    alone: Callable[[InMessage, Exception], R],
    merge: Callable[[R, R], R],
) -> R:
    """Run ``attempt`` on the batch; when it raises BatchRefused, on each half, until the
    refused message is alone, which goes to ``alone`` with the cause.

    Halves by position keep each partition's offsets in order: the first half holds the
    earlier offsets of every partition in the batch. An outage is raised as it is, so that
    the whole batch waits: only a service that is down may hold a stage up.
    """
    try:
        return attempt(messages)
    except BatchRefused as refused:
        if len(messages) == 1:
            return alone(messages[0], refused.cause)
        half = len(messages) // 2
        first = split_until_alone(messages[:half], attempt, alone, merge)
        return merge(first, split_until_alone(messages[half:], attempt, alone, merge))


def event_id_of(msg: InMessage) -> str | None:
    """The event id of a verified-topic message: from its header, else from the envelope."""
    raw = msg.headers.get("event-id")
    if raw is not None:
        return raw.decode("ascii", "replace")
    try:
        return str(decode_envelope(msg.value).event_id)
    except EnvelopeError:
        return None


class DecodedRecords:
    """The records this process decoded last, by SHA-256 of their wire bytes.

    A worker verifies an event, then projects and matches the very bytes it receives back from
    the verified topic: each stage takes the record decoded once instead of decoding envelope
    and payload again. Only consulted for bytes whose digest the store holds (see
    :func:`received_records`), so a stale entry can never stand in for the stored event.
    """

    # Sixteen batches of 500, some 30 MB (an alert's record is about 3 KB): under a backlog the
    # stages reading the verified topic ran more than four batches behind the verify stage, and
    # decoding the records again cost the projection stage a third of its time; a record they
    # come to later still is decoded, not lost.
    def __init__(self, size: int = 8192) -> None:
        self.size = size
        self._records: dict[bytes, EventRecord] = {}

    def get(self, digest: bytes) -> EventRecord | None:
        return self._records.get(digest)

    def put(self, digest: bytes, record: EventRecord) -> None:
        self._records[digest] = record
        if len(self._records) > self.size:
            del self._records[next(iter(self._records))]  # the oldest: dicts keep their order


# Shared by the stages of one process (one worker runs the verify, project and match agents).
DECODED = DecodedRecords()


def received_records(
    events: EventStore,
    catalog: SchemaCatalog | None,
    messages: Sequence[InMessage],
    decoded: DecodedRecords = DECODED,
) -> list[EventRecord | None]:
    """The stored record of each verified-topic message, None for a message naming no stored
    event.

    The store stays the source of truth, but a message carrying exactly the stored bytes (same
    SHA-256) is taken from ``decoded`` or decoded from those bytes instead of reading its whole
    row back; any other message (different bytes under a stored id, or no catalog) gets the
    stored row.
    """
    ids = [event_id_of(m) for m in messages]
    named = [i for i in ids if i is not None]
    out: list[EventRecord | None] = [None] * len(messages)
    missing: dict[int, str] = {}
    if catalog is None:
        missing = {n: i for n, i in enumerate(ids) if i is not None}
    else:
        digests = events.wire_digests(named) if named else {}
        for n, (msg, event_id) in enumerate(zip(messages, ids, strict=True)):
            if event_id is None or event_id not in digests:
                continue  # not stored: None
            digest = hashlib.sha256(msg.value).digest()
            if digests[event_id] == digest:
                out[n] = decoded.get(digest) or _decoded(catalog, msg.value, digest, decoded)
                if out[n] is not None:
                    continue
            missing[n] = event_id
    if missing:
        stored = events.get_many(sorted(set(missing.values())))
        for n, event_id in missing.items():
            found = stored.get(event_id)
            out[n] = found.record if found is not None else None
    return out


def _decoded(
    catalog: SchemaCatalog, wire: bytes, digest: bytes, decoded: DecodedRecords
) -> EventRecord | None:
    try:
        env = decode_envelope(wire)
        record = record_of(env, wire, decode_payload(catalog, env))
    except (HubError, ValueError):
        return None  # stored, so it decoded once: the caller reads the stored row instead
    decoded.put(digest, record)
    return record


__all__ = [
    "DECODED",
    "BatchRefused",
    "BulkPositions",
    "DecodedRecords",
    "InMessage",
    "PartitionPositions",
    "advance_partitions",
    "claim_partitions",
    "event_id_of",
    "received_records",
    "refusals_marked",
    "split_until_alone",
]
