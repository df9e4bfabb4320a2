"""The pipeline end to end: real Kafka, PostgreSQL and detached Faust worker processes."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from pipeline_support import Lane, make_lane
from rich.console import Console

from connectors.outbox import PendingEvent
from connectors.transport import KafkaSender
from hub.config import Settings
from hub.envelope import decode_envelope
from hub.keys import generate_keypair
from hub.projection_store import checksum_rows
from hub.projections import CATALOG
from hub.registry import operator_key_paths
from hub.schema_catalog import SchemaCatalog
from hub.store import QuarantineStatus
from ops.cli import main as hubctl
from ops.cli.pipeline import render
from ops.services import postgres
from processors.operations import rebuild_projections, replay, snapshot
from processors.pg_projections import PgProjectionStore
from processors.pg_store import PgEventStore
from processors.supervisor import stop_workers, workers
from processors.testing import SignedWorld, payload_for

CATALOG_SCHEMAS = SchemaCatalog.load()

pytestmark = [pytest.mark.services, pytest.mark.slow]

POLICE = "320000-police"
MIGRANTS = "320500-migrant-registry"
CIVIL = "530000-civil-affairs"


@pytest.fixture
def lane(hub_settings: Settings, tmp_path: Path) -> Iterator[Lane]:
    with make_lane(hub_settings, tmp_path) as made:
        yield made


def table_checksums(settings: Settings) -> dict[str, str]:
    projections = PgProjectionStore(settings.pg_dsn)
    try:
        return {t.name: checksum_rows(projections.rows(t.name)) for t in CATALOG.tables()}
    finally:
        projections.close()


def test_events_reach_store_and_projections(lane: Lane) -> None:
    """Registry and participant events flow through verify into the store and projections."""
    lane.start(1)
    lane.register_and_wait(POLICE, MIGRANTS, CIVIL)
    w = lane.world
    wires = [
        w.event(POLICE, "missing-person-alert", 1),
        w.event(POLICE, "alert-update", 1),
        w.event(POLICE, "missing-person-alert", 2),
        w.event(POLICE, "alert-closed", 2),
        w.event(MIGRANTS, "migrant-record", 7),
        w.event(CIVIL, "rescue-notice", 9),
        w.event(CIVIL, "case-follow-up", 9),
        # The hub's match on the police's alert 1, and the police's decision on it.
        w.event(
            "000000-hub-operator",
            "match-found",
            1,
            payload=payload_for("match-found", 1, w.epoch, POLICE),
        ),
        w.event(POLICE, "match-decision", 1),
    ]
    # The migrant registry's record goes through the connector's own sender, the others
    # through a bare producer keyed the same way.
    sender = KafkaSender(lane.settings.kafka, lane.topic("ingest"), MIGRANTS)
    record = wires[4]
    sender.send([PendingEvent(1, str(decode_envelope(record).event_id), "migrant-record", record)])
    sender.flush(30)
    sender.close()
    lane.publish(w for w in wires if w is not record)
    total = len(wires) + 6  # three participants, each registered with one key
    lane.wait_for(
        "all events stored", lambda: lane.scalar("SELECT count(*) FROM event_store") == total
    )
    lane.wait_for(
        "all events projected",
        lambda: lane.scalar("SELECT count(DISTINCT event_id) FROM proj_applied") == total,
    )
    assert lane.scalar("SELECT status FROM proj_alerts WHERE alert_id = 'A-320000-1'") == "open"
    assert lane.scalar("SELECT updates FROM proj_alerts WHERE alert_id = 'A-320000-1'") == 1
    assert lane.scalar("SELECT status FROM proj_alerts WHERE alert_id = 'A-320000-2'") == "closed"
    children = "SELECT count(*) FROM proj_migrant_children WHERE record_id = %s"
    assert lane.scalar(children, "M-320500-7") == 2
    assert (
        lane.scalar("SELECT follow_ups FROM proj_rescue_cases WHERE rescue_id = %s", "R-530000-9")
        == 1
    )
    assert lane.scalar("SELECT decision FROM proj_matches") == "CONFIRMED"
    assert lane.scalar("SELECT count(*) FROM proj_participant_keys") == 3
    assert lane.scalar("SELECT count(*) FROM quarantine") == 0
    # Anyone can re-verify later: the stored wire bytes are the published bytes.
    stored = PgEventStore(lane.settings.pg_dsn)
    assert {s.record.wire for s in stored.read(limit=100)} >= set(wires)
    # What `hubctl status` shows: sizes, lag (drained once Faust commits), publishers, rows.
    lane.wait_for(
        "lag drained", lambda: all((t.lag or 0) == 0 for t in snapshot(lane.settings).topics)
    )
    snap = snapshot(lane.settings)
    sizes = {t.name: t.end_offset for t in snap.topics}
    assert sizes[lane.topic("ingest")] == len(wires) and snap.stored_events == total
    assert {p.publisher_id: p.last_sequence for p in snap.publishers}[POLICE] == 5
    assert snap.projections["proj_migrant_children"] == 2 and snap.quarantine == {}
    console = Console(record=True, width=120)
    console.print(render(snap))
    assert lane.topic("verified") in console.export_text()
    # Replaying the whole ingest log re-feeds every event; the store absorbs them all.
    assert sum(replay(lane.settings, from_offset=0).values()) == len(wires)
    lane.wait_for(
        "replayed copies absorbed",
        lambda: lane.scalar("SELECT sum(duplicates) FROM publisher_sequences") == len(wires),
    )
    assert stored.count() == total
    assert stored.quarantined() == []
    stored.close()


def test_rejections_are_quarantined_and_retry_succeeds(
    lane: Lane, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each rejection reason is quarantined; a late key re-drives, an operator retry is safe."""
    lane.start(1)
    lane.register_and_wait(POLICE)
    lane.register_and_wait(MIGRANTS, with_key=False)
    w = lane.world
    w.keys["450000-police"] = generate_keypair()  # has a key but was never registered
    dup_id = uuid.uuid4()
    good = w.event(POLICE, "tip-report", 1)
    first = w.event(POLICE, "tip-report", 2, event_id=dup_id)
    cases = {
        "MALFORMED": b"EXH\x01 truncated",
        "UNKNOWN_PUBLISHER": w.event("450000-police", "tip-report", 3),
        "UNKNOWN_KEY": w.event(MIGRANTS, "migrant-record", 4),
        "BAD_SIGNATURE": good[:-1] + bytes([good[-1] ^ 0x55]),
        "NOT_PERMITTED": w.event(POLICE, "rescue-notice", 5),
        "KEY_NOT_YET_VALID": w.event(
            POLICE, "tip-report", 6, published_at=w.epoch - timedelta(days=3)
        ),
        "DUPLICATE": w.event(POLICE, "tip-report", 7, event_id=dup_id),
    }
    lane.publish([good, first])
    lane.wait_for(
        "good events stored",
        lambda: (
            lane.scalar("SELECT count(*) FROM event_store WHERE publisher_id = %s", POLICE) == 2
        ),
    )
    lane.publish(cases.values())
    lane.wait_for(
        "every rejection quarantined",
        lambda: lane.scalar("SELECT count(*) FROM quarantine") == len(cases),
    )
    store = PgEventStore(lane.settings.pg_dsn)
    by_reason = {e.reason: e for e in store.quarantined()}
    assert set(by_reason) == set(cases)
    for reason, wire in cases.items():
        assert by_reason[reason].wire == wire, reason
    # The cause is fixed: the migrant registry's key is registered late; re-drive its event.
    lane.publish([w.add_key(MIGRANTS)], "registry")
    lane.wait_for(
        "late key stored",
        lambda: lane.scalar("SELECT count(*) FROM event_store WHERE event_type = 'key-added'") == 2,
    )
    entry = by_reason["UNKNOWN_KEY"]
    # The late key re-drives the event by itself: no operator needed.
    lane.wait_for(
        "event re-driven by the registration",
        lambda: (
            lane.scalar("SELECT count(*) FROM event_store WHERE publisher_id = %s", MIGRANTS) == 1
        ),
    )
    lane.wait_for("entry resolved", lambda: _status(store, entry.id) is QuarantineStatus.RESOLVED)
    # An operator's retry of the same entry is still safe: the copy is absorbed.
    for name, value in lane.environment().items():
        monkeypatch.setenv(name, value)
    assert hubctl(["quarantine", "list", "--reason", "UNKNOWN_KEY"]) == 0
    assert hubctl(["quarantine", "show", str(entry.id)]) == 0
    assert hubctl(["quarantine", "retry", str(entry.id)]) == 0
    shown = capsys.readouterr().out
    assert "320500-migrant-registry has no key" in shown and f"re-driven #{entry.id}" in shown
    lane.wait_for(
        "retried event stored",
        lambda: (
            lane.scalar("SELECT count(*) FROM event_store WHERE publisher_id = %s", MIGRANTS) == 1
        ),
    )
    lane.wait_for("entry resolved", lambda: _status(store, entry.id) is QuarantineStatus.RESOLVED)
    lane.wait_for(
        "record projected",
        lambda: (
            lane.scalar(
                "SELECT count(*) FROM proj_migrant_children WHERE record_id = %s", "M-320500-4"
            )
            == 2
        ),
    )
    store.close()


