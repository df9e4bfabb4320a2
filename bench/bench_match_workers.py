"""Benchmark: matching throughput with 1 and 2 workers, partitioned by blocking key.

Open alerts are indexed first, then migrant records (a tenth of them carrying a child who
matches an alert) go through the match stage, which indexes each person and writes one probe
per blocking key (hub.matching.fanout). The probes are spread over the keyed topic's partitions
exactly as Kafka's default partitioner places them (murmur2 of the key), and then scored by the
key stage (processors.match_key_stage) against PostgreSQL: once by one worker process owning
every partition, once by two worker processes owning half each. Both runs score the same probes
from the same index; the figure is persons searched per second, and the ratio is the two-worker
rate over the one-worker rate, measured in the same run (2.0 would be perfect scaling).

What this cannot show: Kafka's own delivery of the probes (the end-to-end path is the
match-latency benchmark), and on a machine with two cores shared with other work, the second
worker competes with PostgreSQL for the same cores.

    .venv/bin/python bench/bench_match_workers.py [--alerts 5000] [--records 2000]

Needs PostgreSQL (`hubctl services up`); uses its own database and removes it at the end.
"""

from __future__ import annotations

import argparse
import multiprocessing
import secrets
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import psycopg
from kafka.partitioner.default import murmur2

from hub.config import Settings, load_settings
from hub.envelope import decode_envelope, decode_payload
from hub.identity import check_character
from hub.keys import SigningKey
from hub.matching.store import Outbox
from hub.schema_catalog import SchemaCatalog
from hub.store import record_of
from hub.topics import declared
from ops import db
from processors.match_key_stage import KeyStage
from processors.match_stage import MatchStage
from processors.pg_matching import PgMatchStore
from processors.pg_store import PgEventStore
from processors.route_stage import Router
from processors.testing import SignedWorld, payload_for
from processors.verify_stage import InMessage

POLICE = "510000-police"
LOCAL_POLICE = "320000-police"
REGISTRY = "320000-migrant-registry"
KEYED = "bench.match-keys"
BATCH = 500
SURNAMES = "李王张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "红梅丽娟英华慧巧美娜静淑惠珠翠雅芝玉萍"


