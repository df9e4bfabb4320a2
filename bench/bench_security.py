"""Benchmark: what TLS and SCRAM logins cost the connector and the pipeline, in one run.

The same two measurements run against the hub's broker (TLS, SCRAM-SHA-512, ACLs) and against
a plaintext broker started only for this run from the same jars (bench/plaintext.py), in
alternating rounds so that machine noise falls on both alike; the best round of each counts:

- connector publish: rows per second through the real `hub-connector publish` of a migrant
  CSV (read, map, validate, sign, outbox, send with acks=all, record acknowledgements);
- beside them, kafka-python alone sending messages of an envelope's size: the transport by
  itself, so the share of the cost the connector and the pipeline hide is visible;
- pipeline: signed events per second from the first send to the last committed store row,
  through a real pipeline worker process.

The ratio secure / plaintext is printed beside the goal (at most 15 % slower: ratio >= 0.85).

    .venv/bin/python -m bench.bench_security [--rows 20000] [--events 20000] [--rounds 2]

Needs `hubctl services up`; uses its own prefixes, database and broker, all removed afterwards.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kafka import KafkaProducer

from bench.bench_connector import raw_kafka
from bench.bench_pipeline import PUBLISHERS, _wait, throughput
from bench.plaintext import plaintext_broker, plaintext_clients
from connectors.cli import main as connector_main
from connectors.config import load_config
from connectors.samples import write_migrant_csv
from hub import topics
from hub.config import Settings, load_settings
from hub.identity import HUB_OPERATOR_ID
from hub.keys import generate_keypair
from hub.schema_catalog import SchemaCatalog
from ops import db
from ops.broker_access import grant_access, revoke_access
from processors import topic_admin
from processors.app import ANCHOR_ENV
from processors.processes import free_ports, spawn_detached, stop_process_group
from processors.supervisor import start_workers, stop_workers
from processors.testing import SignedWorld

GOAL = 0.85
MIGRANTS = "320000-migrant-registry"




@contextmanager
def joined_connector(secure: Settings, folder: Path) -> Iterator[Path]:
    """A connector joined as a registered participant (its login made on the hub's broker),
    publishing under a prefix of its own on whichever broker its config names."""
    bench = secure.with_overrides(topic_prefix=f"bsec{secrets.token_hex(3)}.")
    config = folder / "hub-connector.toml"
    connector_main(["init", "--participant-id", MIGRANTS, "--config", str(config),
                    "--hub", secure.kafka_bootstrap, "--topic-prefix", bench.topic_prefix])
    grant_access(bench, MIGRANTS, generate_keypair().verify_key).save(folder / "bundle.json")
    try:
        connector_main(["join", "--config", str(config), str(folder / "bundle.json")])
        yield config
    finally:
        revoke_access(bench, MIGRANTS)


def connector_rate(config: Path, broker: Settings, source: Path, rows: int) -> float:
    """Rows per second of one `hub-connector publish` of `source` to `broker`, from an empty
    outbox (the clients of this process speak whatever the caller set up)."""
    loaded = load_config(config)
    bench = broker.with_overrides(topic_prefix=loaded.topic_prefix)
    topic_admin.apply(bench, [topics.TopicSpec("ingest", 6)])
    for leftover in loaded.outbox_path.parent.glob(loaded.outbox_path.name + "*"):
        leftover.unlink()
    text = config.read_text()
    config.write_text(text.replace(loaded.hub_bootstrap, broker.kafka_bootstrap))
    try:
        started = time.perf_counter()
        code = connector_main(["publish", "--type", "migrant-record", "--quiet",
                               "--config", str(config), str(source)])
        elapsed = time.perf_counter() - started
    finally:
        topic_admin.delete_prefixed(bench)
    if code != 0:
        raise RuntimeError("hub-connector publish failed")
    return rows / elapsed


def raw_rate(broker: Settings, count: int) -> float:
    """Messages per second of kafka-python alone (acks=all, idempotent), 700 bytes each: the
    transport by itself, where TLS and the login weigh most."""
    bench = broker.with_overrides(topic_prefix=f"bsec{secrets.token_hex(3)}.")
    spec = topics.TopicSpec("raw", 6)
    topic_admin.apply(bench, [spec])
    try:
        return count / raw_kafka(bench.kafka_config(), spec.name(bench), count, 700)
    finally:
        topic_admin.delete_prefixed(bench)


@contextmanager
def pipeline_lane(broker: Settings, world: SignedWorld, plain: bool) -> Iterator[Settings]:
    """Own prefix, database and topics on `broker`; one worker (plaintext or not)."""
    rid = secrets.token_hex(3)
    name = f"bsec_{rid}"
    with tempfile.TemporaryDirectory(prefix="bench-security-") as tmp:
        settings = db.create_database(broker, name, exist_ok=False).with_overrides(
            topic_prefix=f"bsec{rid}.", data_dir=Path(tmp)
        )
        env = {ANCHOR_ENV: world.operator.verify_key.base64}
        pid = None
        try:
            db.migrate(settings.pg_owner_dsn)
            topic_admin.apply(settings)
            if plain:
                argv = [sys.executable, "-m", "bench.plain_worker"]
                pid = spawn_detached(argv, Path(tmp) / "worker.log",
                                     {**os.environ, **settings.as_environment(), **env})
            else:
                start_workers(settings, 1, env=env)
            yield settings
        finally:
            if pid is not None:
                stop_process_group(pid, timeout=20)
            stop_workers(settings, timeout=20)
            db.drop_database(settings, name)
            topic_admin.delete_prefixed(settings)


def pipeline_rate(broker: Settings, plain: bool, events: int) -> float:
    world = SignedWorld(SchemaCatalog.load())
    registry = [w for pid in PUBLISHERS for w in world.register(pid)]
    per = events // len(PUBLISHERS)
    wires = [world.event(pid, "tip-report", i + 1) for i in range(per) for pid in PUBLISHERS]
    with pipeline_lane(broker, world, plain) as settings:
        producer = KafkaProducer(**settings.kafka_config(), acks="all")
        for wire in registry:
            producer.send(topics.topic_name(settings, "registry"),
                          key=HUB_OPERATOR_ID.encode(), value=wire)
        producer.flush()
        producer.close()
        _wait(settings, "SELECT count(*) FROM event_store", len(registry), 120)
        return throughput(settings, world, wires)


def run(rows: int, events: int, rounds: int) -> dict[str, float]:
    secure = load_settings()
    port, controller_port = free_ports(2)
    best: dict[str, float] = {}

    def keep(name: str, value: float) -> None:
        best[name] = max(best.get(name, 0.0), value)
        print(f"  {name:28} {value:10,.0f} /s", flush=True)

    with tempfile.TemporaryDirectory(prefix="bench-plain-broker-") as tmp:
        root = Path(tmp)
        source = write_migrant_csv(root / "rows.csv", rows)
        (root / "connector").mkdir()
        with plaintext_broker(secure, root, port, controller_port) as plain, \
                joined_connector(secure, root / "connector") as config:
            print(f"plaintext broker for this run on {plain.kafka_bootstrap}", flush=True)
            for round_no in range(1, rounds + 1):
                print(f"round {round_no} of {rounds}", flush=True)
                keep("raw kafka-python, secure", raw_rate(secure, rows))
                keep("connector publish, secure", connector_rate(config, secure, source, rows))
                keep("pipeline, secure", pipeline_rate(secure, False, events))
                with plaintext_clients():
                    keep("raw kafka-python, plaintext", raw_rate(plain, rows))
                    keep("connector publish, plaintext",
                         connector_rate(config, plain, source, rows))
                    keep("pipeline, plaintext", pipeline_rate(plain, True, events))
    figures = {
        "raw_secure": best["raw kafka-python, secure"],
        "raw_plain": best["raw kafka-python, plaintext"],
        "connector_secure": best["connector publish, secure"],
        "connector_plain": best["connector publish, plaintext"],
        "pipeline_secure": best["pipeline, secure"],
        "pipeline_plain": best["pipeline, plaintext"],
    }
    figures["raw_ratio"] = figures["raw_secure"] / figures["raw_plain"]
    figures["connector_ratio"] = figures["connector_secure"] / figures["connector_plain"]
    figures["pipeline_ratio"] = figures["pipeline_secure"] / figures["pipeline_plain"]
    for what in ("raw", "connector", "pipeline"):
        ratio = figures[f"{what}_ratio"]
        verdict = "within" if ratio >= GOAL else "NOT within"
        if what == "raw":
            print(f"raw kafka-python TLS+SCRAM {figures['raw_secure']:8,.0f} /s, plaintext "
                  f"{figures['raw_plain']:8,.0f} /s: ratio {ratio:.3f} (the transport alone)")
            continue
        print(f"{what:9} TLS+SCRAM {figures[f'{what}_secure']:8,.0f} /s, plaintext "
              f"{figures[f'{what}_plain']:8,.0f} /s: ratio {ratio:.3f} ({verdict} the goal "
              f">= {GOAL}, at most 15 % slower)")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_security",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="connector rows per round")
    parser.add_argument("--events", type=int, default=20_000, help="pipeline events per round")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    run(args.rows, args.events, args.rounds)


if __name__ == "__main__":
    main()
