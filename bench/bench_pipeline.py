"""The hub pipeline end to end on this machine, beside bare Ed25519 verification, in one run.

1. Throughput: N signed events are published to the ingest topic as fast as kafka-python can;
   the figure is events per second from the first send to the commit of the last store row
   (``event_store.stored_at``), through real pipeline worker processes. Beside it: bare
   ``cryptography`` Ed25519 verifications per second of the same signed bytes, measured in this
   run; the ratio says what share of the bare verification rate the whole pipeline keeps.
   And the workers' CPU seconds per event until every event is stored and projected, beside
   the CPU of one bare verification: a figure that holds whatever share of the cores the
   workers get on a shared machine.
2. Latency: events sent at a steady moderate rate; for each, the time from its send to its
   projection commit (``proj_applied.applied_at``); p50 and p99.

Needs `hubctl services up`. Uses its own topic prefix and database, removed afterwards.

    .venv/bin/python -m bench.bench_pipeline [--events 20000] [--workers 1] [--rate 200]
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaProducer

from hub import topics
from hub.config import Settings, load_settings
from hub.envelope import decode_envelope, signed_region
from hub.identity import HUB_OPERATOR_ID
from hub.keys import SIGNATURE_SIZE
from hub.schema_catalog import SchemaCatalog
from ops import db
from processors import supervisor, topic_admin
from processors.app import ANCHOR_ENV
from processors.supervisor import start_workers, stop_workers
from processors.testing import SignedWorld

PUBLISHERS = [
    f"{code}-police" for code in ("320000", "340000", "410000", "510000", "520000", "530000")
]


@contextmanager
def lane(workers: int, world: SignedWorld) -> Iterator[Settings]:
    """Own prefix, database and topics; workers started; everything removed afterwards."""
    rid = secrets.token_hex(3)
    base = load_settings()
    name = f"bench_{rid}"
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        settings = db.create_database(base, name, exist_ok=False).with_overrides(
            topic_prefix=f"bench{rid}.", data_dir=Path(tmp)
        )
        try:
            db.migrate(settings.pg_owner_dsn)
            topic_admin.apply(settings)
            start_workers(settings, workers, env={ANCHOR_ENV: world.operator.verify_key.base64})
            yield settings
        finally:
            stop_workers(settings, timeout=20)
            db.drop_database(settings, name)
            topic_admin.delete_prefixed(settings)


def _count(settings: Settings, query: str) -> Any:
    with psycopg.connect(settings.pg_dsn) as conn:
        row = conn.execute(query).fetchone()
    return row[0] if row else None


def _wait(settings: Settings, query: str, target: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _count(settings, query) < target:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{query} did not reach {target} within {timeout:.0f}s")
        time.sleep(0.2)


def _verifications(wires: list[bytes], world: SignedWorld) -> list[tuple[Any, bytes, bytes]]:
    keys = {pid: key.verify_key for pid, key in world.keys.items()}
    items = []
    for wire in wires:
        env = decode_envelope(wire)
        items.append((keys[env.publisher_id], wire[-SIGNATURE_SIZE:], signed_region(wire)))
    return items


def bare_verify_rate(wires: list[bytes], world: SignedWorld) -> float:
    """Ed25519 verifications per second with `cryptography` alone, best of three rounds."""
    items = _verifications(wires, world)
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for key, signature, message in items:
            key.verify(signature, message)
        best = max(best, len(items) / (time.perf_counter() - start))
    return best


def bare_verify_cpu(wires: list[bytes], world: SignedWorld) -> float:
    """CPU seconds of one bare Ed25519 verification, best of three rounds: beside the worker's
    CPU per event it says what the pipeline costs whatever share of the cores it gets."""
    items = _verifications(wires, world)
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        for key, signature, message in items:
            key.verify(signature, message)
        best = min(best, (time.process_time() - start) / len(items))
    return best


def workers_cpu(settings: Settings) -> float:
    """CPU seconds (user and system) the running workers of this lane have used so far."""
    total = 0.0
    for worker in supervisor.workers(settings):
        if worker.pid is not None:
            # /proc/<pid>/stat: fields 14 and 15 are utime and stime, in clock ticks.
            fields = Path(f"/proc/{worker.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def throughput(settings: Settings, world: SignedWorld, wires: list[bytes]) -> float:
    """Events per second from the first send to the last committed store row."""
    producer = KafkaProducer(
        **settings.kafka_config(), acks="all", linger_ms=20, batch_size=256 * 1024
    )
    ingest = topics.topic_name(settings, "ingest")
    before = _count(settings, "SELECT count(*) FROM event_store")
    started = datetime.now(UTC)
    for wire in wires:
        producer.send(ingest, key=decode_envelope(wire).publisher_id.encode(), value=wire)
    producer.flush()
    producer.close()
    _wait(settings, "SELECT count(*) FROM event_store", before + len(wires), 900)
    last: datetime = _count(settings, "SELECT max(stored_at) FROM event_store")
    return len(wires) / (last - started).total_seconds()


def latency(
    settings: Settings, world: SignedWorld, rate: float, seconds: float
) -> tuple[list[float], list[float]]:
    """Send-to-store and send-to-projection latencies (seconds) of events sent at `rate`/s."""
    producer = KafkaProducer(**settings.kafka_config(), acks=1, linger_ms=0)
    ingest = topics.topic_name(settings, "ingest")
    sent: dict[str, datetime] = {}
    total = int(rate * seconds)
    began = time.monotonic()
    for i in range(total):
        pid = PUBLISHERS[i % len(PUBLISHERS)]
        event_id = uuid.uuid4()
        wire = world.event(
            pid, "tip-report", 1_000_000 + i, event_id=event_id, published_at=datetime.now(UTC)
        )
        sent[str(event_id)] = datetime.now(UTC)
        producer.send(ingest, key=pid.encode(), value=wire)
        pause = began + (i + 1) / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
    producer.flush()
    producer.close()
    query = (
        "SELECT a.event_id, s.stored_at, a.applied_at FROM proj_applied a "
        "JOIN event_store s USING (event_id) WHERE a.projection = 'tips' AND a.event_id = ANY(%s)"
    )
    deadline = time.monotonic() + 300
    while True:
        with psycopg.connect(settings.pg_dsn) as conn:
            rows = conn.execute(query, (list(sent),)).fetchall()
        if len(rows) == total or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    stored = sorted((s - sent[e]).total_seconds() for e, s, _ in rows)
    projected = sorted((a - sent[e]).total_seconds() for e, _, a in rows)
    return stored, projected


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


def run(
    events: int = 20_000, workers: int = 1, rate: float = 200.0, seconds: float = 15.0
) -> dict[str, float]:
    """Measure and print; returns the figures."""
    world = SignedWorld(SchemaCatalog.load())
    registry = [w for pid in PUBLISHERS for w in world.register(pid)]
    per = events // len(PUBLISHERS)
    wires = [world.event(pid, "tip-report", i + 1) for i in range(per) for pid in PUBLISHERS]
    bare = bare_verify_rate(wires, world)
    bare_cpu = bare_verify_cpu(wires, world)
    print(f"bare Ed25519 verify (cryptography)      {bare:10.0f} /s")
    with lane(workers, world) as settings:
        producer = KafkaProducer(**settings.kafka_config(), acks="all")
        for wire in registry:
            producer.send(
                topics.topic_name(settings, "registry"), key=HUB_OPERATOR_ID.encode(), value=wire
            )
        producer.flush()
        producer.close()
        _wait(settings, "SELECT count(*) FROM event_store", len(registry), 120)
        cpu_before = workers_cpu(settings)
        e2e = throughput(settings, world, wires)
        print(
            f"ingest -> committed store row, {workers} worker(s) {e2e:10.0f} /s "
            f"({len(wires)} events)"
        )
        print(f"ratio pipeline / bare verify            {e2e / bare:10.3f}")
        _wait(settings, "SELECT count(*) FROM proj_applied", len(wires) + len(registry), 600)
        # The workers' whole CPU from the first send until every event is projected: verify,
        # store, send and project, each event once.
        cpu = (workers_cpu(settings) - cpu_before) / len(wires)
        print(
            f"worker CPU per event, stored and projected {cpu * 1000:7.3f} ms, bare verify "
            f"{bare_cpu * 1000:6.3f} ms: ratio {bare_cpu / cpu:6.3f}"
        )
        to_store, lat = latency(settings, world, rate, seconds)
    p50, p99 = _pct(lat, 0.5), _pct(lat, 0.99)
    print(
        f"ingest -> store latency at {rate:.0f}/s       p50 {_pct(to_store, 0.5) * 1000:7.1f} ms"
        f"   p99 {_pct(to_store, 0.99) * 1000:7.1f} ms"
    )
    print(
        f"ingest -> projection latency at {rate:.0f}/s  p50 {p50 * 1000:7.1f} ms   "
        f"p99 {p99 * 1000:7.1f} ms   ({len(lat)} of {int(rate * seconds)} events)"
    )
    return {
        "bare": bare,
        "e2e": e2e,
        "ratio": e2e / bare,
        "cpu_ms": cpu * 1000,
        "bare_cpu_ms": bare_cpu * 1000,
        "p50_ms": p50 * 1000,
        "p99_ms": p99 * 1000,
        "workers": float(workers),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_pipeline")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rate", type=float, default=200.0, help="latency phase events/s")
    parser.add_argument("--seconds", type=float, default=15.0, help="latency phase length")
    args = parser.parse_args()
    run(args.events, args.workers, args.rate, args.seconds)


if __name__ == "__main__":
    main()