def _status(store: PgEventStore, entry_id: int) -> QuarantineStatus | None:
    entry = store.quarantine_entry(entry_id)
    return None if entry is None else entry.status


PUBLISHERS = [
    f"{code}-police"
    for code in ("320000", "340000", "410000", "510000", "520000", "530000", "450000", "350000")
]
TYPES = ["missing-person-alert", "tip-report", "alert-update", "alert-closed"]


@pytest.fixture(scope="module")
def big_stream() -> tuple[SignedWorld, list[bytes], list[bytes]]:
    """Signed once per module: registry events of 8 police units and 20,000 of their events."""
    world = SignedWorld(CATALOG_SCHEMAS)
    registry = [wire for pid in PUBLISHERS for wire in world.register(pid)]
    per = 20_000 // len(PUBLISHERS)
    # Updates and closes name the unit's alert two and three events before them: a change to
    # an alert the hub never received would be quarantined (UNKNOWN_SUBJECT).
    back = {"alert-update": 2, "alert-closed": 3}
    events = []
    for i in range(per):
        kind = TYPES[i % len(TYPES)]
        events += [world.event(pid, kind, i + 1 - back.get(kind, 0)) for pid in PUBLISHERS]
    return world, registry, events


def test_sigkill_mid_stream_then_restart_stores_each_event_once(
    lane: Lane, big_stream: tuple[SignedWorld, list[bytes], list[bytes]]
) -> None:
    """20,000 events, two workers, one SIGKILLed mid-stream: each event once, rebuild = live."""
    lane.world, registry, wires = big_stream
    lane.start(2)
    # Participants are registered before they publish: the registry topic and the ingest topic
    # are read by different workers, so an event overtaking its publisher's registration would
    # be quarantined (UNKNOWN_PUBLISHER) until re-driven.
    lane.publish(registry, "registry")
    lane.wait_for(
        "registry stored", lambda: lane.scalar("SELECT count(*) FROM event_store") == len(registry)
    )
    lane.publish(wires)
    lane.wait_for(
        "a quarter stored",
        lambda: lane.scalar("SELECT count(*) FROM event_store") >= len(wires) // 4,
        timeout=300,
        every=0.2,
    )
    victim = lane.pids()[0]
    os.kill(victim, signal.SIGKILL)
    lane.wait_for("victim gone", lambda: victim not in lane.pids(), timeout=30)
    lane.start(2)  # restarts the killed slot
    expected = len(wires) + len(registry)
    lane.wait_for(
        "every event stored",
        lambda: lane.scalar("SELECT count(*) FROM event_store") == expected,
        timeout=600,
        every=1.0,
    )
    lane.wait_for(
        "every event projected",
        lambda: lane.scalar("SELECT count(DISTINCT event_id) FROM proj_applied") == expected,
        timeout=300,
    )
    assert lane.scalar("SELECT count(DISTINCT event_id) FROM event_store") == expected
    assert lane.scalar("SELECT count(*) FROM quarantine") == 0
    assert lane.scalar("SELECT sum(gaps + replays) FROM publisher_sequences") == 0
    live = table_checksums(lane.settings)
    _, rebuilt = rebuild_projections(lane.settings)
    assert rebuilt == live


