"""`hubctl demo --size small` end to end on the real services, in a demo folder of its own."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from hub.config import Settings
from ops.demo import DemoRun, load_run, retire

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _rejects(root: Path, participant: str, stem: str) -> dict[str, str]:
    path = root / participant / "data" / f"{stem}.jsonl.rejects.csv"
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return {row["field"]: row["reason"] for row in csv.DictReader(handle)}


def _inbox(root: Path, participant: str) -> list[dict[str, object]]:
    path = root / participant / "inbox.jsonl"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["payload"] for line in lines if line.strip()]


@pytest.fixture(scope="module")
def demo(services_up: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        tuple[Path, DemoRun, subprocess.CompletedProcess[str]]]:
    """One small demo run (about a minute and a half), retired afterwards."""
    root = tmp_path_factory.mktemp("demo") / "demo"
    hubctl = str(Path(sys.executable).parent / "hubctl")
    env = {**os.environ, "COLUMNS": "160"}
    done = subprocess.run([hubctl, "demo", "--size", "small", "--seed", "11", "--root", str(root)],
                          env=env, capture_output=True, text=True, timeout=1200, check=False)
    run = load_run(root)
    try:
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
        assert run is not None
        yield root, run, done
    finally:
        retire(services_up, root)


def test_events_of_every_type_are_stored(
        demo: tuple[Path, DemoRun, subprocess.CompletedProcess[str]],
        services_up: Settings) -> None:
    """Alerts, DNA profiles, migrant records and rescue notices all reach the event store."""
    _, run, _ = demo
    with psycopg.connect(run.settings(services_up).pg_dsn) as conn:
        counts: dict[str, int] = dict(conn.execute(
            "SELECT event_type, count(*) FROM event_store GROUP BY 1").fetchall())
    for event_type in ("missing-person-alert", "parents-dna-profile", "migrant-record",
                       "rescue-notice", "participant-registered", "key-added"):
        assert counts.get(event_type, 0) > 0, (event_type, counts)


def test_tampered_event_is_quarantined_with_bad_signature(
        demo: tuple[Path, DemoRun, subprocess.CompletedProcess[str]],
        services_up: Settings) -> None:
    """The one flipped-byte event is kept in quarantine as BAD_SIGNATURE, nothing else is."""
    _, run, _ = demo
    with psycopg.connect(run.settings(services_up).pg_dsn) as conn:
        rows = conn.execute("SELECT reason, publisher_id FROM quarantine").fetchall()
    assert rows == [("BAD_SIGNATURE", "320000-police")]


def test_bad_rows_are_rejected_with_their_reasons(
        demo: tuple[Path, DemoRun, subprocess.CompletedProcess[str]]) -> None:
    """Each planted bad row is in its connector's reject file, naming field and reason."""
    root, _, _ = demo
    assert "required" in _rejects(root, "510000-police", "alerts")["alert_id"]
    assert "month 13" in _rejects(root, "530000-police", "alerts")["last_seen_at"]
    assert "does not exist" in _rejects(root, "320000-migrant-registry", "records")["moved_in_on"]


def test_notifications_reach_police_units_only(
        demo: tuple[Path, DemoRun, subprocess.CompletedProcess[str]]) -> None:
    """Hits arrive in police inboxes, addressed to that unit, the issuing unit among them."""
    root, _, _ = demo
    by_match: dict[str, set[str]] = {}
    issuer: dict[str, str] = {}
    delivered = 0
    for folder in sorted(p for p in root.iterdir() if (p / "hub-connector.toml").exists()):
        notes = _inbox(root, folder.name)
        if not folder.name.endswith("-police"):
            assert notes == [], folder.name
            continue
        for note in notes:
            assert note["recipient"] == folder.name
            if note["kind"] != "MATCH_HIT":
                continue  # alert pushes and forwarded tips name no match
            delivered += 1
            by_match.setdefault(str(note["match_id"]), set()).add(folder.name)
            issuer[str(note["match_id"])] = str(note["alert_issued_by"])
    assert delivered > 0
    for match_id, units in by_match.items():
        assert issuer[match_id] in units, match_id


def test_summary_reports_precision(
        demo: tuple[Path, DemoRun, subprocess.CompletedProcess[str]]) -> None:
    """The printed summary gives precision and recall against the labels, and what to do next."""
    _, _, done = demo
    assert "precision " in done.stdout and "%" in done.stdout.split("precision ", 1)[1][:12]
    assert "recall " in done.stdout
    assert "quarantine list" in done.stdout and "services down" in done.stdout


def test_demo_ends_with_the_joint_office_report(
        demo: tuple[Path, DemoRun, subprocess.CompletedProcess[str]],
        services_up: Settings) -> None:
    """The run writes report.html and report.pdf, says where, and the outcomes it published
    (closures, follow-ups, tips, confirmations) are in the event store the report reads."""
    root, run, done = demo
    assert "report written to" in done.stdout and "report.pdf" in done.stdout
    page = (root / "report.html").read_text(encoding="utf-8")
    assert "<svg" in page and "疑似拐卖" in page
    assert "unacknowledged past their reply deadline" in page
    assert (root / "report.pdf").read_bytes().startswith(b"%PDF")
    with psycopg.connect(run.settings(services_up).pg_dsn) as conn:
        stored = dict(conn.execute(
            "SELECT event_type, count(*) FROM event_store GROUP BY 1").fetchall())
    for event_type in ("alert-closed", "case-follow-up", "tip-report", "match-decision"):
        assert stored.get(event_type, 0) > 0, (event_type, stored)


def test_demo_reads_a_case_file_and_shows_a_refused_read(
        demo: tuple[Path, DemoRun, subprocess.CompletedProcess[str]],
        services_up: Settings) -> None:
    """The province of rescue's police open one case file with its follow-ups; a province with
    no part in it is refused; both requests are in the audit, with their outcomes."""
    _, run, done = demo
    lines = [line for line in done.stdout.splitlines() if "case file" in line]
    assert any("opened:" in line and "follow-ups" in line for line in lines), lines
    assert any("refused (CASE_FILE_REFUSED)" in line for line in lines), lines
    with psycopg.connect(run.settings(services_up).pg_dsn) as conn:
        rows = conn.execute("SELECT requester, outcome FROM case_audit ORDER BY id").fetchall()
    assert sorted(outcome for _, outcome in rows) == ["GRANTED", "REFUSED"], rows
def test_children_of_unknown_origin_are_asked_for_and_sampled(
        demo: tuple[Path, DemoRun, subprocess.CompletedProcess[str]],
        services_up: Settings) -> None:
    """The hub asks police of residence for samples (signed events, inbox notices); the police
    send them back through hub-connector, and the summary counts requests, samples, finds."""
    root, run, done = demo
    with psycopg.connect(run.settings(services_up).pg_dsn) as conn:
        stored = dict(conn.execute(
            "SELECT event_type, count(*) FROM event_store GROUP BY 1").fetchall())
    assert stored.get("dna-sampling-request", 0) > 0, stored
    assert stored.get("dna-sample", 0) == stored["dna-sampling-request"], stored
    asked = [n for folder in root.iterdir() if folder.name.endswith("-police")
             for n in _inbox(root, folder.name) if n["kind"] == "DNA_SAMPLING_REQUEST"]
    assert len(asked) == stored["dna-sampling-request"]
    assert all(n["reasons"] and n["address"]["area_code"] for n in asked)
    assert "DNA-sampling requests to the police of residence" in done.stdout
