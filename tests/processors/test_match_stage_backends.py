"""The match stage over each match-store backend: the same batches give the same effects in
memory (no PostgreSQL at all) and in PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from hub.envelope import decode_envelope, decode_payload
from hub.matching.memory_store import InMemoryMatchStore
from hub.matching.rules import AlertStatus, PairStatus
from hub.matching.store import MatchStore, Side
from hub.routing import match_id_for
from hub.schema_catalog import SchemaCatalog
from hub.store import EventStore, InMemoryEventStore, record_of
from processors.match_stage import MatchResult, MatchStage
from processors.route_stage import Router
from processors.testing import SignedWorld, payload_for
from processors.verify_stage import InMessage

BACKENDS = ["memory", pytest.param("postgres", marks=pytest.mark.services)]
CATALOG = SchemaCatalog.load()
POLICE = "510000-police"
OTHER_POLICE = "320000-police"
REGISTRY = "320000-migrant-registry"
CHILD = {"name": "周佳怡", "sex": "FEMALE", "birth": {"precision": "DAY", "date": date(2015, 6, 1)}}
ALERT_ID = f"A-{POLICE[:6]}-1"
PAIR = match_id_for(ALERT_ID, f"RECORD:M-{REGISTRY[:6]}-1#0")


class Feeder:
    """Stores events as the verify stage would and feeds them to a stage, in order."""

    def __init__(self, events: EventStore, store: MatchStore) -> None:
        self.world = SignedWorld(CATALOG)
        self.events = events
        self.store = store
        router = Router(CATALOG, self.world.operator, "t.ingest", lambda p: f"t.notifications.{p}")
        self.stage = MatchStage(events, store, router)
        self.offset = 0
        self.last = MatchResult()
        for pid in (POLICE, OTHER_POLICE, REGISTRY):
            self.feed(*self.world.register(pid))

    def feed(self, *wires: bytes) -> list[InMessage]:
        messages = []
        with self.events.transaction() as txn:
            for wire in wires:
                env = decode_envelope(wire)
                txn.append(record_of(env, wire, decode_payload(CATALOG, env)))
                messages.append(InMessage("t.verified", 0, self.offset, wire))
                self.offset += 1
        self.last = self.stage.process(messages)
        return messages

    def alert(self, n: int = 1, person: dict[str, Any] = CHILD) -> bytes:
        payload = payload_for("missing-person-alert", n, self.world.epoch, POLICE, person=person)
        return self.world.event(POLICE, "missing-person-alert", payload=payload)

    def record(self, n: int = 1, child: dict[str, Any] = CHILD) -> bytes:
        payload = payload_for("migrant-record", n, self.world.epoch, REGISTRY)
        payload["children"] = [{"child": child, "guardian_relation": "FATHER"}]
        return self.world.event(REGISTRY, "migrant-record", payload=payload)

    def decision(self, decision: str, n: int = 1) -> bytes:
        payload = payload_for(
            "match-decision", n, self.world.epoch, POLICE, match_id=uuid.UUID(PAIR),
            alert_id=ALERT_ID, decision=decision, decided_at=datetime(2026, 3, 1, 9, n, tzinfo=UTC),
        )
        return self.world.event(POLICE, "match-decision", payload=payload)

    def sent_topics(self) -> list[str]:
        return [m.topic for m in self.store.claim_outbox()]

    def status(self) -> PairStatus | None:
        with self.store.transaction() as txn:
            known = txn.pair(PAIR)
        return None if known is None else known.status


@pytest.fixture(params=BACKENDS)
def feeder(request: pytest.FixtureRequest) -> Iterator[Feeder]:
    if request.param == "memory":
        events = InMemoryEventStore()
        yield Feeder(events, InMemoryMatchStore(events))
        return
    from processors.pg_matching import PgMatchStore
    from processors.pg_store import PgEventStore

    settings = request.getfixturevalue("fresh_db_settings")
    pg_events, store = PgEventStore(settings.pg_dsn), PgMatchStore(settings.pg_dsn)
    yield Feeder(pg_events, store)
    pg_events.close()
    store.close()


def test_a_hit_notifies_once_and_a_redelivery_has_no_second_effect(feeder: Feeder) -> None:
    """The match-found event and both police units' notifications go out once."""
    messages = feeder.feed(feeder.alert(), feeder.record())
    assert feeder.status() is PairStatus.NOTIFIED
    again = feeder.stage.process(messages)
    assert (again.events, again.skipped) == (0, 2)
    assert feeder.sent_topics() == [
        "t.ingest", f"t.notifications.{POLICE}", f"t.notifications.{OTHER_POLICE}"
    ]


def test_the_alert_arriving_second_finds_the_record(feeder: Feeder) -> None:
    """Both directions: a record indexed first is found by the alert that follows it."""
    feeder.feed(feeder.record())
    assert feeder.sent_topics() == []
    feeder.feed(feeder.alert())
    assert feeder.status() is PairStatus.NOTIFIED
    assert len(feeder.sent_topics()) == 3


def test_a_rejected_pair_is_never_notified_again(feeder: Feeder) -> None:
    """After a rejection, an update that re-searches the alert suppresses the same pair."""
    feeder.feed(feeder.alert(), feeder.record())
    feeder.sent_topics()
    feeder.feed(feeder.decision("REJECTED"))
    update = payload_for("alert-update", 1, feeder.world.epoch, POLICE)
    feeder.feed(feeder.world.event(POLICE, "alert-update", payload=update))
    assert (feeder.last.events, feeder.last.suppressed, feeder.last.notified) == (1, 1, 0)
    assert feeder.status() is PairStatus.REJECTED
    assert feeder.sent_topics() == []


def test_a_confirmed_match_takes_the_alert_out_of_matching(feeder: Feeder) -> None:
    """Once confirmed, the alert is no longer indexed and a new look-alike record finds nothing."""
    feeder.feed(feeder.alert(), feeder.record())
    feeder.sent_topics()
    feeder.feed(feeder.decision("CONFIRMED"))
    with feeder.store.transaction() as txn:
        state = txn.alert(ALERT_ID)
        assert state is not None and state.status is AlertStatus.CONFIRMED
        assert txn.remove_persons(ALERT_ID, Side.ALERT) == 0
    feeder.feed(feeder.record(2))
    assert feeder.sent_topics() == []


def test_a_bad_event_is_kept_as_failed_and_the_batch_goes_on(feeder: Feeder) -> None:
    """An alert without its id is named as failed; the events after it still match."""
    bad = payload_for("alert-closed", 7, feeder.world.epoch, POLICE, alert_id="")
    result_wires = [feeder.world.event(POLICE, "alert-closed", payload=bad),
                    feeder.alert(), feeder.record()]
    feeder.feed(*result_wires)
    failures = feeder.store.failures()
    assert [f.event_type for f in failures] == ["alert-closed"]
    assert "field alert_id: missing" in failures[0].reason
    assert feeder.status() is PairStatus.NOTIFIED
