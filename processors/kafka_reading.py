"""A Kafka consumer that only reads: no group, no commits (status, health, replay)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kafka import KafkaConsumer
from kafka.errors import KafkaError

from hub.config import Settings
from hub.errors import HubError


@contextmanager
def reading_consumer(settings: Settings) -> Iterator[KafkaConsumer]:
    """A consumer outside any group, closed on exit; an unreachable broker is a HubError."""
    try:
        consumer = KafkaConsumer(
            **settings.kafka_config(), enable_auto_commit=False, group_id=None
        )
    except KafkaError as err:
        raise HubError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {err!r}") from err
    try:
        yield consumer
    finally:
        consumer.close()
