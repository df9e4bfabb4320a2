"""Backfill: migrant-record persons loaded through the whole pipeline into the matcher's index.

A province joining the hub brings its migrant-population register at once. This benchmark
writes N persons (registrants and their accompanying children, as migrant-record events of seven
provincial registries) to the ingest topic first, then starts the pipeline workers and times how
long they take to verify, store and index every person (``match_persons`` and ``match_keys``,
PostgreSQL on disk). It prints:

- the rate in persons and events per second, from the first stored event to the last indexed
  person, beside bare Ed25519 verification of the same events in the same run;
- the time it took, and the projection to 10,000,000 persons at the measured rate when N is
  smaller (a 2-core machine cannot load ten million within a benchmark's time);
- disk per person: the match index (tables and their indexes) and the event store, from
  PostgreSQL's relation sizes; memory per person: how much the worker's resident set grew
  while loading, per person loaded meanwhile (the index lives in PostgreSQL), and its peak;
- the latency of a new alert searched against the loaded index (publish -> alert indexed and
  searched, its match-stage transaction committed), p50 and p99, beside the blocking-key lookups
  of the same alerts in ``match_keys`` alone.

What the generator cannot show: names are drawn uniformly from 59 surnames and 37 given-name
characters, a few thousand distinct names, so a name block holds more persons than in a real
register of the same size (real names are more varied, though skewed: a few surnames cover a
fifth of the population); birth dates are uniform over 1960-2020; there are no typos, missing
fields, duplicates or updated records. The index's size per person and the key lookups are close
to real; candidate counts per alert, and so the search latency, are not those of a real register.

    .venv/bin/python -m bench.bench_backfill [--size 1000000] [--workers 1] [--alerts 50]

Needs `hubctl services up`. Uses its own topic prefix and database, removed afterwards.
"""

from __future__ import annotations

import argparse
import random
import secrets
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaProducer

from bench.bench_pipeline import bare_verify_rate
from hub import topics
from hub.config import Settings, load_settings
from hub.identity import check_character
from hub.matching.adapters import facts_from_alert
from hub.matching.blocking import blocking_keys
from hub.matching.features import prepare
from hub.registry import operator_key_paths
from hub.schema_catalog import SchemaCatalog
from ops import db
from processors import topic_admin
from processors.app import ANCHOR_ENV
from processors.pg_keys import keyring_for
from processors.pg_match_seal import MatchSealer
from processors.supervisor import start_workers, stop_workers, workers
from processors.testing import SignedWorld, payload_for

TARGET = 10_000_000
PROVINCES = ("320000", "340000", "410000", "450000", "510000", "520000", "530000")
REGISTRIES = [f"{code}-migrant-registry" for code in PROVINCES]
POLICE = "510000-police"
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾"
    "肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红梅鑫波斌宇浩凯健俊"
INDEX_TABLES = ("match_persons", "match_keys")
PROGRESS_EVERY = 10.0  # seconds between progress lines while loading


@dataclass(frozen=True)
class Loaded:
    """What the load phase produced: the signed events and how many persons they carry."""

    wires: list[bytes]
    persons: int
    seconds: float


def person(rng: random.Random, born_after: int = 1960, born_before: int = 2020) -> dict[str, Any]:
    """One person as a registry records it; about seven in ten carry an identity number."""
    sex = rng.choice(("MALE", "FEMALE"))
    born = date(born_after, 1, 1) + timedelta(
        days=rng.randrange((date(born_before, 12, 31) - date(born_after, 1, 1)).days)
    )
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    out: dict[str, Any] = {
        "name": rng.choice(SURNAMES) + given,
        "sex": sex,
        "birth": {"precision": "DAY", "date": born},
        "marks": [],
    }
    if rng.random() < 0.7:
        area = rng.choice(PROVINCES)[:2] + f"{rng.randrange(1, 20):02d}{rng.randrange(1, 20):02d}"
        order = rng.randrange(0, 500) * 2 + (1 if sex == "MALE" else 0)
        first17 = f"{area}{born:%Y%m%d}{order:03d}"
        out["id_number"] = first17 + check_character(first17)
    return out


