"""hubctl matches review and failures, over the matcher's tables in a fresh database."""

from __future__ import annotations

import json
import secrets
import uuid
from pathlib import Path

import psycopg
import pytest

from hub.config import Settings
from hub.envelope import decode_envelope, decode_payload
from hub.identity import HUB_OPERATOR_ID
from hub.keys import generate_keypair
from hub.registry import operator_key_paths
from hub.schema_catalog import SchemaCatalog
from hub.signing import signature_valid
from hub.topics import topic_name
from ops.cli import main
from processors import topic_admin

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


def _pair(settings: Settings, match_id: str, status: str) -> None:
    with psycopg.connect(settings.pg_dsn) as conn:
        conn.execute(
            "INSERT INTO match_pairs (match_id, alert_id, counterpart_kind, counterpart_id, "
            "score, level, status, explanation) VALUES (%s, 'A-510000-7', 'RECORD', 'M-1', "
            "11.5, 'REVIEW', %s, '[]')", (match_id, status))


def test_dismiss_publishes_a_signed_operator_event_to_ingest(
    fresh_db_settings: Settings, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    """`hubctl matches review dismiss` signs a review-dismissed event with the hub operator's
    key (who and why in it) and publishes it to the ingest topic of the namespace."""
    from kafka import KafkaConsumer

    match_id = str(uuid.uuid4())
    _pair(fresh_db_settings, match_id, "REVIEW")
    operator = generate_keypair()
    private, _ = operator_key_paths(tmp_path)
    operator.save(private)
    prefix = f"t{secrets.token_hex(3)}."
    settings = fresh_db_settings.with_overrides(data_dir=tmp_path, topic_prefix=prefix)
    for name, value in settings.as_environment().items():
        monkeypatch.setenv(name, value)
    try:
        topic_admin.apply(settings)
        assert main(["matches", "review", "dismiss", match_id, "--reason",
                     "a different child: the mother is named in the file",
                     "--operator", "li.na"]) == 0
        assert "review-dismissed" in capsys.readouterr().out
        consumer = KafkaConsumer(topic_name(settings, "ingest"), **settings.kafka_config(),
                                 auto_offset_reset="earliest", consumer_timeout_ms=15000)
        wires = [m.value for m in consumer]
        consumer.close()
    finally:
        topic_admin.delete_prefixed(settings)
    (wire,) = wires
    env = decode_envelope(wire)
    assert (env.event_type, env.publisher_id) == ("review-dismissed", HUB_OPERATOR_ID)
    assert signature_valid(env, operator.verify_key)
    body = decode_payload(SchemaCatalog.load(), env)
    assert (str(body["match_id"]), body["operator"]) == (match_id, "li.na")


def test_an_act_on_a_pair_not_in_the_queue_is_refused_at_once(
    fresh_db_settings: Settings, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str], tmp_path: Path,
) -> None:
    """Promoting a notified pair says why and publishes nothing (no broker needed)."""
    match_id = str(uuid.uuid4())
    _pair(fresh_db_settings, match_id, "NOTIFIED")
    operator_key = operator_key_paths(tmp_path)[0]
    generate_keypair().save(operator_key)
    _env(monkeypatch, fresh_db_settings)
    monkeypatch.setenv("HUB_DATA_DIR", str(tmp_path))
    assert main(["matches", "review", "promote", match_id, "--reason", "looks right"]) == 1
    assert "notified already" in capsys.readouterr().err
