"""The hub operator's one sequence counter in PostgreSQL (processors.pg_operator)."""

from __future__ import annotations

import pytest

from hub.config import Settings
from processors.pg_operator import draw_operator_sequences
from processors.pg_store import PgConnection

pytestmark = pytest.mark.services


def _draw(settings: Settings, count: int, floor: int = 1) -> list[int]:
    db = PgConnection(settings.pg_dsn)
    try:
        with db.transaction() as cur:
            return draw_operator_sequences(cur, count, floor)
    finally:
        db.close()


def test_a_new_database_counts_from_one(fresh_db_settings: Settings) -> None:
    """Migration 0045: an unused counter starts at 1, and numbers follow one another."""
    assert _draw(fresh_db_settings, 3) == [1, 2, 3]
    assert _draw(fresh_db_settings, 1) == [4]


def test_never_below_the_journal(fresh_db_settings: Settings) -> None:
    """A floor above the counter (events journalled before) moves it up; one below does not."""
    assert _draw(fresh_db_settings, 2, floor=7) == [7, 8]
    assert _draw(fresh_db_settings, 1, floor=3) == [9]
    assert _draw(fresh_db_settings, 0, floor=50) == []
    assert _draw(fresh_db_settings, 1, floor=10) == [10]