def records(world: SignedWorld, size: int, seed: int) -> Loaded:
    """Signed migrant records carrying `size` persons in all (a registrant, 0-2 children)."""
    rng = random.Random(seed)
    wires: list[bytes] = []
    persons = 0
    began = time.monotonic()
    shown = began
    n = 0
    while persons < size:
        registry = REGISTRIES[n % len(REGISTRIES)]
        children = min(rng.choice((0, 1, 1, 2)), size - persons - 1)
        payload = payload_for("migrant-record", n, world.epoch, registry,
                              person=person(rng, 1960, 2000))
        payload["children"] = [
            {"child": person(rng, 2005, 2020),
             "guardian_relation": rng.choice(("FATHER", "MOTHER"))}
            for _ in range(children)
        ]
        wires.append(world.event(registry, "migrant-record", payload=payload))
        persons += 1 + children
        n += 1
        if time.monotonic() - shown > PROGRESS_EVERY:
            shown = time.monotonic()
            print(f"  signed {len(wires):,} records ({persons:,} persons)", flush=True)
    return Loaded(wires, persons, time.monotonic() - began)


@contextmanager
def lane(base: Settings, world: SignedWorld) -> Iterator[Settings]:
    """Own prefix, database, topics and operator key (so the match stage runs)."""
    rid = secrets.token_hex(3)
    name = f"bench_backfill_{rid}"
    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        settings = db.create_database(base, name, exist_ok=False).with_overrides(
            topic_prefix=f"bench{rid}.", data_dir=Path(tmp)
        )
        world.operator.save(operator_key_paths(settings.data_dir)[0])
        try:
            db.migrate(settings.pg_owner_dsn)
            topic_admin.apply(settings)
            yield settings
        finally:
            stop_workers(settings, timeout=20)
            db.drop_database(settings, name)
            topic_admin.delete_prefixed(settings)


def _scalar(conn: psycopg.Connection[Any], query: str, *args: Any) -> Any:
    row = conn.execute(query, args or None).fetchone()
    return None if row is None else row[0]


def _publish(settings: Settings, suffix: str, wires: list[bytes], key: bytes | None) -> None:
    producer = KafkaProducer(
        **settings.kafka_config(), acks="all", linger_ms=20, batch_size=512 * 1024
    )
    topic = topics.topic_name(settings, suffix)
    for wire in wires:
        producer.send(topic, key=key, value=wire)
    producer.flush()
    producer.close()


def _worker_memory_mib(settings: Settings) -> tuple[float, float]:
    """(resident set now, peak resident set) of this lane's largest worker, in MiB."""
    now = peak = 0.0
    for info in workers(settings):
        if info.pid is None:
            continue
        try:
            status = Path(f"/proc/{info.pid}/status").read_text(encoding="ascii")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        now = max(now, int(fields.get("VmRSS", "0 kB").split()[0]) / 1024)
        peak = max(peak, int(fields.get("VmHWM", "0 kB").split()[0]) / 1024)
    return now, peak


def load(settings: Settings, conn: psycopg.Connection[Any], loaded: Loaded, count: int,
         anchor: str, timeout: float) -> dict[str, float]:
    """Start the workers on a full ingest topic and wait until every person is indexed."""
    start_workers(settings, count, env={ANCHOR_ENV: anchor})
    deadline = time.monotonic() + timeout
    shown = time.monotonic()
    indexed = 0
    peak = 0.0
    early: tuple[int, float] | None = None  # (persons indexed, RSS) once loading is under way
    while indexed < loaded.persons:
        time.sleep(2.0)
        indexed = _scalar(conn, "SELECT count(*) FROM match_persons WHERE side = 'OTHER'")
        rss, peak = _worker_memory_mib(settings)
        if early is None and indexed > 0:
            early = (indexed, rss)
        if time.monotonic() - shown > PROGRESS_EVERY:
            shown = time.monotonic()
            stored = _scalar(conn, "SELECT count(*) FROM event_store")
            print(f"  stored {stored:,} events, indexed {indexed:,} of "
                  f"{loaded.persons:,} persons, worker RSS {rss:.0f} MiB", flush=True)
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"only {indexed:,} of {loaded.persons:,} persons indexed in {timeout:.0f}s"
            )
    rss, peak = _worker_memory_mib(settings)
    grown = 0.0
    if early is not None and indexed > early[0]:
        # Growth while loading, per person loaded meanwhile: what the index costs in memory.
        grown = max(0.0, rss - early[1]) * 2**20 / (indexed - early[0])
    first: datetime = _scalar(
        conn, "SELECT min(stored_at) FROM event_store WHERE event_type = 'migrant-record'"
    )
    last: datetime = _scalar(conn, "SELECT max(updated_at) FROM match_persons")
    seconds = (last - first).total_seconds()
    return {"seconds": seconds, "peak_rss_mib": peak, "grown_bytes_per_person": grown}


