"""PostgreSQL-only guarantees of the event store: the database itself enforces them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from hub.projections import CATALOG
from hub.store import EventRecord
from processors.pg_store import PgEventStore

pytestmark = pytest.mark.services


def make_record() -> EventRecord:
    now = datetime(2026, 3, 1, tzinfo=UTC)
    return EventRecord(
        str(uuid.uuid4()),
        "tip-report",
        1,
        "ab" * 32,
        "320000-police",
        "0f" * 16,
        1,
        now,
        now,
        b"p",
        b"s" * 64,
        b"w",
        {"tip_id": "T"},
    )


@pytest.fixture
def dsn(hub_settings: Any) -> str:
    # The owner: even the role that owns the table is stopped by the triggers.
    return str(hub_settings.pg_owner_dsn)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE event_store SET event_type = 'alert-closed'",
        "DELETE FROM event_store",
        "TRUNCATE event_store",
    ],
)
def test_database_refuses_to_change_stored_events(dsn: str, statement: str) -> None:
    """UPDATE, DELETE and TRUNCATE on the event store fail even for the owning role."""
    store = PgEventStore(dsn)
    record = make_record()
    with store.transaction() as txn:
        txn.append(record)
    with psycopg.connect(dsn) as conn, pytest.raises(psycopg.Error, match="append-only"):
        conn.execute(statement)
    stored = store.get(record.event_id)
    assert stored is not None and stored.record.event_type == record.event_type
    store.close()


def test_projection_tables_match_the_catalogue(dsn: str) -> None:
    """Migration 0011 creates exactly the tables and columns the projection catalogue declares."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name LIKE 'proj\\_%' "
            "AND table_name <> 'proj_applied'"
        ).fetchall()
    found: dict[str, dict[str, str]] = {}
    for table, column, data_type in rows:
        found.setdefault(table, {})[column] = data_type
    expected = {
        t.name: {
            **{k: "text" for k in t.key},
            **{
                c.name: c.sql_type.replace("timestamptz", "timestamp with time zone")
                for c in t.value_columns
            },
        }
        for t in CATALOG.tables()
    }
    assert found == expected
