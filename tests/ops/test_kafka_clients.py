"""Both Kafka clients the project uses talk to the project's broker, in both directions."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaConsumer, KafkaProducer

from hub.config import Settings

pytestmark = pytest.mark.services

# Chinese text and raw bytes: the payloads the hub carries are Avro bytes with UTF-8 inside.
PAYLOADS = [f"走失儿童 {i} ".encode() + bytes([0, 255, i]) for i in range(20)]


async def _aio_produce(bootstrap: dict[str, Any], topic: str, payloads: list[bytes]) -> None:
    producer = AIOKafkaProducer(**bootstrap, acks="all")
    await producer.start()
    try:
        for i, value in enumerate(payloads):
            await producer.send_and_wait(topic, value, key=f"k{i % 3}".encode())
    finally:
        await producer.stop()


async def _aio_consume(bootstrap: dict[str, Any], topic: str, expected: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        **bootstrap,
        group_id=f"aio-{secrets.token_hex(4)}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    got: list[bytes] = []
    try:
        async with asyncio.timeout(30):
            while len(got) < expected:
                batch = await consumer.getmany(timeout_ms=1000)
                for records in batch.values():
                    got.extend(r.value for r in records if r.value is not None)
        await consumer.commit()
    finally:
        await consumer.stop()
    return got


def test_kafka_python_to_aiokafka(
    hub_settings: Settings,
    topic_factory: Callable[..., str],
    kafka_producer_factory: Callable[..., KafkaProducer],
) -> None:
    """Messages produced with kafka-python are consumed intact by aiokafka (Faust's client)."""
    topic = topic_factory(partitions=3)
    producer = kafka_producer_factory()
    for i, value in enumerate(PAYLOADS):
        producer.send(topic, value=value, key=f"k{i % 3}".encode())
    producer.flush(timeout=30)
    got = asyncio.run(_aio_consume(hub_settings.kafka.aiokafka(), topic, len(PAYLOADS)))
    assert sorted(got) == sorted(PAYLOADS)


def test_aiokafka_to_kafka_python(
    hub_settings: Settings,
    topic_factory: Callable[..., str],
    kafka_consumer_factory: Callable[..., KafkaConsumer],
) -> None:
    """Messages produced with aiokafka are consumed intact by kafka-python, keys kept."""
    topic = topic_factory(partitions=3)
    asyncio.run(_aio_produce(hub_settings.kafka.aiokafka(), topic, PAYLOADS))
    consumer = kafka_consumer_factory(topic)
    got = []
    for record in consumer:
        got.append((record.key, record.value))
        if len(got) == len(PAYLOADS):
            break
    assert sorted(v for _, v in got) == sorted(PAYLOADS)
    assert {k for k, _ in got} == {b"k0", b"k1", b"k2"}


def test_same_key_lands_on_one_partition_for_both_clients(
    hub_settings: Settings,
    topic_factory: Callable[..., str],
    kafka_producer_factory: Callable[..., KafkaProducer],
    kafka_consumer_factory: Callable[..., KafkaConsumer],
) -> None:
    """Both producers partition a key the same way, so per-key order holds across clients."""
    topic = topic_factory(partitions=6)
    producer = kafka_producer_factory()
    producer.send(topic, value=b"from kafka-python", key=b"320000-police")
    producer.flush(timeout=30)
    asyncio.run(_aio_produce_keyed(hub_settings.kafka.aiokafka(), topic, b"320000-police"))
    consumer = kafka_consumer_factory(topic)
    partitions = []
    for record in consumer:
        partitions.append(record.partition)
        if len(partitions) == 2:
            break
    assert len(partitions) == 2
    assert partitions[0] == partitions[1]


async def _aio_produce_keyed(bootstrap: dict[str, Any], topic: str, key: bytes) -> None:
    producer = AIOKafkaProducer(**bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"from aiokafka, keyed", key=key)
    finally:
        await producer.stop()
