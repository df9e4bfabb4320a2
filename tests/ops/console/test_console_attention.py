"""The overview's attention list names hits past their reply or decision deadline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import psycopg
import pytest

from hub.config import Settings
from ops.console.readings import attention
from processors.pg_store import PgConnection

pytestmark = pytest.mark.services


def test_an_overdue_duty_is_listed_with_where_it_was_escalated(
    fresh_db_settings: Settings,
) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(fresh_db_settings.pg_dsn) as conn:
        rows = [
            ("m-overdue-1", "ACK", "510000-police", now - timedelta(minutes=5), None, None),
            ("m-overdue-2", "DECISION", "*", now - timedelta(hours=2), None, "510000-police"),
            ("m-in-time-3", "ACK", "510000-police", now + timedelta(hours=1), None, None),
            ("m-answered4", "ACK", "520000-police", now - timedelta(hours=1), now, None),
        ]
        for match_id, duty, unit, due_at, done_at, escalated_to in rows:
            conn.execute(
                "INSERT INTO proj_match_duties (match_id, duty, unit, owed_by, due_at, done_at, "
                "escalated_to) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (match_id, duty, unit, "510000-police", due_at, done_at, escalated_to),
            )
    snap = SimpleNamespace(quarantine={}, stuck=[], publishers=[])
    db = PgConnection(fresh_db_settings.pg_dsn)
    try:
        items = [a for a in attention(db, snap) if a.kind == "overdue"]  # type: ignore[arg-type]
    finally:
        db.close()
    assert [a.link for a in items] == ["/matches/m-overdue-2", "/matches/m-overdue-1"]
    assert "DECISION by 510000-police overdue" in items[0].text
    assert items[0].text.endswith("escalated to 510000-police")
    assert items[1].text.endswith("not yet escalated")


def test_a_publisher_is_silent_when_longer_than_its_own_rhythm(
    fresh_db_settings: Settings,
) -> None:
    """Three hours of quiet flag an hourly publisher but not a daily one: each is judged by
    the gaps between its own stored events (rhythms read through the burst walk)."""
    from hub.store import PublisherSequence
    from ops.console.participant_health import rhythms

    now = datetime.now(UTC)
    quiet = now - timedelta(hours=3)
    hourly, daily = "510000-police", "320000-migrant-registry"
    with psycopg.connect(fresh_db_settings.pg_owner_dsn) as conn:
        for pid, every in ((hourly, timedelta(hours=1)), (daily, timedelta(days=1))):
            for n in range(30):
                # Three events seconds apart per burst: one burst, not three gaps.
                for s in range(3):
                    conn.execute(
                        "INSERT INTO event_store (event_id, event_type, schema_version, "
                        "schema_fingerprint, publisher_id, key_id, sequence, occurred_at, "
                        "published_at, payload, signature, wire, body, stored_at) VALUES "
                        "(%s, 'migrant-record', 1, 'f', %s, 'k', %s, %s, %s, '', '', '', "
                        "'{}', %s)",
                        (f"{pid}-{n}-{s}", pid, n * 3 + s, now, now,
                         quiet - every * n - timedelta(seconds=s)))
    db = PgConnection(fresh_db_settings.pg_dsn)
    try:
        known = rhythms(db, [hourly, daily])
        snap = SimpleNamespace(quarantine={}, stuck=[], publishers=[
            PublisherSequence(pid, 90, quiet) for pid in (hourly, daily)])
        items = [a for a in attention(db, snap, known)  # type: ignore[arg-type]
                 if a.kind == "silent"]
    finally:
        db.close()
    assert known[hourly].usual_gap is not None and known[hourly].gaps == 29
    assert [a.link for a in items] == [f"/participants/{hourly}"]
    assert "silent for 3 h, longer than usual" in items[0].text
