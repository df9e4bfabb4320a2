"""Stuck stages of a running pipeline: positions from PostgreSQL (`processed`), end offsets and
arrival times from Kafka, judged by :mod:`hub.health`. Shown by `hubctl status` and
`hubctl processors status`."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import psycopg
from kafka import KafkaConsumer, TopicPartition

from hub.config import Settings
from hub.errors import StoreUnavailable
from hub.health import Place, Position, StuckStage, arrivals_needed, stuck_stages
from hub.registry import operator_key_paths
from hub.topics import topic_name
from processors.kafka_reading import reading_consumer

__all__ = ["STAGE_INPUTS", "STUCK_AFTER", "stage_positions", "stuck_now"]

# Each stage's consumer name in `processed` and the topics it reads (processors/app.py).
STAGE_INPUTS = {"verify": ("ingest", "registry"), "project": ("verified",), "match": ("verified",)}
# Well above a batch's time and the 10 s longest pause between retries of a failing batch.
STUCK_AFTER = timedelta(seconds=60)


def stuck_now(settings: Settings, threshold: timedelta = STUCK_AFTER) -> list[StuckStage]:
    """The stages stuck at this moment; HubError when Kafka or PostgreSQL cannot be asked."""
    recorded = _recorded(settings)
    stages = [s for s in STAGE_INPUTS if s != "match" or _matching_on(settings, recorded)]
    with reading_consumer(settings) as consumer:
        tps = [
            TopicPartition(name, p)
            for name in {topic_name(settings, t) for s in stages for t in STAGE_INPUTS[s]}
            for p in sorted(consumer.partitions_for_topic(name) or ())
        ]
        ends = {(tp.topic, tp.partition): n for tp, n in consumer.end_offsets(tps).items()}
        starts = consumer.beginning_offsets(tps)
        positions = []
        for stage in stages:
            names = {topic_name(settings, t) for t in STAGE_INPUTS[stage]}
            for tp in (tp for tp in tps if tp.topic in names):
                # A partition the stage never recorded counts from the log's first offset, and
                # so does one whose next messages the log no longer holds.
                offset, at = recorded.get((stage, tp.topic, tp.partition), (-1, None))
                offset = max(offset, starts[tp] - 1)
                positions.append(Position(stage, tp.topic, tp.partition, offset, at))
        now = datetime.now(UTC)
        needed = arrivals_needed(positions, ends, now, threshold)
        arrivals = _arrival_times(consumer, needed) if needed else {}
    return stuck_stages(positions, ends, arrivals, now, threshold)


def _matching_on(settings: Settings, recorded: Iterable[tuple[str, str, int]]) -> bool:
    # The match stage runs only where the operator's signing key is (match_stage.py); without
    # it, its empty positions would look like a stage stuck from the start.
    private, _ = operator_key_paths(settings.data_dir)
    return private.exists() or any(stage == "match" for stage, _, _ in recorded)


def stage_positions(settings: Settings) -> dict[tuple[str, str, int], tuple[int, datetime]]:
    """(stage, topic, partition) -> (last offset done, when), as the stages recorded them."""
    return _recorded(settings)


def _recorded(settings: Settings) -> dict[tuple[str, str, int], tuple[int, datetime]]:
    try:
        with psycopg.connect(settings.pg_dsn, connect_timeout=5) as conn:
            rows = conn.execute(
                'SELECT consumer, topic, partition, "offset", updated_at FROM processed'
            ).fetchall()
    except psycopg.OperationalError as err:
        raise StoreUnavailable(f"cannot read stage positions: {err}") from err
    return {(r[0], r[1], int(r[2])): (int(r[3]), r[4]) for r in rows}


def _arrival_times(
    consumer: KafkaConsumer, places: set[Place], timeout: float = 5.0
) -> dict[Place, datetime]:
    """The Kafka timestamp of the message at each place (or the first one after it, when the
    log no longer holds that offset)."""
    wanted = {TopicPartition(topic, p): offset for topic, p, offset in places}
    consumer.assign(list(wanted))
    for tp, offset in wanted.items():
        consumer.seek(tp, offset)
    found: dict[Place, datetime] = {}
    deadline = time.monotonic() + timeout
    while len(found) < len(wanted) and time.monotonic() < deadline:
        for tp, records in consumer.poll(timeout_ms=500, max_records=len(wanted)).items():
            place = (tp.topic, tp.partition, wanted[tp])
            if records and place not in found:
                found[place] = datetime.fromtimestamp(records[0].timestamp / 1000, UTC)
                consumer.pause(tp)
    return found
