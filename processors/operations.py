"""Operator actions on the pipeline: replay, quarantine re-drive, rebuild, status snapshot.

These run in the operator's process (``hubctl``), next to running workers: replay and retry
put messages back on the ingest/registry topics, where the workers verify them again and the
store absorbs what it already holds; rebuild replays the event store into the projections.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from psycopg import sql

from hub.config import Settings
from hub.envelope import decode_envelope
from hub.errors import EnvelopeError, HubError, StoreError
from hub.health import StuckStage
from hub.matching.kinship import TableSet
from hub.projection_store import checksum_rows
from hub.projections import CATALOG
from hub.projections.apply import rebuild
from hub.reasons import RejectReason
from hub.registry import REGISTRY_EVENT_TYPES, operator_key_paths
from hub.schema_catalog import SchemaCatalog
from hub.store import QuarantineEntry, QuarantineStatus
from hub.topics import TOPICS, topic_name
from processors.batch_consumer import STAGE_TOPICS, stage_group
from processors.health import STUCK_AFTER, stuck_now
from processors.kafka_reading import reading_consumer
from processors.match_stage import create_match_stage
from processors.pg_match_seal import MatchSealer
from processors.pg_matching import dna_coverage
from processors.pg_projections import PgProjectionStore
from processors.pg_store import PgConnection, PgEventStore
from processors.supervisor import supervisor_pid, workers
from processors.tracking import InMessage
from processors.verify_stage import RETRY_HEADER

__all__ = [
    "REPLAY_HEADER",
    "StatusSnapshot",
    "TopicFigures",
    "rebuild_projections",
    "replay",
    "retry_quarantined",
    "snapshot",
]

REPLAY_HEADER = "x-hub-replay-of"


@contextmanager
def _producer(settings: Settings) -> Iterator[KafkaProducer]:
    try:
        producer = KafkaProducer(**settings.kafka_config(), acks="all")
    except KafkaError as err:
        raise HubError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {err!r}") from err
    try:
        yield producer
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)


def replay(
    settings: Settings,
    *,
    from_offset: int | None = None,
    from_time: datetime | None = None,
    topic: str = "ingest",
    partitions: Sequence[int] | None = None,
) -> dict[int, int]:
    """Re-publish a topic's messages from an offset or a time up to its current end.

    Each copy keeps its key and carries a header naming the original position; the workers
    verify it again, the store absorbs events it already holds, and events quarantined before
    are judged again against today's registry. Returns messages re-published per partition.
    """
    if (from_offset is None) == (from_time is None):
        raise HubError("give exactly one of --from-offset and --from-time")
    name = topic_name(settings, topic)
    counts: dict[int, int] = {}
    with reading_consumer(settings) as consumer, _producer(settings) as producer:
        known = consumer.partitions_for_topic(name) or set()
        chosen = sorted(known if partitions is None else set(partitions) & known)
        tps = [TopicPartition(name, p) for p in chosen]
        if not tps:
            raise HubError(f"topic {name} has none of the partitions asked for")
        consumer.assign(tps)
        ends = consumer.end_offsets(tps)
        starts = _starts(consumer, tps, from_offset, from_time)
        for tp in tps:
            counts[tp.partition] = 0
            if starts[tp] >= ends[tp]:
                continue
            consumer.seek(tp, starts[tp])
        pending = {tp for tp in tps if starts[tp] < ends[tp]}
        while pending:
            batch = consumer.poll(timeout_ms=1000, max_records=1000)
            for tp, records in batch.items():
                for rec in records:
                    if tp not in pending or rec.offset >= ends[tp]:
                        continue
                    headers = [(REPLAY_HEADER, f"{name}/{tp.partition}/{rec.offset}".encode())]
                    producer.send(name, key=rec.key, value=rec.value, headers=headers)
                    counts[tp.partition] += 1
                    if rec.offset + 1 >= ends[tp]:
                        pending.discard(tp)
                        consumer.pause(tp)
    return counts


def _starts(
    consumer: KafkaConsumer,
    tps: Sequence[TopicPartition],
    from_offset: int | None,
    from_time: datetime | None,
) -> dict[TopicPartition, int]:
    begins = consumer.beginning_offsets(list(tps))
    if from_offset is not None:
        if from_offset < 0:
            raise HubError("--from-offset must not be negative")
        return {tp: max(from_offset, begins[tp]) for tp in tps}
    assert from_time is not None
    if from_time.tzinfo is None:
        raise HubError("--from-time needs a time zone, e.g. 2026-03-01T08:00:00+08:00")
    millis = int(from_time.timestamp() * 1000)
    found = consumer.offsets_for_times({tp: millis for tp in tps})
    ends = consumer.end_offsets(list(tps))
    return {tp: (found[tp].offset if found.get(tp) else ends[tp]) for tp in tps}


def retry_quarantined(
    settings: Settings,
    *,
    entry_id: int | None = None,
    reason: RejectReason | None = None,
    store: PgEventStore | None = None,
) -> list[QuarantineEntry]:
    """Put quarantined messages back on their topic to be verified again; the entries re-driven.

    One entry by id (whatever its status), or every open entry with a reason. The entry is
    marked retried first; the worker marks it resolved when the event is then stored, or files
    a new entry naming this one when it is rejected again.
    """
    if (entry_id is None) == (reason is None):
        raise HubError("give a quarantine id or --reason")
    own = store is None
    events = store or PgEventStore(settings.pg_dsn)
    try:
        if entry_id is not None:
            entry = events.quarantine_entry(entry_id)
            if entry is None:
                raise StoreError(f"no quarantine entry {entry_id}")
            entries = [entry]
        else:
            entries = events.quarantined(reason=reason, status=QuarantineStatus.OPEN)
        now = datetime.now(UTC)
        with _producer(settings) as producer:
            for entry in entries:
                with events.transaction() as txn:
                    txn.mark_quarantine(entry.id, QuarantineStatus.RETRIED, now)
                topic = "registry" if entry.event_type in REGISTRY_EVENT_TYPES else "ingest"
                key = (entry.publisher_id or _publisher(entry.wire)).encode("utf-8")
                producer.send(
                    topic_name(settings, topic),
                    key=key,
                    value=entry.wire,
                    headers=[(RETRY_HEADER, str(entry.id).encode())],
                )
        return entries
    finally:
        if own:
            events.close()


def _publisher(wire: bytes) -> str:
    try:
        return decode_envelope(wire).publisher_id
    except EnvelopeError:
        return "unknown"


def rebuild_projections(
    settings: Settings, names: Sequence[str] | None = None
) -> tuple[int, dict[str, str]]:
    """Rebuild projections from the event store; (events applied, checksum per table)."""
    chosen = list(names) if names else list(CATALOG.names)
    for name in chosen:
        CATALOG.projection(name)  # unknown names fail before anything is emptied
    events, projections = PgEventStore(settings.pg_dsn), PgProjectionStore(settings.pg_dsn)
    try:
        applied = rebuild(events, projections, chosen)
        tables = [t.name for n in chosen for t in CATALOG.projection(n).tables]
        return applied, {t: checksum_rows(projections.rows(t)) for t in tables}
    finally:
        events.close()
        projections.close()


# What the matcher derives from events; match_pairs (decisions, evidence already notified),
# the outbox and recorded failures are kept, so a rebuild notifies no hit a second time.
MATCH_INDEX_TABLES = ("match_keys", "match_persons", "match_alerts", "match_name_counts")
MATCH_REBUILD_CONSUMER = "match-rebuild"


def rebuild_match_index(
    settings: Settings, *, page: int = 1000, progress: Callable[[int], None] | None = None
) -> int:
    """Empty the match index and feed every stored event through the match stage again, in
    store order; how many events were fed. Hits the index had missed (events that never
    reached it) are found and go to the outbox, which the workers send once started again.

    The workers must be stopped: a live match stage writing the same index would interleave.
    """
    running = [w.number for w in workers(settings) if w.running]
    if running:
        raise HubError(
            f"workers {', '.join(map(str, running))} are running; stop them first "
            "(`hubctl processors stop`), then rebuild the match index"
        )
    matching = create_match_stage(settings, SchemaCatalog.load())
    if matching is None:
        raise HubError("matching is off without the hub operator's key (`hubctl registry init`)")
    stage, sender = matching
    sender.close()  # the workers send what this puts in the outbox
    stage.consumer = MATCH_REBUILD_CONSUMER
    with PgConnection(settings.pg_dsn).transaction() as cur:
        for table in MATCH_INDEX_TABLES:
            cur.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
        cur.execute("DELETE FROM processed WHERE consumer = %s", (MATCH_REBUILD_CONSUMER,))
    events = PgEventStore(settings.pg_dsn)
    fed, after = 0, 0
    try:
        while batch := events.read(after=after, limit=page):
            stage.process([
                InMessage("event_store", 0, s.position, s.record.wire, None,
                          {"event-id": s.record.event_id.encode()})
                for s in batch
                if not s.record.shredded  # crypto-shredded: nothing left to match
            ])
            after = batch[-1].position
            fed += len(batch)
            if progress is not None:
                progress(fed)
    finally:
        events.close()
    return fed


@dataclass
class TopicFigures:
    """One topic's size and how far the pipeline's consumer group is behind."""

    name: str
    end_offset: int
    lag: int | None  # None when the pipeline does not consume this topic
    rate: float | None = None  # messages per second since the previous snapshot


@dataclass
class StatusSnapshot:
    """Everything `hubctl status` shows, taken at one moment."""

    taken: float
    topics: list[TopicFigures] = field(default_factory=list)
    publishers: list[Any] = field(default_factory=list)
    quarantine: dict[tuple[str, str], int] = field(default_factory=dict)
    projections: dict[str, int] = field(default_factory=dict)
    stored_events: int = 0
    projection_failures: int = 0
    workers: list[str] = field(default_factory=list)
    stuck: list[StuckStage] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Allele table -> (indexed DNA profiles, profiles it does not cover well).
    dna_coverage: dict[str, tuple[int, int]] = field(default_factory=dict)


def snapshot(
    settings: Settings,
    previous: StatusSnapshot | None = None,
    *,
    stuck_after: timedelta | None = STUCK_AFTER,
) -> StatusSnapshot:
    """Take the figures; a service that cannot be reached is reported, not raised.

    Stuck stages are looked for unless `stuck_after` is None (a snapshot taken only as the
    base of rates)."""
    snap = StatusSnapshot(time.monotonic())
    found = workers(settings)
    if found:
        supervisor = supervisor_pid(settings)
        running = "not running" if supervisor is None else f"running (pid {supervisor})"
        snap.workers.append(f"worker supervisor: {running}")
    for info in found:
        state = f"running (pid {info.pid})" if info.running else "not running"
        snap.workers.append(f"worker {info.number}: {state}")
    try:
        snap.topics = _topic_figures(settings)
    except (KafkaError, HubError) as err:
        snap.problems.append(f"kafka: {err}")
    try:
        snap.stuck = [] if stuck_after is None else stuck_now(settings, stuck_after)
    except (KafkaError, HubError) as err:
        snap.problems.append(f"stuck stages not checked: {err}")
    if previous is not None:
        before = {t.name: t.end_offset for t in previous.topics}
        elapsed = max(snap.taken - previous.taken, 1e-6)
        for t in snap.topics:
            if t.name in before:
                t.rate = (t.end_offset - before[t.name]) / elapsed
    events, projections = PgEventStore(settings.pg_dsn), PgProjectionStore(settings.pg_dsn)
    try:
        snap.stored_events = events.count()
        snap.publishers = events.publishers()
        with events.db.cursor() as cur:
            cur.execute("SELECT reason, status, count(*) FROM quarantine GROUP BY 1, 2")
            snap.quarantine = {(r[0], r[1]): int(r[2]) for r in cur.fetchall()}
        snap.projections = {t.name: projections.count(t.name) for t in CATALOG.tables()}
        snap.projection_failures = len(projections.failures())
        with events.db.cursor() as cur:
            snap.dna_coverage = dna_coverage(
                cur, TableSet.load(settings.allele_tables, settings.dna_theta),
                MatchSealer(events.keyring()),
            )
    except HubError as err:
        snap.problems.append(f"postgres: {err}")
    finally:
        events.close()
        projections.close()
    return snap


def _topic_figures(settings: Settings) -> list[TopicFigures]:
    from kafka import KafkaAdminClient

    # A topic read by several stages (verified: project and match) lags as its slowest stage.
    # The matching stages run only where the operator's signing key is (match_stage.py).
    matching = operator_key_paths(settings.data_dir)[0].exists()
    readers: dict[str, list[str]] = {}
    for stage, suffixes in STAGE_TOPICS.items():
        if stage.startswith("match") and not matching:
            continue
        for suffix in suffixes:
            group = stage_group(settings, stage)
            readers.setdefault(topic_name(settings, suffix), []).append(group)
    with reading_consumer(settings) as consumer:
        tps: list[TopicPartition] = []
        for spec in TOPICS:
            name = spec.name(settings)
            for p in sorted(consumer.partitions_for_topic(name) or ()):
                tps.append(TopicPartition(name, p))
        ends = consumer.end_offsets(tps) if tps else {}
    groups = sorted({g for names in readers.values() for g in names})
    admin = KafkaAdminClient(**settings.kafka_config())
    try:
        committed = admin.list_group_offsets({g: None for g in groups})
    finally:
        admin.close()
    out: dict[str, TopicFigures] = {}
    for tp in tps:
        fig = out.setdefault(tp.topic, TopicFigures(tp.topic, 0, None))
        fig.end_offset += ends[tp]
    for name, fig in out.items():
        lags = []
        for group in readers.get(name, ()):
            lag = 0
            for tp in (tp for tp in tps if tp.topic == name):
                meta = committed.get(group, {}).get(tp)
                done = meta.offset if meta is not None and meta.offset >= 0 else 0
                lag += max(ends[tp] - done, 0)
            lags.append(lag)
        fig.lag = max(lags) if lags else None
    return list(out.values())