def test_a_worker_starting_on_a_backlog_reads_the_registry_first(
    lane: Lane, big_stream: tuple[SignedWorld, list[bytes], list[bytes]]
) -> None:
    """Registrations and their participants' events all waiting when the worker starts: the
    registry is read to its end before the ingest topic, so no event is quarantined for a
    registration still unread (and then sent back round once it is)."""
    lane.world, registry, wires = big_stream
    lane.publish(registry, "registry")
    lane.publish(wires[:6_000])
    lane.start(1)
    expected = len(registry) + 6_000
    lane.wait_for(
        "every event stored",
        lambda: lane.scalar("SELECT count(*) FROM event_store") == expected,
        timeout=300,
        every=0.5,
    )
    assert lane.scalar("SELECT count(*) FROM quarantine") == 0


def test_postgres_outage_under_load_loses_nothing(lane: Lane, hub_settings: Settings) -> None:
    """PostgreSQL stopped for a few seconds under load: the worker waits, then catches up."""
    lane.start(1)
    lane.register_and_wait(POLICE, CIVIL)
    wires = [lane.world.event(POLICE, "tip-report", i) for i in range(1, 1501)]
    wires += [lane.world.event(CIVIL, "rescue-notice", i) for i in range(1, 1501)]
    lane.publish(wires[:1000])
    lane.wait_for(
        "load under way", lambda: lane.scalar("SELECT count(*) FROM event_store") >= 500, every=0.1
    )
    try:
        # Only PostgreSQL, and briefly: other test runs share this server.
        postgres.stop(hub_settings)
        lane.publish(wires[1000:])
        time.sleep(3)
    finally:
        postgres.start(hub_settings)
    expected = len(wires) + 4
    lane.wait_for(
        "caught up",
        lambda: lane.scalar("SELECT count(*) FROM event_store") == expected,
        timeout=300,
    )
    lane.wait_for(
        "projections caught up",
        lambda: lane.scalar("SELECT count(DISTINCT event_id) FROM proj_applied") == expected,
        timeout=300,
    )
    assert lane.scalar("SELECT count(*) FROM quarantine") == 0
    assert lane.scalar("SELECT count(*) FROM proj_tips") == 1500
    assert lane.scalar("SELECT count(*) FROM proj_rescue_cases") == 1500
    logs = "".join(w.log_file.read_text(errors="replace") for w in workers(lane.settings))
    assert "waits for PostgreSQL" in logs  # the outage was really met, and waited out


