"""Notifications reach the police unit's inbox once, only when the hub signed them for it; its
decision goes out as a signed event."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from connector_samples import participant_of
from kafka import KafkaAdminClient, KafkaProducer

from connectors.cli import main
from connectors.inbox import Notification, parse_message
from hub.alert_push import PushTarget, push_notification
from hub.config import Settings
from hub.keys import SigningKey, generate_keypair
from hub.notice import refusal_body, seal_notice
from hub.tips import TipFit, tip_notification
from processors import topic_admin

pytestmark = pytest.mark.services
Reader = Callable[[str], list[tuple[str, Any]]]


def hit(police: str, match_id: str) -> dict[str, Any]:
    """A hit notification's body for `police`, as hub.routing.notification writes it."""
    return {
        "notification_id": str(uuid.uuid4()), "kind": "MATCH_HIT", "recipient": police,
        "match_id": match_id, "alert_id": "A-2024-001", "score": 14.2,
        "explanation": ["出生日期一致", "姓名读音相同"], "urgency": "HIGH",
    }


def send(settings: Settings, topic: str, *values: bytes) -> None:
    """Write raw messages onto a topic as the hub's admin principal would."""
    producer = KafkaProducer(**settings.kafka_config(), acks="all")
    try:
        for value in values:
            producer.send(topic, value=value)
        producer.flush(10)
    finally:
        producer.close()


def test_inbox_delivers_once_and_decide_publishes(
    hub_settings: Settings, connector_factory: Callable[..., Path], read_published: Reader,
    hub_operator_key: SigningKey, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """A signed notice is written once, not again after offsets are lost; decide signs it."""
    config = connector_factory("police")
    police = participant_of(config)
    topic = topic_admin.ensure_notification_topic(hub_settings, police)
    match_id = str(uuid.uuid4())
    send(hub_settings, topic, seal_notice(hub_operator_key, hit(police, match_id)))
    out = tmp_path / "notes.jsonl"
    args = ["inbox", "--jsonl", str(out), "--idle", "3", "--config", str(config)]
    assert main(args) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1
    assert out.stat().st_mode & 0o077 == 0
    note = json.loads(lines[0])
    assert note["event_type"] == "MATCH_HIT"
    assert note["payload"]["match_id"] == match_id
    # Lose the committed offsets: the local delivered-ids table still prevents a repeat.
    admin = KafkaAdminClient(**hub_settings.kafka_config())
    try:
        admin.delete_groups([f"{hub_settings.topic_prefix}{police}.inbox"])
    finally:
        admin.close()
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "0 new notifications" in err and "1 refused" in err and "1 REPLAYED" in err
    assert out.read_text(encoding="utf-8").splitlines() == lines
    assert main(["decide", match_id, "confirm", "--note", "同一人", "--config", str(config)]) == 0
    decisions = [p for _, p in read_published(police) if "decision" in p]
    assert len(decisions) == 1
    assert decisions[0]["decision"] == "CONFIRMED"
    assert decisions[0]["alert_id"] == "A-2024-001"
    assert decisions[0]["deciding_unit"] == police
    assert str(decisions[0]["match_id"]) == match_id


def test_forged_notifications_are_refused_with_their_reason(
    hub_settings: Settings, connector_factory: Callable[..., Path],
    hub_operator_key: SigningKey, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    """Unsigned, participant-signed, altered and misaddressed notices are kept, never shown."""
    config = connector_factory("police")
    police = participant_of(config)
    topic = topic_admin.ensure_notification_topic(hub_settings, police)
    plain = json.dumps(hit(police, str(uuid.uuid4())) | {"action_on_hit":
                                                         "PLACE_UNDER_PROTECTION"}).encode()
    by_participant = seal_notice(generate_keypair(), hit(police, str(uuid.uuid4())))
    flipped = bytearray(seal_notice(hub_operator_key, hit(police, str(uuid.uuid4()))))
    flipped[40] ^= 0x01
    for_other = seal_notice(hub_operator_key, hit("990000-police", str(uuid.uuid4())))
    genuine = seal_notice(hub_operator_key, hit(police, str(uuid.uuid4())))
    send(hub_settings, topic, plain, by_participant, bytes(flipped), for_other, genuine)
    out = tmp_path / "notes.jsonl"
    capsys.readouterr()
    assert main(["inbox", "--jsonl", str(out), "--idle", "3", "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert "1 new notifications" in err and "4 refused" in err
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1
    refused_file = config.parent / "state" / police / "refused.jsonl"
    assert refused_file.stat().st_mode & 0o077 == 0
    reasons = [json.loads(line)["reason"] for line in refused_file.read_text().splitlines()]
    assert sorted(reasons) == ["BAD_SIGNATURE", "UNKNOWN_KEY", "UNSIGNED", "WRONG_RECIPIENT"]


def test_a_refusal_of_ones_own_event_reads_as_one_line() -> None:
    """What the hub says when it refuses a participant's signed event (issue 11)."""
    operator = generate_keypair()
    event_id = str(uuid.uuid4())
    body = refusal_body(
        "320000-police", event_id, "rescue-notice", "NOT_PERMITTED",
        "320000-police may not publish rescue-notice", 7,
    )
    shown = parse_message(
        operator.verify_key, "320000-police", "t.notifications.320000-police", 0, 3,
        seal_notice(operator, body),
    )
    assert isinstance(shown, Notification)
    assert shown.line() == (
        f"EVENT_REFUSED your rescue-notice {event_id} was not accepted: NOT_PERMITTED: "
        "320000-police may not publish rescue-notice"
    )


def test_an_alert_push_reads_as_one_line_with_its_distance() -> None:
    """What a police unit sees when an urgent child alert reaches its area (issue 13)."""
    operator = generate_keypair()
    target = PushTarget("500000-police", 261.0, "500000")
    alert = {
        "urgency": "IMMEDIATE",
        "last_seen_at": "2026-11-30T08:00:00+00:00",
        "last_seen_place": {"area_code": "510104", "text": "成都市锦江区春熙路"},
        "person": {"name": "周佳怡", "sex": "FEMALE"},
    }
    body = push_notification("A-510000-1", alert, "510000-police", target, 300)
    shown = parse_message(
        operator.verify_key, "500000-police", "t.notifications.500000-police", 0, 1,
        seal_notice(operator, body),
    )
    assert isinstance(shown, Notification)
    assert shown.alert_id == "A-510000-1" and shown.match_id is None
    assert shown.line() == (
        "ALERT_PUSH [IMMEDIATE] alert A-510000-1 of 510000-police: last seen "
        "2026-11-30T08:00:00+00:00 at 成都市锦江区春熙路 (510104), 261.0 km from your area"
    )


def test_a_forwarded_tip_reads_as_one_line_with_the_alerts_it_fits() -> None:
    operator = generate_keypair()
    tip = {"tip_id": "TIP-9", "seen_at": "2026-11-30T12:00:00+00:00",
           "place": {"area_code": "500103", "text": "重庆菜园坝火车站"}}
    fit = TipFit("A-510000-1", "510000-police", 5, ("sex FEMALE agrees",))
    body = tip_notification("E-9", tip, "320000-police", "500000-police", "PLACE_POLICE", [fit])
    shown = parse_message(
        operator.verify_key, "500000-police", "t.notifications.500000-police", 0, 1,
        seal_notice(operator, body),
    )
    assert isinstance(shown, Notification)
    assert shown.line() == (
        "TIP_FORWARDED tip TIP-9 of 320000-police (PLACE_POLICE): seen 2026-11-30T12:00:00+00:00 "
        "at 重庆菜园坝火车站 (500103); fits alerts: A-510000-1"
    )
