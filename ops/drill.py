"""The outside probes of issue 11, on demand: hostile and careless messages sent at a hub's
ingest, and what became of each (`hubctl drill`).

The drill never touches the hub's own data. It runs in a namespace of its own on the same
services (topic prefix `<prefix>drill<hex>.`, database `<db>_drill_<hex>`, a fresh hub operator
key and registry), with one pipeline worker of its own, and removes all of it afterwards. It
writes with the operator's broker login, as a participant's client that reached the broker
would (ACLs let a participant write the ingest topic and nothing else).

Each probe kind says what must happen to its messages: stored, or quarantined with a reason.
A message that ends neither stored nor quarantined once the verify stage has moved past it is
lost; the drill reports it and exits 1.
"""

from __future__ import annotations

import secrets
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaProducer

from hub import topics
from hub.config import Settings
from hub.envelope import decode_envelope
from hub.identity import HUB_OPERATOR_ID
from hub.registry import operator_key_paths
from hub.schema_catalog import SchemaCatalog
from ops import db
from processors import topic_admin
from processors.app import ANCHOR_ENV
from processors.supervisor import start_workers, stop_workers
from processors.testing import SignedWorld, payload_for
from processors.verify_stage import RETRY_HEADER

POLICE = "320000-police"
OTHER_POLICE = "510000-police"
STORED, QUARANTINED = "stored", "quarantined"


@dataclass
class Probe:
    """Messages of one kind and the outcome each must have."""

    kind: str
    expected: str
    sent: list[tuple[int, int, bytes]] = field(default_factory=list)  # partition, offset, value
    stored: int = 0
    quarantined: int = 0
    reasons: set[str] = field(default_factory=set)

    @property
    def lost(self) -> int:
        return len(self.sent) - self.stored - self.quarantined

    @property
    def as_expected(self) -> bool:
        got = self.stored if self.expected == STORED else self.quarantined
        return got == len(self.sent)


@dataclass
class DrillReport:
    """What a drill found: each probe's outcome, whether the stage settled, how long it took."""
    probes: list[Probe]
    settled: bool  # the verify stage moved past every message in time
    open_entries_kept: bool  # a forged retry header resolved no quarantine entry
    seconds: float

    @property
    def ok(self) -> bool:
        """True when nothing was lost, every probe ended as expected and the stage settled."""
        return (self.settled and self.open_entries_kept
                and all(p.lost == 0 and p.as_expected for p in self.probes))


