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
