"""Matching partitioned by blocking key, without Kafka: the match stage indexes and sends probes,
two key-stage workers each score the keys of their partitions (over each store backend)."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from datetime import date

import pytest

from hub.envelope import decode_envelope, decode_payload
from hub.matching.memory_store import InMemoryMatchStore
from hub.matching.rules import PairStatus
from hub.matching.store import MatchStore, Outbox, OutboxMessage
from hub.routing import match_id_for
from hub.schema_catalog import SchemaCatalog
from hub.store import EventStore, InMemoryEventStore, record_of
from processors.match_key_stage import KeyStage
from processors.match_stage import MatchStage
from processors.route_stage import Router
from processors.testing import SignedWorld, payload_for
from processors.verify_stage import InMessage

BACKENDS = ["memory", pytest.param("postgres", marks=pytest.mark.services)]
CATALOG = SchemaCatalog.load()
KEYED = "t.match-keys"
PARTITIONS = 6
POLICE = "510000-police"
OTHER_POLICE = "320000-police"
REGISTRY = "320000-migrant-registry"
CHILDREN = {
    1: {"name": "周佳怡", "sex": "FEMALE", "birth": {"precision": "DAY", "date": date(2015, 6, 1)}},
    2: {"name": "吴雨桐", "sex": "MALE", "birth": {"precision": "DAY", "date": date(2012, 3, 9)}},
}


class Cluster:
    """A match stage and two key-stage workers, each with its own store handle; probes are
    spread over partitions by key and each worker owns half of them."""

    def __init__(self, events: EventStore, reopen: Callable[[], MatchStore]) -> None:
        self.world = SignedWorld(CATALOG)
        self.events = events
        self.store = reopen()
        router = Router(CATALOG, self.world.operator, "t.ingest", lambda p: f"t.notifications.{p}")
        self.stage = MatchStage(events, self.store, router, fan_out=KEYED)
        self.workers = []
        for _ in range(2):
            handle = reopen()
            scorer = MatchStage(events, handle, router, fan_out=KEYED)
            self.workers.append(KeyStage(scorer, handle))
        self.offset = 0
        self.log: dict[int, list[InMessage]] = {p: [] for p in range(PARTITIONS)}
        self.sent: list[OutboxMessage] = []
        for pid in (POLICE, OTHER_POLICE, REGISTRY):
            self.feed(*self.world.register(pid))

    def feed(self, *wires: bytes) -> None:
        """Store and match events, then move the outbox: probes onto their key's partition."""
        messages = []
        with self.events.transaction() as txn:
            for wire in wires:
                env = decode_envelope(wire)
                txn.append(record_of(env, wire, decode_payload(CATALOG, env)))
                messages.append(InMessage("t.verified", 0, self.offset, wire))
                self.offset += 1
        self.stage.process(messages)
        self.move_outbox()

    def move_outbox(self) -> None:
        messages = self.store.claim_outbox()
        self.store.mark_sent([m.id for m in messages])
        self.sent += messages
        assert {m.topic for m in messages}.isdisjoint({KEYED})
        probes = self.store.claim_outbox(box=Outbox.PROBES)
        self.store.mark_sent([m.id for m in probes], Outbox.PROBES)
        for message in probes:
            assert message.topic == KEYED
            partition = zlib.crc32(message.key or b"") % PARTITIONS
            log = self.log[partition]
            log.append(InMessage(KEYED, partition, len(log), message.value, message.key))

    def run(self, worker: int, upto: int | None = None) -> int:
        """The worker processes what its partitions hold (or the first `upto` of each)."""
        batch = [m for p, log in self.log.items() if p % 2 == worker for m in log[:upto]]
        result = self.workers[worker].process(batch)
        self.move_outbox()
        return result.notified

    def notifications(self) -> list[str]:
        return [m.topic for m in self.sent]

    def alert(self, n: int = 1) -> bytes:
        payload = payload_for("missing-person-alert", n, self.world.epoch, POLICE,
                              person=CHILDREN[n])
        return self.world.event(POLICE, "missing-person-alert", payload=payload)

    def record(self, n: int = 1) -> bytes:
        payload = payload_for("migrant-record", n, self.world.epoch, REGISTRY)
        payload["children"] = [{"child": CHILDREN[n], "guardian_relation": "FATHER"}]
        return self.world.event(REGISTRY, "migrant-record", payload=payload)

    def pair_status(self, n: int = 1) -> tuple[PairStatus | None, int]:
        match_id = match_id_for(f"A-{POLICE[:6]}-{n}", f"RECORD:M-{REGISTRY[:6]}-{n}#0")
        with self.store.transaction() as txn:
            known = txn.pair(match_id)
        found = sum(1 for m in self.sent if m.key == match_id.encode())
        return (None if known is None else known.status), found


