"""Helpers for the pipeline's service tests: an isolated lane, publishing, waiting."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaProducer

from hub import topics
from hub.config import Settings
from hub.envelope import decode_envelope
from hub.schema_catalog import SchemaCatalog
from ops import db
from processors import topic_admin
from processors.app import ANCHOR_ENV
from processors.supervisor import start_workers, stop_workers, workers
from processors.testing import SignedWorld

CATALOG = SchemaCatalog.load()


@dataclass
class Lane:
    """One test's own topics, database, signed world and workers."""

    settings: Settings
    world: SignedWorld
    producer: KafkaProducer
    started: list[int] = field(default_factory=list)

    def topic(self, suffix: str) -> str:
        return topics.topic_name(self.settings, suffix)

    def publish(self, wires: Iterable[bytes], suffix: str = "ingest") -> int:
        """Send wire bytes keyed by their publisher id, as a connector does; how many."""
        count = 0
        for wire in wires:
            try:
                key = decode_envelope(wire).publisher_id.encode()
            except Exception:  # malformed on purpose in some tests
                key = b"unknown"
            self.producer.send(self.topic(suffix), key=key, value=wire)
            count += 1
        self.producer.flush(timeout=60)
        return count

    def register(self, *participants: str, with_key: bool = True) -> None:
        """Publish registrations (participant and key) on the registry topic."""
        for pid in participants:
            self.publish(self.world.register(pid, with_key=with_key), "registry")

    def register_and_wait(self, *participants: str, with_key: bool = True) -> None:
        """Register through running workers and wait until the store holds the registrations.

        Waiting matters: registry and ingest partitions may sit with different workers, and an
        event overtaking its publisher's registration is quarantined (UNKNOWN_PUBLISHER).
        """
        query = "SELECT count(*) FROM event_store WHERE publisher_id = '000000-hub-operator'"
        before = self.scalar(query)
        wires = [w for pid in participants for w in self.world.register(pid, with_key=with_key)]
        self.publish(wires, "registry")
        self.wait_for("registrations stored", lambda: self.scalar(query) == before + len(wires))

    def start(self, count: int = 1) -> None:
        env = {ANCHOR_ENV: self.world.operator.verify_key.base64}
        start_workers(self.settings, count, env=env, batch=500)

    def environment(self) -> dict[str, str]:
        """HUB_* variables that make hubctl talk to this lane."""
        return self.settings.as_environment()

    def pids(self) -> list[int]:
        return [w.pid for w in workers(self.settings) if w.pid is not None]

    def scalar(self, query: str, *params: Any) -> Any:
        with psycopg.connect(self.settings.pg_dsn) as conn:
            row = conn.execute(query, params).fetchone()
        return None if row is None else row[0]

    def wait_for(
        self, what: str, check: Callable[[], bool], timeout: float = 120.0, every: float = 0.5
    ) -> None:
        """Poll until check() holds; fail naming what did not happen and the workers' logs."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(every)
        logs = "\n".join(_tail(w.log_file) for w in workers(self.settings))
        raise AssertionError(f"timed out waiting for {what}\n{logs}")


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return f"--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"--- {path}: no log"


@contextmanager
def make_lane(base: Settings, data_dir: Path) -> Iterator[Lane]:
    """Fresh prefix, migrated database and topics under the run's settings; removed after."""
    rid = secrets.token_hex(3)
    name = f"{base.pg_database}_{rid}"
    settings = db.create_database(base, name, exist_ok=False).with_overrides(
        topic_prefix=f"{base.topic_prefix}{rid}.", data_dir=data_dir
    )
    db.migrate(settings.pg_owner_dsn)
    topic_admin.apply(settings)
    producer = KafkaProducer(**settings.kafka_config(), acks="all", linger_ms=10)
    lane = Lane(settings, SignedWorld(CATALOG), producer)
    try:
        yield lane
    finally:
        stop_workers(settings, timeout=20)
        producer.close(timeout=5)
        db.drop_database(settings, name)
        topic_admin.delete_prefixed(settings)