class Drill:
    """One drill run in its own namespace (see the module docstring)."""

    def __init__(self, base: Settings, *, count: int, timeout: float,
                 say: Callable[[str], None] = print) -> None:
        self.base = base
        self.count = count
        self.timeout = timeout
        self.say = say
        self.world = SignedWorld(SchemaCatalog.load())
        self.n = 0

    def run(self) -> DrillReport:
        started = time.monotonic()
        with self._namespace() as settings:
            producer = KafkaProducer(**settings.kafka_config(), acks="all",
                                     max_request_size=2_000_000)
            try:
                self._register(settings, producer)
                probes = self._probe(settings, producer)
                self.say(f"waiting (at most {self.timeout:.0f}s) for the hub to settle ...")
                settled = self._wait_settled(settings, probes)
                kept = self._count(settings, probes)
            finally:
                producer.close(timeout=5)
        return DrillReport(probes, settled, kept, time.monotonic() - started)

    @contextmanager
    def _namespace(self) -> Iterator[Settings]:
        tag = secrets.token_hex(3)
        name = f"{self.base.pg_database}_drill_{tag}"
        with tempfile.TemporaryDirectory(prefix="hub-drill-") as data_dir:
            settings = db.create_database(self.base, name, exist_ok=False).with_overrides(
                topic_prefix=f"{self.base.topic_prefix}drill{tag}.", data_dir=Path(data_dir)
            )
            self.say(f"namespace {settings.topic_prefix} database {name}")
            try:
                db.migrate(settings.pg_owner_dsn)
                topic_admin.apply(settings)
                self.world.operator.save(operator_key_paths(settings.data_dir)[0])
                env = {ANCHOR_ENV: self.world.operator.verify_key.base64}
                start_workers(settings, 1, env=env)
                self.say("worker started")
                yield settings
            finally:
                stop_workers(settings, timeout=20)
                db.drop_database(self.base, name)
                topic_admin.delete_prefixed(settings)
                self.say("namespace removed")

    def _register(self, settings: Settings, producer: KafkaProducer) -> None:
        registry = topics.topic_name(settings, "registry")
        wires = [w for pid in (POLICE, OTHER_POLICE) for w in self.world.register(pid)]
        for wire in wires:
            producer.send(registry, key=HUB_OPERATOR_ID.encode(), value=wire)
        producer.flush()
        self._until(lambda: _scalar(settings, "SELECT count(*) FROM event_store") >= len(wires),
                    "registrations stored")

    def _honest(self, publisher: str = POLICE, event_type: str = "tip-report",
                **extra: Any) -> bytes:
        self.n += 1
        payload = payload_for(event_type, self.n, self.world.epoch, publisher, **extra)
        return self.world.event(publisher, event_type, self.n, payload=payload)

    def _probe(self, settings: Settings, producer: KafkaProducer) -> list[Probe]:
        ingest = topics.topic_name(settings, "ingest")
        count = self.count

        def send(probe: Probe, value: bytes, key: bytes | None = POLICE.encode(),
                 headers: list[tuple[str, bytes]] | None = None) -> None:
            meta = producer.send(ingest, key=key, value=value, headers=headers or []).get(30)
            probe.sent.append((meta.partition, meta.offset, value))

        probes: list[Probe] = []

        def kind(name: str, expected: str) -> Probe:
            probes.append(Probe(name, expected))
            self.say(f"probe {name}: {count} messages")
            return probes[-1]

        honest = kind("honest events", STORED)
        alerts = [self._honest(event_type="missing-person-alert") for _ in range(count)]
        for wire in alerts:
            send(honest, wire)
        probe = kind("NUL in the Kafka key", STORED)
        for _ in range(count):
            send(probe, self._honest(), key=b"320000\x00police")
        probe = kind("NUL in a signed text field", QUARANTINED)
        for _ in range(count):
            send(probe, self._honest(text="车站\x00附近"))
        probe = kind("1,000,000-byte message", QUARANTINED)
        for _ in range(count):
            send(probe, self._honest() + b"\x00" * (1_000_000 - 600))
        probe = kind("random bytes", QUARANTINED)
        for _ in range(count):
            send(probe, secrets.token_bytes(200), key=None)
        probe = kind("one byte flipped", QUARANTINED)
        for i in range(count):
            flipped = bytearray(self._honest())
            flipped[(40 + 37 * i) % len(flipped)] ^= 0x5A  # header, payload, signature
            send(probe, bytes(flipped))
        probe = kind("forged x-hub-retry-of header", STORED)
        for _ in range(count):
            send(probe, self._honest(), headers=[(RETRY_HEADER, b"1")])
        probe = kind("another unit closes an alert", QUARANTINED)
        for i in range(count):  # the honest alerts above are A-320000-1 .. A-320000-<count>
            closing = payload_for("alert-closed", i, self.world.epoch, OTHER_POLICE)
            closing["alert_id"] = f"A-320000-{i + 1}"
            send(probe, self.world.event(OTHER_POLICE, "alert-closed", i, payload=closing),
                 key=OTHER_POLICE.encode())
        probe = kind("decision on a match never found", QUARANTINED)
        for i in range(count):
            decision = payload_for("match-decision", i, self.world.epoch, POLICE,
                                   match_id=uuid.uuid4())
            send(probe, self.world.event(POLICE, "match-decision", i, payload=decision))
        probe = kind("keyless resend of a stored event", STORED)
        for wire in alerts:
            send(probe, wire, key=None)
        producer.flush()
        return probes

    def _wait_settled(self, settings: Settings, probes: list[Probe]) -> bool:
        last: dict[int, int] = {}
        for probe in probes:
            for partition, offset, _ in probe.sent:
                last[partition] = max(last.get(partition, -1), offset)
        ingest = topics.topic_name(settings, "ingest")

        def settled() -> bool:
            with psycopg.connect(settings.pg_dsn) as conn:
                rows = conn.execute(
                    'SELECT partition, "offset" FROM processed WHERE consumer = %s AND topic = %s',
                    ("verify", ingest),
                ).fetchall()
            done: dict[int, int] = {row[0]: row[1] for row in rows}
            return all(done.get(p, -1) >= offset for p, offset in last.items())

        return self._until(settled, "the verify stage past every probe", fail=False)

    def _count(self, settings: Settings, probes: list[Probe]) -> bool:
        ingest = topics.topic_name(settings, "ingest")
        with psycopg.connect(settings.pg_dsn) as conn:
            quarantined = {
                (row[0], row[1]): row[2]
                for row in conn.execute(
                    "SELECT source_partition, source_offset, reason FROM quarantine "
                    "WHERE source_topic = %s", (ingest,)
                )
            }
            for probe in probes:
                for partition, offset, value in probe.sent:
                    reason = quarantined.get((partition, offset))
                    if reason is not None:
                        probe.quarantined += 1
                        probe.reasons.add(reason)
                    elif _stored(conn, value):
                        probe.stored += 1
            entry = conn.execute("SELECT status FROM quarantine WHERE id = 1").fetchone()
        return entry is None or entry[0] != "resolved"

    def _until(self, check: Callable[[], bool], what: str, *, fail: bool = True) -> bool:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.5)
        if fail:
            raise TimeoutError(f"drill: timed out waiting for {what}")
        return False


def _stored(conn: psycopg.Connection[Any], value: bytes) -> bool:
    try:
        event_id = str(decode_envelope(value).event_id)
    except Exception:
        return False
    row = conn.execute("SELECT wire FROM event_store WHERE event_id = %s", (event_id,)).fetchone()
    return row is not None and bytes(row[0]) == value


def _scalar(settings: Settings, query: str) -> Any:
    with psycopg.connect(settings.pg_dsn) as conn:
        row = conn.execute(query).fetchone()
    return None if row is None else row[0]