def disk(conn: psycopg.Connection[Any]) -> dict[str, float]:
    """Bytes on disk of the match index and of the event store (tables, indexes, TOAST)."""
    index = sum(_scalar(conn, "SELECT pg_total_relation_size(%s::regclass)", t)
                for t in INDEX_TABLES)
    events = _scalar(conn, "SELECT pg_total_relation_size('event_store'::regclass)")
    return {"index_bytes": float(index), "event_bytes": float(events)}


def alert_payload(world: SignedWorld, n: int, rng: random.Random) -> dict[str, Any]:
    """A missing child whose kind is in the register (same name pool, birth years)."""
    return payload_for("missing-person-alert", n, world.epoch, POLICE,
                       person=person(rng, 2005, 2020))


def search_latency(
    settings: Settings, conn: psycopg.Connection[Any], world: SignedWorld, alerts: int,
    seed: int,
) -> dict[str, list[float]]:
    """Alerts one at a time: publish -> searched and indexed; and their key lookups alone."""
    rng = random.Random(seed + 1)
    sealer = MatchSealer(keyring_for(settings.pg_dsn, settings.secrets_dir))
    producer = KafkaProducer(**settings.kafka_config(), acks="all", linger_ms=0)
    ingest = topics.topic_name(settings, "ingest")
    through: list[float] = []
    lookups: list[float] = []
    candidates: list[float] = []
    for n in range(alerts):
        payload = alert_payload(world, n, rng)
        wire = world.event(POLICE, "missing-person-alert", payload=payload)
        sent = time.monotonic()
        producer.send(ingest, key=POLICE.encode(), value=wire)
        producer.flush()
        deadline = sent + 120
        while not _scalar(conn, "SELECT 1 FROM match_alerts WHERE alert_id = %s",
                          payload["alert_id"]):
            if time.monotonic() > deadline:
                raise TimeoutError(f"alert {payload['alert_id']} not searched within 120 s")
            time.sleep(0.005)
        through.append(time.monotonic() - sent)
        # The index stores blocking keys blinded: look them up in that form, as the matcher does.
        keys = sealer.keys(k for k in blocking_keys(prepare(facts_from_alert(payload)),
                                                    stored=False) if not k.startswith("dna:"))
        began = time.monotonic()
        found = _scalar(conn, "SELECT count(DISTINCT person_ref) FROM match_keys "
                              "WHERE block_key = ANY(%s) AND side = 'OTHER'", keys)
        lookups.append(time.monotonic() - began)
        candidates.append(float(found))
    producer.close()
    return {"through": through, "lookups": lookups, "candidates": candidates}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(size: int, workers_count: int = 1, alerts: int = 50, seed: int = 2026,
        timeout: float = 6 * 3600) -> dict[str, float]:
    """Run the benchmark, print its figures and return them."""
    world = SignedWorld(SchemaCatalog.load())
    # Registered first: registering makes each participant's signing key.
    registry = [w for pid in [*REGISTRIES, POLICE] for w in world.register(pid)]
    print(f"signing migrant records carrying {size:,} persons ...", flush=True)
    loaded = records(world, size, seed)
    bare = bare_verify_rate_of(world, loaded.wires)
    base = load_settings()
    with lane(base, world) as settings, psycopg.connect(settings.pg_dsn,
                                                        autocommit=True) as conn:
        _publish(settings, "registry", registry, None)
        print(f"writing {len(loaded.wires):,} records to the ingest topic ...", flush=True)
        _publish(settings, "ingest", loaded.wires, None)
        print(f"loading through {workers_count} worker(s) ...", flush=True)
        timing = load(settings, conn, loaded, workers_count,
                      world.operator.verify_key.base64, timeout)
        sizes = disk(conn)
        lat = search_latency(settings, conn, world, alerts, seed)
    seconds = timing["seconds"]
    persons_rate = loaded.persons / seconds
    events_rate = len(loaded.wires) / seconds
    figures = {
        "persons": float(loaded.persons),
        "events": float(len(loaded.wires)),
        "seconds": seconds,
        "persons_per_s": persons_rate,
        "events_per_s": events_rate,
        "bare": bare,
        "ratio": events_rate / bare,
        "projected_s": TARGET / persons_rate,
        "index_bytes_per_person": sizes["index_bytes"] / loaded.persons,
        "event_bytes_per_person": sizes["event_bytes"] / loaded.persons,
        "rss_bytes_per_person": timing["grown_bytes_per_person"],
        "peak_rss_mib": timing["peak_rss_mib"],
        "search_p50_ms": _pct(lat["through"], 0.5) * 1000,
        "search_p99_ms": _pct(lat["through"], 0.99) * 1000,
        "lookup_p50_ms": _pct(lat["lookups"], 0.5) * 1000,
        "lookup_p99_ms": _pct(lat["lookups"], 0.99) * 1000,
        "candidates_p50": _pct(lat["candidates"], 0.5),
    }
    _print(figures, loaded, workers_count, alerts)
    return figures


