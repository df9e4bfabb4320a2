"""Urgent child alerts pushed in widening rings, and tips forwarded: real PostgreSQL, then live."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from pipeline_support import Lane, make_lane
from test_matching_services import inboxes

from hub.config import Settings
from hub.envelope import decode_envelope, decode_payload
from hub.notice import open_notice
from hub.registry import operator_key_paths
from hub.schema_catalog import SchemaCatalog
from hub.store import record_of
from processors.match_stage import MatchStage
from processors.pg_matching import PgMatchStore
from processors.pg_store import PgEventStore
from processors.push_stage import AlertPusher, PgAlertPushes
from processors.route_stage import Router
from processors.testing import SignedWorld, payload_for
from processors.tracking import InMessage

pytestmark = pytest.mark.services

CATALOG = SchemaCatalog.load()
ISSUER = "510000-police"
# Seats' distances from Chengdu's Jinjiang district (510104), where the child was last seen.
RINGS = {
    "510100-police": 100,  # Chengdu itself: its jurisdiction contains the place
    "511000-police": 200,  # Neijiang, about 145 km
    "500000-police": 300,  # Chongqing, about 261 km
    "520300-police": 500,  # Zunyi, about 420 km
}
NEVER = ("520000-police", "320000-police")  # Guiyang about 511 km, Nanjing about 1,400 km
CHILD = {"name": "周佳怡", "sex": "FEMALE", "birth": {"precision": "DAY", "date": date(2019, 6, 1)},
         "id_number": "510104201906010026", "marks": ["左耳后有痣"]}


def _alert_payload(world: SignedWorld, n: int, seen: datetime, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "person": CHILD, "urgency": "IMMEDIATE", "last_seen_at": seen, "jurisdiction": "510000",
        "last_seen_place": {"area_code": "510104", "text": "成都市锦江区春熙路"}, **extra,
    }
    return payload_for("missing-person-alert", n, world.epoch, ISSUER, **fields)


class Sweeps:
    """The match stage (which keeps the open alerts) and two pushers, as on two workers."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.world = SignedWorld(CATALOG)
        self.events = PgEventStore(settings.pg_dsn)
        router = Router(CATALOG, self.world.operator, "t.ingest", lambda p: f"t.notifications.{p}")
        self.stage = MatchStage(self.events, PgMatchStore(settings.pg_dsn), router)
        self.pushers = [
            AlertPusher(PgAlertPushes(settings.pg_dsn), self.world.operator,
                        lambda p: f"t.notifications.{p}")
            for _ in range(2)
        ]
        self.offset = 0
        for pid in (ISSUER, *RINGS, *NEVER):
            self.feed(*self.world.register(pid))

    def feed(self, *wires: bytes) -> None:
        messages = []
        with self.events.transaction() as txn:
            for wire in wires:
                env = decode_envelope(wire)
                txn.append(record_of(env, wire, decode_payload(CATALOG, env)))
                messages.append(InMessage("t.verified", 0, self.offset, wire))
                self.offset += 1
        self.stage.process(messages)

    def pushes(self, kind: str = "ALERT_PUSH") -> list[dict[str, Any]]:
        """Every notice of this kind in the outbox, opened as its recipient would."""
        with psycopg.connect(self.settings.pg_dsn) as conn:
            rows = conn.execute(
                "SELECT topic, msg_value FROM match_outbox ORDER BY id"
            ).fetchall()
        bodies = []
        for topic, value in rows:
            recipient = topic.removeprefix("t.notifications.")
            body = open_notice(bytes(value), self.world.operator.verify_key, recipient).body
            if body["kind"] == kind:
                bodies.append(body)
        return bodies


@pytest.fixture
def sweeps(fresh_db_settings: Settings) -> Iterator[Sweeps]:
    made = Sweeps(fresh_db_settings)
    yield made
    made.events.close()


def test_each_ring_reaches_its_units_once_whichever_worker_sweeps(sweeps: Sweeps) -> None:
    seen = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    sweeps.feed(sweeps.world.event(ISSUER, "missing-person-alert",
                                   payload=_alert_payload(sweeps.world, 1, seen)))
    reached: list[tuple[int, list[str]]] = []
    for step, minutes in enumerate((20, 40, 80, 130, 200, 600)):
        before = len(sweeps.pushes())
        sweeps.pushers[step % 2].sweep(seen + timedelta(minutes=minutes))
        new = sweeps.pushes()[before:]
        reached.append((minutes, sorted(b["recipient"] for b in new)))
        assert all(b["radius_km"] >= RINGS[b["recipient"]] for b in new)
    assert reached == [
        (20, ["510100-police"]),
        (40, []),
        (80, ["511000-police"]),
        (130, ["500000-police"]),
        (200, ["520300-police"]),
        (600, []),
    ]
    pushes = sweeps.pushes()
    assert sorted(b["recipient"] for b in pushes) == sorted(RINGS)  # each unit exactly once
    chongqing = next(b for b in pushes if b["recipient"] == "500000-police")
    assert 250 < chongqing["distance_km"] < 275 and chongqing["alert_id"] == "A-510000-1"
    assert "510104201906010026" not in repr(pushes)  # no identity number leaves with a push
    with psycopg.connect(sweeps.settings.pg_dsn) as conn:
        rows = conn.execute("SELECT count(*), count(DISTINCT unit) FROM alert_pushes").fetchone()
    assert rows == (4, 4)


