"""Notifications reach the police unit's inbox once; its decision goes out as a signed event."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from connector_samples import participant_of
from kafka import KafkaAdminClient, KafkaProducer

from connectors.cli import main
from hub.config import Settings
from hub.envelope import encode_envelope, seal
from hub.keys import SigningKey, generate_keypair
from hub.schema_catalog import SchemaCatalog
from ops import topics

pytestmark = pytest.mark.services
Reader = Callable[[str], list[tuple[str, Any]]]


def match_found(police: str, operator: SigningKey, match_id: str) -> bytes:
    """A signed match-found notification for `police`, as the hub's router would send it."""
    payload = {
        "match_id": match_id, "alert_id": "A-2024-001", "alert_event_id": str(uuid.uuid4()),
        "counterpart_kind": "MIGRANT_RECORD", "counterpart_id": "R000001",
        "counterpart_event_id": str(uuid.uuid4()), "child_index": 0, "score": 14.2,
        "explanation": ["出生日期一致", "姓名读音相同"], "dna": None, "recipients": [police],
    }
    env = seal(SchemaCatalog.load(), "match-found", payload, publisher_id="000000-hub-operator",
               key=operator, sequence=1, occurred_at=datetime.now(UTC))
    return encode_envelope(env)


def test_inbox_delivers_once_and_decide_publishes(
    hub_settings: Settings, connector_factory: Callable[..., Path], read_published: Reader,
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A notification is written once, not again after offsets are lost; decide signs it."""
    config = connector_factory("police")
    police = participant_of(config)
    topic = topics.ensure_notification_topic(hub_settings, police)
    match_id = str(uuid.uuid4())
    producer = KafkaProducer(**hub_settings.kafka_config(), acks="all")
    try:
        producer.send(topic, value=match_found(police, generate_keypair(), match_id))
        producer.flush(10)
    finally:
        producer.close()
    out = tmp_path / "notes.jsonl"
    args = ["inbox", "--jsonl", str(out), "--idle", "3", "--config", str(config)]
    assert main(args) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    note = json.loads(lines[0])
    assert note["event_type"] == "match-found"
    assert note["payload"]["match_id"] == match_id
    # Lose the committed offsets: the local delivered-ids table still prevents a repeat.
    admin = KafkaAdminClient(**hub_settings.kafka_config())
    try:
        admin.delete_groups([f"{police}.inbox"])
    finally:
        admin.close()
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "0 new notifications" in err and "1 already delivered before" in err
    assert out.read_text(encoding="utf-8").splitlines() == lines
    assert main(["decide", match_id, "confirm", "--note", "同一人", "--config", str(config)]) == 0
    decisions = [p for _, p in read_published(police) if "decision" in p]
    assert len(decisions) == 1
    assert decisions[0]["decision"] == "CONFIRMED"
    assert decisions[0]["alert_id"] == "A-2024-001"
    assert decisions[0]["deciding_unit"] == police
    assert str(decisions[0]["match_id"]) == match_id