def bare_verify_rate_of(world: SignedWorld, wires: list[bytes]) -> float:
    """Bare Ed25519 verifications per second over (a sample of) the same signed events."""
    sample = wires[: min(len(wires), 20_000)]
    return bare_verify_rate(sample, world)


def _print(f: dict[str, float], loaded: Loaded, workers_count: int, alerts: int) -> None:
    print(f"persons loaded          {f['persons']:14,.0f}  in {f['events']:,.0f} migrant records"
          f" (signed in {loaded.seconds:.0f} s, not counted)")
    print(f"load time               {f['seconds']:14.1f} s   with {workers_count} worker(s)")
    print(f"rate                    {f['persons_per_s']:14,.0f} persons/s"
          f"   {f['events_per_s']:,.0f} events/s")
    print(f"bare Ed25519 verify     {f['bare']:14,.0f} /s     ratio events/bare "
          f"{f['ratio']:.3f}")
    if f["persons"] < TARGET:
        print(f"projection to {TARGET:,} persons at this rate: {f['projected_s'] / 3600:.1f} h "
              f"(measured at {f['persons']:,.0f}, not at {TARGET:,})")
    print(f"disk per person         {f['index_bytes_per_person']:14,.0f} bytes match index, "
          f"{f['event_bytes_per_person']:,.0f} bytes event store")
    print(f"memory per person       {f['rss_bytes_per_person']:14,.1f} bytes "
          f"(worker RSS growth while loading; its peak {f['peak_rss_mib']:.0f} MiB in all)")
    print(f"alert search at {f['persons']:,.0f} persons, {alerts} alerts: p50 "
          f"{f['search_p50_ms']:.1f} ms, p99 {f['search_p99_ms']:.1f} ms (publish -> searched)")
    print(f"key lookups alone       p50 {f['lookup_p50_ms']:.2f} ms, p99 "
          f"{f['lookup_p99_ms']:.2f} ms, {f['candidates_p50']:.0f} candidates (p50)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bench_backfill",
        description="Load migrant-record persons through the pipeline into the match index; "
                    "print rate, time, disk and memory per person and the alert-search latency.",
    )
    parser.add_argument("--size", type=int, default=1_000_000,
                        help="persons to load (default 1,000,000; 10 M is projected from it)")
    parser.add_argument("--workers", type=int, default=1, help="pipeline workers (default 1)")
    parser.add_argument("--alerts", type=int, default=50, help="alerts timed after the load")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    if args.size < 1 or args.alerts < 1:
        parser.error("--size and --alerts must be at least 1")
    run(args.size, args.workers, args.alerts, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
