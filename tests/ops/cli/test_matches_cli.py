"""hubctl matches review and failures, over the matcher's tables in a fresh database."""

from __future__ import annotations

import json

import psycopg
import pytest

from hub.config import Settings
from ops.cli import main

pytestmark = pytest.mark.services


def _env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    monkeypatch.setenv("HUB_PG_DATABASE", settings.pg_database)
    monkeypatch.setenv("HUB_PG_PORT", str(settings.pg_port))


def test_review_lists_undecided_pairs_between_thresholds(
    fresh_db_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only REVIEW pairs are listed, best score first, with their evidence lines."""
    with psycopg.connect(fresh_db_settings.pg_dsn) as conn:
        for match_id, score, status in (
            ("m-low", 8.5, "REVIEW"),
            ("m-high", 11.0, "REVIEW"),
            ("m-done", 12.0, "REJECTED"),
            ("m-hit", 30.0, "NOTIFIED"),
        ):
            conn.execute(
                "INSERT INTO match_pairs (match_id, alert_id, counterpart_kind, counterpart_id, "
                "score, level, status, explanation) VALUES (%s, 'A-1', 'RECORD', 'M-1', %s, "
                "'REVIEW', %s, %s)",
                (match_id, score, status, json.dumps([f"why {match_id}"])),
            )
    _env(monkeypatch, fresh_db_settings)
    assert main(["matches", "review"]) == 0
    out = capsys.readouterr().out
    assert out.index("m-high") < out.index("m-low")
    assert "why m-high" in out and "m-done" not in out and "m-hit" not in out
    assert "2 pairs to review" in out
    assert main(["matches", "review", "--json", "--limit", "1"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["match_id"] for r in rows] == ["m-high"]


def test_failures_lists_events_kept_with_reason(
    fresh_db_settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Events the matcher could not use are shown with their type and reason."""
    with psycopg.connect(fresh_db_settings.pg_dsn) as conn:
        conn.execute(
            "INSERT INTO match_failures (event_id, event_type, reason) "
            "VALUES ('e-1', 'migrant-record', 'record M-9.children[0].child.birth bad range')"
        )
    _env(monkeypatch, fresh_db_settings)
    assert main(["matches", "failures"]) == 0
    out = capsys.readouterr().out
    assert "e-1  migrant-record: record M-9.children[0].child.birth bad range" in out
