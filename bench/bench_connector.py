"""Benchmark: rows per second through the connector, beside raw kafka-python in the same run.

The connector path is the real `hub-connector publish`: read a CSV, map Chinese headers, validate,
check identity numbers, sign (Ed25519), store in the
SQLite outbox, send with acks=all and idempotence, record acknowledgements. The limit is
kafka-python alone producing the same number of messages of the same size with the same producer
settings, to a topic of its own, timed like the publish from connecting (TLS + SCRAM) to closing.
Conversion alone and sealing alone are printed too: they say where the rest of the time goes.

    .venv/bin/python bench/bench_connector.py [--rows 50000]

Needs the broker (`hubctl services up`); uses its own topic prefix and deletes its topics.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from connectors.cli import main as connector_main
from connectors.config import load_config
from connectors.mapping import load_mapping
from connectors.outbox import Outbox
from connectors.readers import SourceRow, read_rows
from connectors.rows import RowConverter
from connectors.rowwork import ConvertJob, RowWork
from connectors.samples import HEADER, migrant_row, write_migrant_csv
from hub import topics
from hub.config import load_settings
from hub.envelope import WireSealer
from hub.keys import generate_keypair
from hub.schema_catalog import SchemaCatalog
from ops.broker_access import grant_access, revoke_access
from processors import topic_admin


def raw_kafka(kafka: dict[str, Any], topic: str, count: int, size: int) -> float:
    """Seconds for kafka-python to connect, send `count` messages of `size` bytes, get every
    ack and close: what the connector's figure times too (its publish connects with TLS and
    SCRAM and closes its producer), with the connector's producer settings."""
    payloads = [secrets.token_bytes(size) for _ in range(64)]
    acked = 0

    def on_ack(_: object) -> None:
        nonlocal acked
        acked += 1

    start = time.perf_counter()
    producer = KafkaProducer(**kafka, acks="all", enable_idempotence=True,
                             linger_ms=5, batch_size=256 * 1024)
    for n in range(count):
        producer.send(topic, key=b"bench", value=payloads[n % 64]).add_callback(on_ack)
    producer.flush()
    producer.close()
    elapsed = time.perf_counter() - start
    assert acked == count, f"only {acked} of {count} acknowledged"
    return elapsed


def convert_only(path: Path, catalog: SchemaCatalog) -> float:
    """Seconds to read, map and validate every row without signing or sending."""
    from hub.avro import validate_payload

    converter = RowConverter(
        load_mapping("migrant-record"), catalog.latest("migrant-record").raw,
        context={"participant_id": "320000-migrant-registry", "area_code": "320000"},
        validator=lambda p: [(x.field, x.reason) for x in
                             validate_payload(catalog, "migrant-record", p) if x.blocking],
    )
    start = time.perf_counter()
    for row in read_rows(path):
        payload, problems = converter.convert(row)
        assert payload is not None, problems
    return time.perf_counter() - start


def sign_only(count: int, catalog: SchemaCatalog) -> float:
    """Seconds to seal (header, SHA-256, Ed25519) `count` encoded rows, as the publish does
    for every row in its own process (the signature covers the outbox's sequence number)."""
    row = RowWork(ConvertJob("migrant-record", None, {"participant_id": "320000-migrant-registry",
                                                       "area_code": "320000"}, date.today()),
                  catalog).convert_row(SourceRow(2, dict(zip(HEADER, migrant_row(1),
                                                             strict=True))))
    assert not row.problems, row.problems
    sealer = WireSealer(catalog.latest("migrant-record"), "320000-migrant-registry",
                        generate_keypair())
    now = datetime.now(UTC)
    start = time.perf_counter()
    for sequence in range(1, count + 1):
        sealer.seal(row.encoded, sequence=sequence, occurred_at=now, event_id=uuid.uuid4())
    return time.perf_counter() - start


def run(rows: int) -> dict[str, float]:
    """Run the benchmark, print it, and return its rates (per second) and ratio."""
    settings = load_settings()
    bench = settings.with_overrides(topic_prefix=f"bench{secrets.token_hex(3)}.")
    ingest = topics.TopicSpec("ingest", 6)
    raw_spec = topics.TopicSpec("raw", 6)
    topic_admin.apply(bench, [ingest, raw_spec])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            config = folder / "hub-connector.toml"
            connector_main(["init", "--participant-id", "320000-migrant-registry",
                            "--config", str(config), "--hub", bench.kafka_bootstrap,
                            "--topic-prefix", bench.topic_prefix])
            # A real login, as a registered participant has (TLS + SCRAM, ACLs).
            grant_access(bench, "320000-migrant-registry", generate_keypair().verify_key).save(
                folder / "bundle.json")
            connector_main(["join", "--config", str(config), str(folder / "bundle.json")])
            source = write_migrant_csv(folder / "bench.csv", rows)
            print(f"input: {rows} rows, {source.stat().st_size / 1e6:.1f} MB CSV")
            catalog = SchemaCatalog.load()
            conversion_s = convert_only(source, catalog)
            signing_s = sign_only(rows, catalog)
            start = time.perf_counter()
            code = connector_main(["publish", "--type", "migrant-record", "--quiet",
                                   "--config", str(config), str(source)])
            connector_s = time.perf_counter() - start
            assert code == 0, "publish failed"
            with Outbox(load_config(config).outbox_path) as box:
                stats = box.stats()
                sizes = box._db.execute("SELECT AVG(LENGTH(envelope)) FROM events").fetchone()
            assert stats.total == rows and stats.pending == 0
            size = round(sizes[0])
            raw_s = raw_kafka(bench.kafka_config(), raw_spec.name(bench), rows, size)
    finally:
        revoke_access(bench, "320000-migrant-registry")
        topic_admin.delete_prefixed(bench)
    print(f"average signed envelope: {size} bytes")
    print(f"read+map+validate only:  {rows / conversion_s:10,.0f} rows/s ({conversion_s:.2f} s)")
    print(f"seal (Ed25519) only:     {rows / signing_s:10,.0f} rows/s ({signing_s:.2f} s)")
    print(f"connector publish:       {rows / connector_s:10,.0f} rows/s ({connector_s:.2f} s)")
    print(f"raw kafka-python:        {rows / raw_s:10,.0f} msgs/s ({raw_s:.2f} s)")
    print(f"ratio connector / raw:   {raw_s / connector_s:.3f}")
    return {"convert": rows / conversion_s, "seal": rows / signing_s,
            "connector": rows / connector_s, "raw": rows / raw_s,
            "ratio": raw_s / connector_s}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    run(parser.parse_args().rows)
