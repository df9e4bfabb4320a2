"""Each pipeline stage reads its input through a Kafka consumer of its own, a batch per fetch.

Faust's per-message stream (an event object, a callback and several tasks per message, then an
ack each) cost about half a worker's CPU per event; here a stage takes whole batches from
aiokafka's `getmany` and turns them straight into :class:`InMessage`. Every stage has its own
consumer group, so the project and match stages each read the verified topic in full, and a
backlog of probes on the keyed topic never holds back a new alert on the ingest topic.
The verify stage reads the registry topic to its end (as it was at the assignment) before the
ingest topic, so a participant registered just before its first events is known to it.

Offsets are committed only after the batch is stored and its outputs acknowledged. A worker
killed before that reads the batch again after its restart, and the stage absorbs the repeat:
its input positions, recorded in PostgreSQL in the batch's own transaction, say what was done.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from hub.config import SASL_MECHANISM, Settings
from hub.topics import topic_name
from processors.tracking import InMessage

log = logging.getLogger(__name__)

__all__ = ["STAGE_TOPICS", "StageConsumer", "stage_group", "stage_member"]

# The topics each stage reads (by suffix, see hub.topics).
STAGE_TOPICS: dict[str, tuple[str, ...]] = {
    "verify": ("ingest", "registry"),
    "project": ("verified",),
    "match": ("verified",),
    "match-keys": ("match-keys",),
}
# Read up to their end before the stage's other topics, whenever partitions are assigned: a
# worker starting on a backlog would otherwise verify events of participants whose registration
# is still unread, quarantine them all and send each back once the registry arrives.
FIRST_TOPICS: dict[str, tuple[str, ...]] = {"verify": ("registry",)}
# How long the other topics wait for the first ones at most: the registry's partition may
# belong to another worker that is itself starting or dead (the quarantine then cures the race).
FIRST_WAIT_S = 30.0


def stage_group(settings: Settings, stage: str) -> str:
    """The consumer group of one stage: one per stage and topic prefix."""
    return f"{settings.topic_prefix}pipeline-{stage}"


def stage_member(settings: Settings, stage: str, slot: int) -> str:
    """The static member id of one worker slot in a stage's group: the same after a restart,
    so a restarted worker takes its predecessor's partitions at once instead of waiting for
    the dead member's session to time out."""
    return f"{stage_group(settings, stage)}-worker-{slot}"


def _inmessage(record: Any) -> InMessage:
    """An aiokafka ConsumerRecord as the stages take it (raw bytes, headers by name)."""
    headers = {name: bytes(value or b"") for name, value in record.headers}
    return InMessage(record.topic, record.partition, record.offset, bytes(record.value or b""),
                     record.key, headers)


class StageConsumer:
    """One stage's consumer: TLS and SCRAM as every client, no automatic commits."""

    def __init__(
        self, settings: Settings, stage: str, *, batch: int, wait_s: float,
        slot: int | None = None,
    ) -> None:
        self.stage = stage
        self.batch = batch
        self.wait_ms = int(wait_s * 1000)
        access = settings.kafka
        self.topics = [topic_name(settings, suffix) for suffix in STAGE_TOPICS[stage]]
        self.first = frozenset(topic_name(settings, s) for s in FIRST_TOPICS.get(stage, ()))
        # The first topics' end offsets at the last assignment, while the others are paused.
        self._until: dict[TopicPartition, int] = {}
        self._held_since = 0.0
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            security_protocol="SASL_SSL",
            sasl_mechanism=SASL_MECHANISM,
            sasl_plain_username=access.username,
            sasl_plain_password=access.password,
            ssl_context=access.ssl_context(),
            client_id=stage_group(settings, stage),
            group_id=stage_group(settings, stage),
            group_instance_id=None if slot is None else stage_member(settings, stage, slot),
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=batch,
            # As Faust had them: a member that dies uncleanly is replaced after a minute at
            # most; a batch held up by a PostgreSQL outage never costs the worker its place.
            session_timeout_ms=60_000,
            heartbeat_interval_ms=3_000,
            rebalance_timeout_ms=60_000,
            max_poll_interval_ms=1_000_000,
            # A topic the first assignment saw without partitions is picked up within seconds.
            metadata_max_age_ms=10_000,
        )
        self.consumer.subscribe(self.topics, listener=_FirstTopicsFirst(self))

    async def start(self) -> None:
        await self.consumer.start()

    async def hold_back(self, assigned: set[TopicPartition]) -> None:
        """Pause the other topics' partitions until the first topics are read to their end."""
        if not self.first or not assigned:
            return
        partitions = [
            TopicPartition(topic, number)
            for topic in sorted(self.first)
            for number in sorted(self.consumer.partitions_for_topic(topic) or ())
        ]
        others = [tp for tp in assigned if tp.topic not in self.first]
        if not partitions or not others:
            return
        ends = await self.consumer.end_offsets(partitions)
        self._until = {tp: end for tp, end in ends.items() if end > 0}
        if self._until:
            self.consumer.pause(*others)
            self._held_since = time.monotonic()

    async def _release_when_read(self) -> None:
        """Resume the paused partitions once every first-topic partition is read to the end
        it had at the assignment: by this consumer (its position, the batch before being
        handled by now) or by the worker that owns it (its committed offset)."""
        owned = self.consumer.assignment()
        for tp, end in list(self._until.items()):
            if tp in owned:
                done = await self.consumer.position(tp)
            else:
                done = await self.consumer.committed(tp)
            if done is not None and done >= end:
                del self._until[tp]
        waited = time.monotonic() - self._held_since
        if self._until and waited < FIRST_WAIT_S:
            return
        if self._until:
            log.warning("%s: %s not read to their end after %.0fs; going on without them",
                        self.stage, ", ".join(f"{tp.topic}[{tp.partition}]" for tp in
                                              self._until), waited)
            self._until = {}
        self.consumer.resume(*self.consumer.paused())

    async def stop(self) -> None:
        await self.consumer.stop()

    async def batches(self) -> AsyncIterator[list[InMessage]]:
        """Non-empty batches of at most `batch` messages, each partition in order. A partial
        batch is handed over after `wait_s` at most: that bounds latency at low load."""
        while True:
            fetched = await self.consumer.getmany(
                timeout_ms=self.wait_ms, max_records=self.batch
            )
            messages = [_inmessage(r) for records in fetched.values() for r in records]
            if messages:
                yield messages
            if self.consumer.paused():
                await self._release_when_read()

    async def commit(self, messages: Sequence[InMessage]) -> None:
        """Commit past these messages, which are stored. A partition that moved to another
        worker meanwhile is left to its new owner, which reads the batch again and skips it."""
        last: dict[TopicPartition, int] = {}
        for msg in messages:
            tp = TopicPartition(msg.topic, msg.partition)
            last[tp] = max(last.get(tp, msg.offset), msg.offset)
        owned = self.consumer.assignment()
        offsets = {tp: offset + 1 for tp, offset in last.items() if tp in owned}
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as err:
            log.warning("%s: offsets not committed (read again after the rebalance): %s",
                        self.stage, err)


class _FirstTopicsFirst(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, reader: StageConsumer) -> None:
        self.reader = reader

    async def on_partitions_revoked(self, revoked: Any) -> None:
        return None

    async def on_partitions_assigned(self, assigned: Any) -> None:
        await self.reader.hold_back(set(assigned))