def test_graceful_stop_during_a_postgres_outage_loses_nothing(
    lane: Lane, hub_settings: Settings
) -> None:
    """Finding 4: `processors stop` while PostgreSQL is down used to commit the offsets of the
    batch being retried. Now nothing is acknowledged before it is stored: after the restart,
    every event is stored, projected and in the match index."""
    private, _ = operator_key_paths(lane.settings.data_dir)
    lane.world.operator.save(private)  # matching on: the match index is checked too
    lane.start(1)
    lane.register_and_wait(CIVIL)
    wires = [lane.world.event(CIVIL, "rescue-notice", i) for i in range(1, 2001)]
    lane.publish(wires[:1000])
    lane.wait_for(
        "load under way", lambda: lane.scalar("SELECT count(*) FROM event_store") >= 300, every=0.1
    )

    def waiting_for_postgres() -> bool:
        logs = "".join(w.log_file.read_text(errors="replace") for w in workers(lane.settings))
        return "waits for PostgreSQL" in logs

    try:
        postgres.stop(hub_settings)
        lane.publish(wires[1000:])
        lane.wait_for("the outage met", waiting_for_postgres, timeout=60)
        stop_workers(lane.settings, timeout=30)
        assert lane.pids() == []
    finally:
        postgres.start(hub_settings)
    lane.start(1)
    expected = len(wires) + 2
    lane.wait_for(
        "every event stored",
        lambda: lane.scalar("SELECT count(*) FROM event_store") == expected,
        timeout=300,
    )
    lane.wait_for(
        "every event projected",
        lambda: lane.scalar("SELECT count(DISTINCT event_id) FROM proj_applied") == expected,
        timeout=300,
    )
    lane.wait_for(
        "every rescued person in the match index",
        lambda: lane.scalar("SELECT count(*) FROM match_persons") == len(wires),
        timeout=300,
    )
    assert lane.scalar("SELECT count(*) FROM quarantine") == 0
    assert lane.scalar("SELECT sum(gaps) FROM publisher_sequences") == 0
