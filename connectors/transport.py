"""Sending outbox events to the hub's ingest topic with kafka-python.

The producer is idempotent with acks from all in-sync replicas, so retries inside one session do
not duplicate; across sessions the outbox re-sends the same bytes with the same event ids and the
hub absorbs the duplicate. An event is marked sent only from a broker acknowledgement.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.partitioner.default import murmur2

from connectors.outbox import Outbox, PendingEvent
from hub.config import KafkaAccess
from hub.errors import ConnectorError


class HubUnreachableError(ConnectorError):
    """The hub's broker did not answer within the connect timeout."""


@dataclass
class _Acks:
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: list[tuple[int, int, int]] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)


class KafkaSender:
    """Sends envelopes keyed by publisher id, collecting acknowledgements for the outbox."""

    def __init__(
        self, access: KafkaAccess, topic: str, publisher_id: str, *,
        connect_timeout_s: float = 5.0, delivery_timeout_s: float = 120.0,
    ) -> None:
        self.topic = topic
        self.key = publisher_id.encode("utf-8")
        self._acks = _Acks()
        self.total_acked = 0
        self.blocked: str | None = None
        self._keyed_partition: int | None = None
        request_timeout_ms = min(30000, int(delivery_timeout_s * 1000) // 2)
        try:
            self._producer = KafkaProducer(
                **access.kafka_python(),
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                batch_size=256 * 1024,
                request_timeout_ms=request_timeout_ms,
                delivery_timeout_ms=int(delivery_timeout_s * 1000),
                bootstrap_timeout_ms=int(connect_timeout_s * 1000),
                # Only metadata waits block send(); a missing topic must not hang a publish.
                max_block_ms=int(max(connect_timeout_s * 3, 10.0) * 1000),
                reconnect_backoff_max_ms=2000,
            )
        except (KafkaError, OSError) as err:
            raise HubUnreachableError(
                f"the hub at {access.bootstrap} is not reachable ({type(err).__name__}); "
                "events stay in the outbox and are sent later"
            ) from err

    def send(self, events: Iterable[PendingEvent]) -> int:
        """Queue events for sending (asynchronous); returns how many were queued.

        If the broker stops accepting (no metadata for the topic in time), the sender gives up
        for this run: `blocked` says why, and the rest stays pending in the outbox.
        """
        count = 0
        for event in events:
            if self.blocked is not None:
                break
            try:
                future = self._producer.send(self.topic, key=self.key, value=event.envelope,
                                             partition=self._partition())
            except KafkaError as err:
                self.blocked = (
                    f"the hub does not accept events on {self.topic} now "
                    f"({type(err).__name__}: {err})"
                )
                break
            future.add_callback(self._on_ack, event.sequence)
            future.add_errback(self._on_error, event.sequence)
            count += 1
        return count

    def _partition(self) -> int:
        """The partition the default partitioner gives our key (all of a publisher's events
        go to one partition, in order), worked out once: the producer hashes the key in
        Python for every event otherwise."""
        if self._keyed_partition is None:
            partitions = sorted(self._producer.partitions_for(self.topic) or ())
            if not partitions:
                raise KafkaError(f"no partitions known for {self.topic}")
            self._keyed_partition = partitions[(murmur2(self.key) & 0x7FFFFFFF)
                                               % len(partitions)]
        return self._keyed_partition

    def _on_ack(self, sequence: int, metadata: object) -> None:
        partition = int(getattr(metadata, "partition", -1))
        offset = int(getattr(metadata, "offset", -1))
        with self._acks.lock:
            self._acks.done.append((sequence, partition, offset))

    def _on_error(self, sequence: int, err: BaseException) -> None:
        with self._acks.lock:
            self._acks.failed.append((sequence, f"{type(err).__name__}: {err}"))

    def collect(self, outbox: Outbox) -> tuple[int, list[tuple[int, str]]]:
        """Mark acknowledged events sent; returns (newly acknowledged, failures so far)."""
        with self._acks.lock:
            done, self._acks.done = self._acks.done, []
            failed = list(self._acks.failed)
        outbox.mark_sent(done)
        self.total_acked += len(done)
        return len(done), failed

    def flush(self, timeout_s: float) -> None:
        """Wait until queued events are acknowledged or failed, at most `timeout_s`."""
        # What did not arrive stays pending in the outbox; the caller reports it.
        with contextlib.suppress(KafkaError):
            self._producer.flush(timeout=timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        self._producer.close(timeout=timeout_s)

