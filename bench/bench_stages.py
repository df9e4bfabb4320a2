"""The verify and projection stages alone, without Faust or Kafka, against the real PostgreSQL.

Signed events go through :class:`processors.verify_stage.VerifyStage` in batches, and what it
sends to the verified topic through :class:`processors.project_stage.ProjectStage`, the way a
worker runs them. The figures are CPU seconds per event of each stage (``time.process_time``,
so they hold whatever share of the cores this process gets), beside the CPU of one bare Ed25519
verification measured in this run. Set against the worker's CPU per event from
``bench.bench_pipeline``, the difference is what consuming and producing through Faust cost.

Needs `hubctl services up`. Uses its own database, removed afterwards.

    .venv/bin/python -m bench.bench_stages [--events 5000] [--batch 500]
"""

from __future__ import annotations

import argparse
import secrets
import time

from bench.bench_pipeline import PUBLISHERS, bare_verify_cpu
from hub.config import load_settings
from hub.schema_catalog import SchemaCatalog
from ops import db
from processors.pg_projections import PgProjectionStore
from processors.pg_store import PgEventStore
from processors.project_stage import ProjectStage
from processors.testing import SignedWorld
from processors.tracking import InMessage
from processors.verify_stage import VerifyStage


def run(events: int = 5000, batch: int = 500) -> dict[str, float]:
    """Measure and print; returns the figures (CPU milliseconds per event)."""
    catalog = SchemaCatalog.load()
    world = SignedWorld(catalog)
    registry = [w for pid in PUBLISHERS for w in world.register(pid)]
    per = events // len(PUBLISHERS)
    wires = [world.event(pid, "tip-report", i + 1) for i in range(per) for pid in PUBLISHERS]
    bare = bare_verify_cpu(wires, world)
    base = load_settings()
    name = f"bench_stages_{secrets.token_hex(3)}"
    settings = db.create_database(base, name, exist_ok=False)
    try:
        db.migrate(settings.pg_owner_dsn)
        verify = VerifyStage(
            PgEventStore(settings.pg_dsn), catalog, world.operator.verify_key,
            first_topics=["registry"],
        )
        project = ProjectStage(
            PgEventStore(settings.pg_dsn), PgProjectionStore(settings.pg_dsn), catalog=catalog
        )
        verify.process([InMessage("registry", 0, n, w) for n, w in enumerate(registry)])
        parts = len(PUBLISHERS)
        ingest = [
            InMessage("ingest", n % parts, n // parts, w, PUBLISHERS[n % parts].encode())
            for n, w in enumerate(wires)
        ]
        verify_cpu = project_cpu = 0.0
        position = 0
        for start in range(0, len(ingest), batch):
            began = time.process_time()
            result = verify.process(ingest[start:start + batch])
            verify_cpu += time.process_time() - began
            verified = []
            for out in result.outgoing:
                verified.append(
                    InMessage("verified", 0, position, out.value, out.key, dict(out.headers))
                )
                position += 1
            began = time.process_time()
            project.process(verified)
            project_cpu += time.process_time() - began
    finally:
        db.drop_database(settings, name)
    per_verify, per_project = verify_cpu / len(wires), project_cpu / len(wires)
    print(f"bare Ed25519 verify, CPU                 {bare * 1000:7.3f} ms")
    print(
        f"verify stage (verify, store), CPU        {per_verify * 1000:7.3f} ms/event   "
        f"ratio bare / stage {bare / per_verify:6.3f}   ({len(wires)} events, batch {batch})"
    )
    print(f"projection stage, CPU                    {per_project * 1000:7.3f} ms/event")
    return {
        "bare_cpu_ms": bare * 1000,
        "verify_cpu_ms": per_verify * 1000,
        "project_cpu_ms": per_project * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_stages")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    run(args.events, args.batch)


if __name__ == "__main__":
    main()