def child(n: int) -> dict[str, Any]:
    """A distinct child per n: name, sex, birth date and a valid identity number."""
    born = date(2010, 1, 1) + timedelta(days=(n * 37) % 3000)
    first17 = f"510104{born:%Y%m%d}{(n % 499) * 2:03d}"
    return {
        "name": SURNAMES[n % 20] + GIVEN[(n // 20) % len(GIVEN)] + GIVEN[(n // 400) % len(GIVEN)],
        "sex": "FEMALE" if n % 2 else "MALE",
        "birth": {"precision": "DAY", "date": born},
        "id_number": first17 + check_character(first17),
        "marks": [],
    }


@dataclass(frozen=True)
class Probes:
    """The probes of the records, by partition of the keyed topic."""

    by_partition: dict[int, list[InMessage]]
    persons: int

    def owned(self, worker: int, workers: int) -> list[InMessage]:
        return [m for p, log in sorted(self.by_partition.items()) if p % workers == worker
                for m in log]

    @property
    def count(self) -> int:
        return sum(len(log) for log in self.by_partition.values())


def _stage(settings: Settings, key_file: Path) -> tuple[MatchStage, PgMatchStore]:
    catalog = SchemaCatalog.load()
    store = PgMatchStore(settings.pg_dsn)
    router = Router(catalog, SigningKey.load(key_file), "bench.ingest",
                    lambda p: f"bench.notifications.{p}")
    return MatchStage(PgEventStore(settings.pg_dsn), store, router, fan_out=KEYED), store


def build(settings: Settings, key_file: Path, world: SignedWorld, alerts: int,
          records: int) -> Probes:
    """Index the alerts and the records; the records' probes, partitioned as Kafka would."""
    stage, store = _stage(settings, key_file)
    events = PgEventStore(settings.pg_dsn)
    catalog = SchemaCatalog.load()
    offset = 0

    def feed(wires: Sequence[bytes]) -> None:
        nonlocal offset
        messages = []
        with events.transaction() as txn:
            for wire in wires:
                env = decode_envelope(wire)
                txn.append(record_of(env, wire, decode_payload(catalog, env)))
                messages.append(InMessage("bench.verified", 0, offset, wire))
                offset += 1
        stage.process(messages)

    feed([w for pid in (POLICE, LOCAL_POLICE, REGISTRY) for w in world.register(pid)])
    wires = []
    for n in range(alerts):
        payload = payload_for("missing-person-alert", n, world.epoch, POLICE, person=child(n))
        wires.append(world.event(POLICE, "missing-person-alert", payload=payload))
    for start in range(0, len(wires), BATCH):
        feed(wires[start:start + BATCH])
        print(f"  alerts indexed: {min(start + BATCH, len(wires)):,}/{alerts:,}", flush=True)
    # The alerts' own probes find nothing (no record yet): only the records' are measured.
    while pending := store.claim_outbox(10_000, Outbox.PROBES):
        store.mark_sent([m.id for m in pending], Outbox.PROBES)
    wires = []
    for n in range(records):
        payload = payload_for("migrant-record", n, world.epoch, REGISTRY)
        # A tenth of the records carry a child of an open alert; the others someone new.
        kid = child(n * 7 % alerts) if n % 10 == 0 else child(alerts + n)
        payload["children"] = [{"child": kid, "guardian_relation": "FATHER"}]
        wires.append(world.event(REGISTRY, "migrant-record", payload=payload))
    for start in range(0, len(wires), BATCH):
        feed(wires[start:start + BATCH])
        print(f"  records indexed: {min(start + BATCH, len(wires)):,}/{records:,}", flush=True)
    partitions = declared("match-keys").partitions
    by_partition: dict[int, list[InMessage]] = {p: [] for p in range(partitions)}
    while pending := store.claim_outbox(10_000, Outbox.PROBES):
        store.mark_sent([m.id for m in pending], Outbox.PROBES)
        for m in pending:
            p = (murmur2(m.key or b"") & 0x7FFFFFFF) % partitions  # as the producer does
            log = by_partition[p]
            log.append(InMessage(KEYED, p, len(log), m.value, m.key))
    events.close()
    store.close()
    persons = 2 * records  # the registrant and one child each
    return Probes(by_partition, persons)


def _score(
    settings: Settings, key_file: Path, messages: list[InMessage]
) -> tuple[float, float, int]:
    """One worker: score its probes in batches, as the key agent does; when it began and
    ended (after its start-up, which a running worker has behind it) and how many hits."""
    stage, store = _stage(settings, key_file)
    keys = KeyStage(stage, store)
    hits = 0
    began = time.time()
    for start in range(0, len(messages), BATCH):
        result = keys.process(messages[start:start + BATCH])
        hits += result.notified + result.reviewed
    ended = time.time()
    store.close()
    return began, ended, hits


def _reset(settings: Settings) -> None:
    """Forget the scoring of a run (pairs, positions, messages): the index stays."""
    with psycopg.connect(settings.pg_dsn) as conn:
        conn.execute("DELETE FROM match_pairs")
        conn.execute("DELETE FROM match_outbox")
        conn.execute("DELETE FROM processed WHERE consumer = 'match-keys'")


def timed(settings: Settings, key_file: Path, probes: Probes, workers: int) -> tuple[float, int]:
    """Seconds for `workers` processes to score every probe, and the hits they found."""
    _reset(settings)
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers) as pool:
        runs = pool.starmap(_score, [(settings, key_file, probes.owned(w, workers))
                                     for w in range(workers)])
    # From the first worker's first batch to the last one's end.
    return max(r[1] for r in runs) - min(r[0] for r in runs), sum(r[2] for r in runs)


def run(alerts: int, records: int) -> dict[str, float]:
    """The figures: persons/s with 1 and 2 workers, and their ratio."""
    base = load_settings()
    name = f"{base.pg_database}_bench_keys_{secrets.token_hex(3)}"
    settings = db.create_database(base, name, exist_ok=False)
    try:
        db.migrate(settings.pg_owner_dsn)
        world = SignedWorld(SchemaCatalog.load())
        with tempfile.TemporaryDirectory() as tmp:
            key_file = Path(tmp) / "operator.key"
            world.operator.save(key_file)
            print(f"indexing {alerts:,} alerts and {records:,} records", flush=True)
            probes = build(settings, key_file, world, alerts, records)
            print(f"{probes.count:,} probes over {len(probes.by_partition)} partitions",
                  flush=True)
            one, hits_one = timed(settings, key_file, probes, 1)
            print(f"1 worker: {one:.1f}s, {hits_one} hits", flush=True)
            two, hits_two = timed(settings, key_file, probes, 2)
            print(f"2 workers: {two:.1f}s, {hits_two} hits", flush=True)
    finally:
        db.drop_database(base, name)
    if hits_one != hits_two:
        raise RuntimeError(f"1 worker found {hits_one} hits, 2 workers {hits_two}")
    rate_one, rate_two = probes.persons / one, probes.persons / two
    print(f"persons searched per second: 1 worker {rate_one:,.0f}, 2 workers {rate_two:,.0f}, "
          f"ratio {rate_two / rate_one:.2f}")
    return {"one": rate_one, "two": rate_two, "ratio": rate_two / rate_one, "hits": hits_one,
            "probes": probes.count}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=5000, help="open alerts indexed first")
    parser.add_argument("--records", type=int, default=2000, help="migrant records searched")
    args = parser.parse_args()
    run(args.alerts, args.records)


if __name__ == "__main__":
    main()
