"""hubctl audit: case-file reads and details requests, filtered, as table, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

import psycopg
import pytest

from hub.config import Settings
from ops.cli import main

pytestmark = pytest.mark.services

CASE_ROWS = [  # case, unit, step, outcome, reason, at (day of December 2026)
    ("R-530000-1", "530000-police", "entitlement", "GRANTED", "placement review", 1),
    ("R-530000-1", "320000-police", "entitlement", "REFUSED", "curious", 2),
    ("R-530000-2", "530000-womens-federation", "verify", "REFUSED", "follow-up", 3),
    ("R-530000-2", "510100-police", "entitlement", "GRANTED", "pick-up", 5),
]
DETAILS_ROWS = [  # match, unit, outcome, reason, day
    ("m-1", "510100-police", "GRANTED", "identify the child", 2),
    ("m-1", "530000-police", "REFUSED", "not notified", 4),
]


@pytest.fixture
def audited(fresh_db_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    with psycopg.connect(fresh_db_settings.pg_dsn) as conn:
        for n, (case, unit, step, outcome, reason, day) in enumerate(CASE_ROWS):
            conn.execute(
                "INSERT INTO case_audit (case_id, requester, request_event_id, reason, step, "
                "outcome, detail, at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (case, unit, f"req-{n}", reason, step, outcome, f"why {n}",
                 datetime(2026, 12, day, 9, tzinfo=UTC)))
        for n, (match, unit, outcome, reason, day) in enumerate(DETAILS_ROWS):
            conn.execute(
                "INSERT INTO disclosure_audit (match_id, requester, request_event_id, reason, "
                "outcome, detail, at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (match, unit, f"det-{n}", reason, outcome, f"why d{n}",
                 datetime(2026, 12, day, 10, tzinfo=UTC)))
    monkeypatch.setenv("HUB_PG_DATABASE", fresh_db_settings.pg_database)
    monkeypatch.setenv("HUB_PG_PORT", str(fresh_db_settings.pg_port))
    return fresh_db_settings


def _json(capsys: pytest.CaptureFixture[str], *args: str) -> list[dict[str, str]]:
    assert main(["audit", *args, "--format", "json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_lists_both_audits_oldest_first(audited: Settings,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Without filters every case-file and details row is listed, in time order."""
    rows = _json(capsys)
    assert [(r["kind"], r["request_event_id"]) for r in rows] == [
        ("case-file", "req-0"), ("case-file", "req-1"), ("details", "det-0"),
        ("case-file", "req-2"), ("details", "det-1"), ("case-file", "req-3")]


@pytest.mark.parametrize("args, expected", [
    (("--unit", "510100-police"), ["det-0", "req-3"]),
    (("--case", "R-530000-2"), ["req-2", "req-3"]),
    (("--match", "m-1"), ["det-0", "det-1"]),
    (("--outcome", "refused"), ["req-1", "req-2", "det-1"]),
    (("--since", "2026-12-02", "--until", "2026-12-04"), ["req-1", "det-0", "req-2"]),
    (("--since", "2026-12-02T09:30", "--outcome", "granted"), ["det-0", "req-3"]),
    (("--unit", "530000-police", "--case", "R-530000-1"), ["req-0"]),
])
def test_filters_combine(audited: Settings, capsys: pytest.CaptureFixture[str],
                         args: tuple[str, ...], expected: list[str]) -> None:
    """Each filter narrows the list; together they all hold."""
    assert [r["request_event_id"] for r in _json(capsys, *args)] == expected


def test_csv_and_table(audited: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    """CSV has a header and one line per row; the table names the refusal and its reason."""
    assert main(["audit", "--case", "R-530000-1", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["requester"], r["outcome"], r["reason"]) for r in rows] == [
        ("530000-police", "GRANTED", "placement review"), ("320000-police", "REFUSED", "curious")]
    assert main(["audit", "--outcome", "refused", "--unit", "320000-police"]) == 0
    table = capsys.readouterr().out
    assert "320000-police" in table and "REFUSED" in table and "curious" in table
    assert "530000-police" not in table


def test_bad_time_and_both_subjects_are_clear_errors(
    audited: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """A time that is not ISO 8601, or --case with --match, is refused with a plain message."""
    with pytest.raises(SystemExit):
        main(["audit", "--since", "yesterday"])
    assert "not a date or time" in capsys.readouterr().err
    assert main(["audit", "--case", "R-1", "--match", "m-1"]) != 0
    assert "give one" in capsys.readouterr().err


def test_the_database_refuses_to_change_the_case_audit(audited: Settings) -> None:
    """case_audit is append-only: updates and deletes fail even for the pipeline role."""
    with psycopg.connect(audited.pg_dsn) as conn:
        for statement in ("UPDATE case_audit SET outcome = 'GRANTED'", "DELETE FROM case_audit"):
            with pytest.raises(psycopg.Error):
                conn.execute(statement)
            conn.rollback()