def test_a_closed_alert_stops_widening_and_a_routine_one_never_starts(sweeps: Sweeps) -> None:
    seen = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    world = sweeps.world
    sweeps.feed(
        world.event(ISSUER, "missing-person-alert", payload=_alert_payload(world, 1, seen)),
        world.event(ISSUER, "missing-person-alert",
                    payload=_alert_payload(world, 2, seen, urgency="ROUTINE")),
    )
    sweeps.pushers[0].sweep(seen + timedelta(minutes=30))
    assert [(b["alert_id"], b["recipient"]) for b in sweeps.pushes()] == [
        ("A-510000-1", "510100-police")
    ]
    closed = payload_for("alert-closed", 1, world.epoch, ISSUER)
    sweeps.feed(world.event(ISSUER, "alert-closed", payload=closed))
    sweeps.pushers[1].sweep(seen + timedelta(hours=5))
    assert len(sweeps.pushes()) == 1


def test_an_update_that_makes_an_alert_urgent_starts_its_push(sweeps: Sweeps) -> None:
    seen = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    world = sweeps.world
    sweeps.feed(world.event(ISSUER, "missing-person-alert",
                            payload=_alert_payload(world, 3, seen, urgency="ROUTINE")))
    assert sweeps.pushers[0].sweep(seen + timedelta(minutes=10)).pushed == 0
    update = payload_for("alert-update", 3, world.epoch, ISSUER)  # urgency IMMEDIATE
    sweeps.feed(world.event(ISSUER, "alert-update", payload=update))
    assert sweeps.pushers[0].sweep(seen + timedelta(minutes=20)).pushed == 1


def _tip(world: SignedWorld, n: int, seen: datetime, **extra: Any) -> bytes:
    fields: dict[str, Any] = {
        "place": {"area_code": "500103", "text": "重庆菜园坝火车站"},
        "seen_at": seen,
        "received_at": seen + timedelta(minutes=20),
        "subject": {"sex": "FEMALE", "dialect": "四川口音",
                    "birth": {"precision": "AGE_RANGE", "age_min": 6, "age_max": 8}},
        **extra,
    }
    payload = payload_for("tip-report", n, world.epoch, "320000-police", **fields)
    return world.event("320000-police", "tip-report", payload=payload)


def test_a_tip_reaches_the_place_police_and_the_issuer_of_the_alert_it_fits(
    sweeps: Sweeps,
) -> None:
    seen = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    world = sweeps.world
    sweeps.feed(world.event(ISSUER, "missing-person-alert",
                            payload=_alert_payload(world, 1, seen)))
    fitting = _tip(world, 1, seen + timedelta(hours=4))
    sweeps.feed(fitting)
    sweeps.feed(fitting)  # delivered again: nothing is sent twice
    tips = sweeps.pushes("TIP_FORWARDED")
    assert sorted((t["recipient"], t["role"]) for t in tips) == [
        ("500000-police", "PLACE_POLICE"), (ISSUER, "ALERT_ISSUER"),
    ]
    issuer_note = next(t for t in tips if t["recipient"] == ISSUER)
    assert [f["alert_id"] for f in issuer_note["fits"]] == ["A-510000-1"]
    assert any("agrees with the home province 510000" in line
               for line in issuer_note["fits"][0]["explanation"])
    # A boy seen there fits no alert: the place's police alone hear of it.
    boy = {"sex": "MALE", "birth": {"precision": "AGE_RANGE", "age_min": 6, "age_max": 8}}
    sweeps.feed(_tip(world, 2, seen + timedelta(hours=5), subject=boy))
    later = [t for t in sweeps.pushes("TIP_FORWARDED") if t["tip_id"] == "TIP-320000-2"]
    assert [(t["recipient"], t["fits"]) for t in later] == [("500000-police", [])]
    with psycopg.connect(sweeps.settings.pg_dsn) as conn:
        rows = conn.execute("SELECT count(*) FROM tip_forwards").fetchone()
    assert rows == (3,)


@pytest.mark.slow
def test_a_running_worker_pushes_a_new_urgent_alert_to_the_ring(
    hub_settings: Settings, tmp_path: Path
) -> None:
    with make_lane(hub_settings, tmp_path) as lane:
        lane.world.operator.save(operator_key_paths(lane.settings.data_dir)[0])
        lane.register(ISSUER, *RINGS, *NEVER)
        lane.start(1)
        # Last seen two and a half hours ago: the radius is 300 km.
        seen = datetime.now(UTC) - timedelta(minutes=150)
        lane.publish([lane.world.event(ISSUER, "missing-person-alert",
                                       payload=_alert_payload(lane.world, 1, seen))])
        within = sorted(unit for unit, radius in RINGS.items() if radius <= 300)

        def pushed(box: Lane) -> list[str]:
            return sorted(
                unit for unit, notes in inboxes(box).items()
                for note in notes if note["kind"] == "ALERT_PUSH"
            )

        lane.wait_for("pushes to the 300 km ring", lambda: pushed(lane) == within, timeout=180)
        assert lane.scalar("SELECT count(*) FROM alert_pushes") == len(within)
