"""Benchmark: record-to-notification latency through the whole hub, beside bare Kafka.

N alerts are opened first. Then migrant records are published at a fixed rate, a share of them
carrying a child who matches one of the open alerts. Each matching record travels ingest ->
verify (signature, registry, store) -> verified -> match stage (PostgreSQL index, scoring,
outbox) -> the issuing unit's notification topic; the latency of a hit is from the record's
publication to the notification's arrival at a consumer of that topic. The limit is bare
kafka-python in the same run: the same number of messages of the same size, produced at the
same rate with the same producer settings and consumed from a topic of its own.

    .venv/bin/python bench/bench_match_latency.py [--alerts 300] [--rate 20] [--records 300]

Needs the services (`hubctl services up`); uses its own topic prefix and database, and removes
both at the end.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from hub import topics
from hub.config import Settings, load_settings
from hub.identity import check_character
from hub.notice import open_notice
from hub.registry import operator_key_paths
from hub.schema_catalog import SchemaCatalog
from ops import db
from processors import topic_admin
from processors.app import ANCHOR_ENV
from processors.supervisor import start_workers, stop_workers
from processors.testing import SignedWorld, payload_for

POLICE = "510000-police"
LOCAL_POLICE = "320000-police"
REGISTRY = "320000-migrant-registry"
SURNAMES = "李王张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "红梅丽娟英华慧巧美娜静淑惠珠翠雅芝玉萍"


def child(n: int) -> dict[str, Any]:
    """A distinct girl per n: name, birth date and a valid identity number."""
    born = date(2012, 1, 1) + timedelta(days=(n * 37) % 2500)
    first17 = f"510104{born:%Y%m%d}{(n % 499) * 2:03d}"
    return {
        "name": SURNAMES[n % 20] + GIVEN[(n // 20) % len(GIVEN)] + GIVEN[(n // 400) % len(GIVEN)],
        "sex": "FEMALE",
        "birth": {"precision": "DAY", "date": born},
        "id_number": first17 + check_character(first17),
        "marks": [],
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def paced(count: int, rate: float, send: Callable[[int], None]) -> None:
    """Call send(i) for i in range(count) at a fixed rate (no bursts to catch up)."""
    start = time.monotonic()
    for i in range(count):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        send(i)


def bare_kafka(settings: Settings, count: int, rate: float, size: int) -> list[float]:
    """Produce -> consume latencies (seconds) of bare kafka-python at the same rate."""
    topic = settings.topic_prefix + "bench.roundtrip"
    topic_admin.apply(settings, [topics.TopicSpec("bench.roundtrip", 1)])
    consumer = KafkaConsumer(**settings.kafka_config(), fetch_max_wait_ms=100)
    part = TopicPartition(topic, 0)
    consumer.assign([part])
    consumer.seek_to_end(part)
    consumer.position(part)
    producer = KafkaProducer(**settings.kafka_config(), acks="all", linger_ms=2)
    sent: dict[bytes, float] = {}
    filler = secrets.token_bytes(size)

    def send(i: int) -> None:
        key = str(i).encode()
        sent[key] = time.time()
        producer.send(topic, key=key, value=filler)
        producer.flush()

    latencies: list[float] = []
    thread = threading.Thread(target=paced, args=(count, rate, send))
    thread.start()
    deadline = time.monotonic() + count / rate + 60
    while len(latencies) < count and time.monotonic() < deadline:
        for records in consumer.poll(timeout_ms=200).values():
            now = time.time()
            latencies.extend(now - sent[r.key] for r in records if r.key in sent)
    thread.join()
    producer.close()
    consumer.close()
    return latencies


class Lane:
    """An isolated prefix and database with pipeline workers."""

    def __init__(self, base: Settings, data_dir: Path, workers: int) -> None:
        rid = secrets.token_hex(3)
        self.db_name = f"{base.pg_database}_bench_{rid}"
        self.settings = db.create_database(base, self.db_name, exist_ok=False).with_overrides(
            topic_prefix=f"bench{rid}.", data_dir=data_dir
        )
        db.migrate(self.settings.pg_owner_dsn)
        topic_admin.apply(self.settings)
        self.world = SignedWorld(SchemaCatalog.load())
        self.world.operator.save(operator_key_paths(data_dir)[0])
        self.producer = KafkaProducer(
            **self.settings.kafka_config(), acks="all", linger_ms=2
        )
        self.workers = workers

    def publish(self, wire: bytes, suffix: str = "ingest", flush: bool = True) -> None:
        self.producer.send(topics.topic_name(self.settings, suffix), key=b"bench", value=wire)
        if flush:
            self.producer.flush()

    def scalar(self, query: str) -> Any:
        with psycopg.connect(self.settings.pg_dsn) as conn:
            row = conn.execute(query).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        stop_workers(self.settings, timeout=20)
        self.producer.close(timeout=5)
        db.drop_database(self.settings, self.db_name)
        topic_admin.delete_prefixed(self.settings)


def run_pipeline(
    lane: Lane, alerts: int, records: int, rate: float, hit_share: float
) -> tuple[list[float], int, int]:
    """(hit latencies in seconds, hits expected, notifications received)."""
    w = lane.world
    for pid in (POLICE, LOCAL_POLICE, REGISTRY):
        for wire in w.register(pid):
            lane.publish(wire, "registry")
    for n in range(alerts):
        payload = payload_for("missing-person-alert", n, w.epoch, POLICE, person=child(n))
        lane.publish(w.event(POLICE, "missing-person-alert", payload=payload), flush=False)
    lane.producer.flush()
    start_workers(lane.settings, lane.workers, env={ANCHOR_ENV: w.operator.verify_key.base64})
    deadline = time.monotonic() + 300
    while lane.scalar("SELECT count(*) FROM match_alerts") < alerts:
        if time.monotonic() > deadline:
            raise SystemExit("alerts were not indexed within 300 s; see the worker logs")
        time.sleep(0.5)
    topic = topic_admin.ensure_notification_topic(lane.settings, POLICE)
    consumer = KafkaConsumer(**lane.settings.kafka_config(), fetch_max_wait_ms=100)
    parts = [TopicPartition(topic, p) for p in range(3)]
    consumer.assign(parts)
    consumer.seek_to_end(*parts)
    for part in parts:
        consumer.position(part)
    hit_every = max(1, round(1 / hit_share)) if hit_share > 0 else 0
    wires: list[bytes] = []
    hits: set[str] = set()
    for i in range(records):
        payload = payload_for("migrant-record", 100000 + i, w.epoch, REGISTRY)
        # The registrant and a son born long before any alerted girl never match.
        payload["children"] = [
            {
                "child": dict(
                    child(i), sex="MALE", birth={"precision": "DAY", "date": date(1999, 1, 1)}
                ),
                "guardian_relation": "FATHER",
            }
        ]
        if hit_every and i % hit_every == 0:
            payload["children"].append({"child": child(i % alerts), "guardian_relation": "FATHER"})
            hits.add(payload["record_id"])
        wires.append(w.event(REGISTRY, "migrant-record", payload=payload))
    sent: dict[str, float] = {}

    def send(i: int) -> None:
        sent[f"M-320000-{100000 + i}"] = time.time()
        lane.publish(wires[i])

    thread = threading.Thread(target=paced, args=(records, rate, send))
    thread.start()
    latencies: list[float] = []
    received = 0
    deadline = time.monotonic() + records / rate + 120
    while len(latencies) < len(hits) and time.monotonic() < deadline:
        for batch in consumer.poll(timeout_ms=200).values():
            now = time.time()
            for message in batch:
                received += 1
                # Opened as the police unit's inbox does: checked against the operator's key.
                notice = open_notice(message.value, w.operator.verify_key, POLICE)
                record_id = (notice.body.get("counterpart") or {}).get("id")
                if record_id in hits and record_id in sent:
                    latencies.append(now - sent[record_id])
    thread.join()
    consumer.close()
    return latencies, len(hits), received


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench_match_latency.py",
        description="Record-to-notification latency through Kafka, the pipeline and the "
        "matcher at a steady rate, beside bare Kafka produce->consume latency in the same run.",
    )
    parser.add_argument("--alerts", type=int, default=300, help="open alerts (default 300)")
    parser.add_argument("--records", type=int, default=300, help="records to publish (300)")
    parser.add_argument("--rate", type=float, default=20.0, help="records per second (20)")
    parser.add_argument(
        "--hit-share",
        type=float,
        default=0.5,
        help="share of records that match an alert (default 0.5)",
    )
    parser.add_argument("--workers", type=int, default=1, help="pipeline workers (default 1)")
    args = parser.parse_args(argv)
    figures = measure(args.alerts, args.records, args.rate, args.hit_share, args.workers)
    return 0 if figures and figures["timed"] == figures["expected"] else (2 if figures else 1)


def measure(
    alerts: int, records: int, rate: float, hit_share: float = 0.5, workers: int = 1
) -> dict[str, float] | None:
    """Run the benchmark, print it, and return its latencies in seconds (None: none measured)."""
    base = load_settings()
    with tempfile.TemporaryDirectory(prefix="bench-match-") as tmp:
        lane = Lane(base, Path(tmp), workers)
        try:
            latencies, expected, received = run_pipeline(lane, alerts, records, rate, hit_share)
            size = len(lane.world.event(REGISTRY, "migrant-record", 1))
            bare = bare_kafka(lane.settings, records, rate, size)
        finally:
            lane.close()
    if not latencies or not bare:
        print(f"no latencies measured (hits {len(latencies)}/{expected}, bare {len(bare)})")
        return None
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    b50, b99 = percentile(bare, 0.5), percentile(bare, 0.99)
    print(
        f"open alerts {alerts}, records {records} at {rate:g}/s, "
        f"hits expected {expected}, hit notifications timed {len(latencies)}, "
        f"notifications received {received}, workers {workers}"
    )
    print(
        f"record -> notification  p50 {p50 * 1000:8.1f} ms  p99 {p99 * 1000:8.1f} ms  "
        f"mean {statistics.fmean(latencies) * 1000:8.1f} ms"
    )
    print(
        f"bare Kafka round trip   p50 {b50 * 1000:8.1f} ms  p99 {b99 * 1000:8.1f} ms  "
        f"({len(bare)} messages of {size} bytes at the same rate)"
    )
    print(f"ratio hub/bare          p50 {p50 / b50:8.1f} x     p99 {p99 / b99:8.1f} x")
    return {
        "p50": p50,
        "p99": p99,
        "bare_p50": b50,
        "bare_p99": b99,
        "expected": float(expected),
        "timed": float(len(latencies)),
    }


if __name__ == "__main__":
    raise SystemExit(main())