@pytest.fixture(params=BACKENDS)
def cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    if request.param == "memory":
        events = InMemoryEventStore()
        shared = InMemoryMatchStore(events)
        yield Cluster(events, lambda: shared)
        return
    from processors.pg_matching import PgMatchStore
    from processors.pg_store import PgEventStore

    settings = request.getfixturevalue("fresh_db_settings")
    pg_events = PgEventStore(settings.pg_dsn)
    handles: list[PgMatchStore] = []

    def reopen() -> MatchStore:
        handles.append(PgMatchStore(settings.pg_dsn))
        return handles[-1]

    yield Cluster(pg_events, reopen)
    pg_events.close()
    for handle in handles:
        handle.close()


def test_a_pair_sharing_keys_on_both_workers_is_one_match_notified_once(cluster: Cluster) -> None:
    """Alert and record share keys spread over both workers' partitions, and both sides send
    probes: the pair is notified once, to both police units."""
    cluster.feed(cluster.alert(), cluster.record())
    owners = {p % 2 for p, log in cluster.log.items() if log}
    assert owners == {0, 1}  # the keys really are spread over both workers
    assert cluster.notifications() == []  # nothing is scored before the keys' owners run
    assert cluster.run(0) + cluster.run(1) == 1
    assert cluster.pair_status() == (PairStatus.NOTIFIED, 2)
    assert sorted(set(cluster.notifications())) == sorted(
        ["t.ingest", f"t.notifications.{POLICE}", f"t.notifications.{OTHER_POLICE}"]
    )
    assert len(cluster.notifications()) == 3


def test_redelivered_probes_and_a_worker_restarted_midway_repeat_nothing(
    cluster: Cluster,
) -> None:
    """A worker that processed part of its partitions and restarts gets them all again: what
    it had done is skipped, the rest is done, and nothing is notified twice."""
    cluster.feed(cluster.alert(1), cluster.alert(2))
    cluster.feed(cluster.record(1), cluster.record(2))
    cluster.run(0, upto=1)
    cluster.run(1, upto=1)
    first = len(cluster.notifications())
    cluster.run(0)
    cluster.run(1)
    cluster.run(0)  # delivered once more: positions say it is done
    cluster.run(1)
    for n in (1, 2):
        assert cluster.pair_status(n) == (PairStatus.NOTIFIED, 2)
    assert len(cluster.notifications()) == 6 >= first
    assert cluster.store.failures() == []


def test_the_record_arriving_first_is_found_by_the_alert_at_once(cluster: Cluster) -> None:
    """Either order: a record indexed before the alert existed is found by the alert in the
    match stage itself, before any key owner runs (a backlog of probes does not delay a new
    alert); the alert's probes find the pair again and notify nothing more."""
    cluster.feed(cluster.record())
    assert cluster.run(0) + cluster.run(1) == 0
    cluster.feed(cluster.alert())
    assert cluster.pair_status() == (PairStatus.NOTIFIED, 2)
    assert any(log for log in cluster.log.values())  # the alert's probes did go out
    assert cluster.run(0) + cluster.run(1) == 0
    assert cluster.pair_status() == (PairStatus.NOTIFIED, 2)
    assert len(cluster.notifications()) == 3


def test_an_alert_found_at_once_and_by_a_probe_in_flight_is_one_match(cluster: Cluster) -> None:
    """A record indexed while its probes wait unscored, then the alert: the alert's own search
    notifies the pair, and the record's probes and the alert's, scored later, repeat nothing."""
    cluster.feed(cluster.record())
    cluster.feed(cluster.alert())
    assert cluster.pair_status() == (PairStatus.NOTIFIED, 2)
    assert cluster.run(0) + cluster.run(1) == 0
    assert cluster.run(0) + cluster.run(1) == 0
    assert len(cluster.notifications()) == 3
    assert cluster.store.failures() == []


def test_a_probe_that_is_not_one_is_kept_as_failed(cluster: Cluster) -> None:
    """A message on the keyed topic that is no probe is named by its place; the rest go on."""
    cluster.log[0].append(InMessage(KEYED, 0, len(cluster.log[0]), b"not json"))
    cluster.feed(cluster.alert(), cluster.record())
    cluster.run(0)
    cluster.run(1)
    failures = cluster.store.failures()
    assert [(f.event_id, f.event_type) for f in failures] == [(f"{KEYED}[0]@0", "match-probe")]
    assert "not a matching probe" in failures[0].reason
    assert cluster.pair_status() == (PairStatus.NOTIFIED, 2)
