"""The running services: health through the real hubctl command, idempotent `up`, psycopg I/O."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from hub.config import Settings
from ops import services

pytestmark = pytest.mark.services


def test_status_command_reports_both_healthy(hub_settings: Settings) -> None:
    """`hubctl services status` exits 0 and names both services as healthy."""
    done = subprocess.run(
        [str(Path(sys.executable).parent / "hubctl"), "services", "status"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert any(line.startswith("kafka") and " healthy " in line for line in lines), lines
    assert any(line.startswith("postgres") and " healthy " in line for line in lines), lines


def test_second_up_restarts_nothing(services_up: Settings) -> None:
    """A second `up` finds both services running and keeps the same processes."""
    before = {s.name: s.pid for s in services.status(services_up)}
    report = services.up(services_up)
    assert {s.name: s.pid for s in report} == before
    assert all(s.healthy and not s.started for s in report)


def test_postgres_round_trip_keeps_chinese_text(
    pg_connection: psycopg.Connection[tuple[Any, ...]],
) -> None:
    """A row written with psycopg reads back identical, UTF-8 names included."""
    pg_connection.execute("CREATE TEMP TABLE people (id int PRIMARY KEY, name text, at date)")
    pg_connection.execute(
        "INSERT INTO people VALUES (%s, %s, %s), (%s, %s, %s)",
        (1, "王小红", "2015-06-01", 2, "Lǐ Míng", "2016-02-29"),
    )
    rows = pg_connection.execute("SELECT id, name, at::text FROM people ORDER BY id").fetchall()
    assert rows == [(1, "王小红", "2015-06-01"), (2, "Lǐ Míng", "2016-02-29")]


def test_run_database_is_isolated(hub_settings: Settings, services_up: Settings) -> None:
    """The test run has its own database and topic prefix, not the hub's default ones."""
    assert hub_settings.pg_database != services_up.pg_database
    assert hub_settings.topic_prefix != services_up.topic_prefix
    with psycopg.connect(hub_settings.pg_dsn) as conn:
        row = conn.execute("SELECT current_database()").fetchone()
    assert row == (hub_settings.pg_database,)
