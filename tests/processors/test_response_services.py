"""Two-step disclosure, acknowledgements and escalation on the live streams (real Kafka,
PostgreSQL and detached Faust workers)."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from kafka import KafkaConsumer
from pipeline_support import Lane, make_lane

from hub.config import Settings
from hub.identity import HUB_OPERATOR_ID, check_character
from hub.notice import open_notice
from hub.registry import operator_key_paths
from hub.sealing import SealError, open_sealed
from hub.topics import NOTIFICATIONS
from processors.operations import rebuild_match_index, rebuild_projections
from processors.supervisor import stop_workers
from processors.testing import payload_for

pytestmark = [pytest.mark.services, pytest.mark.slow]

ISSUER = "510100-police"  # Chengdu city police: issues the alert
HEADQUARTERS = "510000-police"  # Sichuan provincial police headquarters
LOCAL = "320000-police"  # Jiangsu provincial police: where the child was registered
REGISTRY = "320000-migrant-registry"
BYSTANDER = "530000-police"  # registered, never notified
POLICE = (ISSUER, HEADQUARTERS, LOCAL, BYSTANDER)
ACK_S = 25


def _child(name: str, born: date, id_number: str) -> dict[str, Any]:
    return {
        "name": name,
        "sex": "FEMALE",
        "birth": {"precision": "DAY", "date": born},
        "id_number": id_number + check_character(id_number),
        "marks": ["左耳后有痣"],
    }


HONG = _child("李小红", date(2016, 3, 5), "51010420160305122")
MEI = _child("王美", date(2013, 7, 21), "51010520130721242")
LAST_SEEN = "成都市锦江区某小区"
ADDRESS = "苏州市虎丘区某小区"


@pytest.fixture
def lane(hub_settings: Settings, tmp_path: Path) -> Iterator[Lane]:
    with make_lane(hub_settings, tmp_path) as made:
        made.world.operator.save(operator_key_paths(made.settings.data_dir)[0])
        made.register(*POLICE, REGISTRY)
        made.publish([made.world.add_encryption_key(pid) for pid in POLICE], "registry")
        yield made


def publish_pair(lane: Lane, n: int, child: dict[str, Any]) -> None:
    at = lane.world.epoch
    alert = payload_for(
        "missing-person-alert", n, at, ISSUER, person=child, jurisdiction="510100",
        last_seen_place={"area_code": "510104", "text": LAST_SEEN},
    )
    record = payload_for("migrant-record", n, at, REGISTRY)
    record["children"] = [{"child": dict(child), "guardian_relation": "NON_RELATIVE"}]
    lane.publish([lane.world.event(ISSUER, "missing-person-alert", payload=alert)])
    lane.publish([lane.world.event(REGISTRY, "migrant-record", payload=record)])


def inboxes(lane: Lane) -> dict[str, list[dict[str, Any]]]:
    """Every notification under the lane's prefix, checked as hub-signed for its topic's owner."""
    prefix = lane.settings.topic_prefix + NOTIFICATIONS
    consumer = KafkaConsumer(
        **lane.settings.kafka_config(),
        group_id=f"response-check-{secrets.token_hex(4)}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=2000,
    )
    try:
        names = sorted(t for t in consumer.topics() if t.startswith(prefix))
        out: dict[str, list[dict[str, Any]]] = {n[len(prefix):]: [] for n in names}
        if names:
            consumer.subscribe(names)
            for message in consumer:
                owner = message.topic[len(prefix):]
                notice = open_notice(message.value, lane.world.operator.verify_key, owner)
                out[owner].append(notice.body)
        return out
    finally:
        consumer.close()


def of_kind(boxes: dict[str, list[dict[str, Any]]], who: str, kind: str) -> list[dict[str, Any]]:
    return [n for n in boxes.get(who, []) if n.get("kind") == kind]


def wait_hits(lane: Lane, count: int) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}

    def arrived() -> bool:
        found.update(inboxes(lane))
        return all(len(of_kind(found, who, "MATCH_HIT")) >= count for who in (ISSUER, LOCAL))

    lane.wait_for(f"{count} hit(s) in both police inboxes", arrived, timeout=180)
    return found


def act(lane: Lane, who: str, event_type: str, match_id: str, **extra: Any) -> None:
    now = datetime.now(UTC)
    if event_type == "match-ack":
        payload = {"match_id": match_id, "acknowledging_unit": who, "acknowledged_at": now}
    else:
        payload = {"request_id": uuid.uuid4(), "match_id": match_id, "requesting_unit": who,
                   "requested_at": now, **extra}
    lane.publish([lane.world.event(who, event_type, payload=payload, published_at=now)])


def test_hit_carries_no_personal_data_and_details_reach_only_the_notified_unit(lane: Lane) -> None:
    """The hit names no person; details go sealed to the asking notified unit alone, another
    unit's key cannot open them, and a request from a unit not notified is refused and audited."""
    lane.start(1)
    publish_pair(lane, 1, HONG)
    boxes = wait_hits(lane, 1)
    hit = of_kind(boxes, ISSUER, "MATCH_HIT")[0]
    match_id = hit["match_id"]
    for note in (hit, of_kind(boxes, LOCAL, "MATCH_HIT")[0]):
        text = json.dumps(note, ensure_ascii=False)
        for personal in ("李", HONG["id_number"], LAST_SEEN, ADDRESS, "赵"):
            assert personal not in text, personal
        assert note["evidence"]["score_band"] in ("STRONG", "PROBABLE")
        assert note["evidence"]["dna"] == "no DNA compared"
        assert note["reply_by"] and note["decide_by"] and note["urgency"] == "URGENT"
        assert note["action_on_hit"] == "PLACE_UNDER_PROTECTION"
    act(lane, BYSTANDER, "details-request", match_id, reason="curious")
    act(lane, ISSUER, "details-request", match_id, reason="identify the child before pickup")

    def answered() -> bool:
        boxes.update(inboxes(lane))
        return bool(of_kind(boxes, ISSUER, "MATCH_DETAILS")
                    and of_kind(boxes, BYSTANDER, "EVENT_REFUSED"))

    lane.wait_for("details for the issuer and a refusal for the bystander", answered)
    sealed = of_kind(boxes, ISSUER, "MATCH_DETAILS")[0]
    assert "李" not in json.dumps(sealed, ensure_ascii=False)  # sealed on the broker too
    plain = open_sealed(lane.world.sealing_keys[ISSUER], sealed["sealed"],
                        match_id=match_id, recipient=ISSUER)
    details = json.loads(plain)
    assert details["counterpart"]["person"]["name"] == "李小红"
    assert details["alert"]["person"]["id_number"] == HONG["id_number"]
    assert details["counterpart"]["current_address"]["text"] == ADDRESS
    with pytest.raises(SealError):
        open_sealed(lane.world.sealing_keys[LOCAL], sealed["sealed"], match_id=match_id,
                    recipient=ISSUER)
    assert all(not of_kind(boxes, who, "MATCH_DETAILS") for who in (LOCAL, BYSTANDER,
                                                                     HEADQUARTERS))
    refused = of_kind(boxes, BYSTANDER, "EVENT_REFUSED")[0]
    assert (refused["event_type"], refused["reason"]) == ("details-request", "NOT_ENTITLED")
    lane.wait_for("both requests audited",
                  lambda: lane.scalar("SELECT count(*) FROM disclosure_audit") == 2)
    rows = {lane.scalar("SELECT outcome || ' ' || reason FROM disclosure_audit WHERE "
                        "requester = %s AND match_id = %s", who, match_id)
            for who in (ISSUER, BYSTANDER)}
    assert rows == {"GRANTED identify the child before pickup", "REFUSED curious"}

    # A rebuild of the match index feeds the request through the stage again: the details are
    # neither sealed nor audited a second time.
    stop_workers(lane.settings, timeout=20)
    outbox = "SELECT count(*) FROM match_outbox"
    rows_before = lane.scalar(outbox)
    assert rebuild_match_index(lane.settings) > 0
    assert lane.scalar(outbox) == rows_before
    assert lane.scalar("SELECT count(*) FROM disclosure_audit") == 2


def escalations(lane: Lane, match_id: str | None = None) -> list[dict[str, Any]]:
    with_match = " AND body->>'match_id' = %s" if match_id else ""
    params = (match_id,) if match_id else ()
    with psycopg.connect(lane.settings.pg_dsn) as conn:
        rows = conn.execute(
            "SELECT body FROM event_store WHERE event_type = 'match-escalated'" + with_match
            + " ORDER BY position", params).fetchall()
    return [r[0] for r in rows]


def test_unacknowledged_hit_is_escalated_once_also_across_a_restart(lane: Lane) -> None:
    """Past its deadline the hit the issuer did not acknowledge goes to the Sichuan headquarters
    once, however often the sweep runs; the unit that acknowledged is not escalated; a hit that
    fell due while the workers were down is escalated after the restart; a rebuild keeps all."""
    lane.settings = lane.settings.with_overrides(
        ack_urgent_child_s=ACK_S, ack_other_s=ACK_S, decide_urgent_child_s=3600,
        decide_other_s=3600, sweep_every_s=1.0,
    )
    lane.start(1)
    publish_pair(lane, 1, HONG)
    first = of_kind(wait_hits(lane, 1), LOCAL, "MATCH_HIT")[0]["match_id"]
    act(lane, LOCAL, "match-ack", first)
    lane.wait_for("the escalation of the issuer's missing ack",
                  lambda: len(escalations(lane, first)) == 1, timeout=ACK_S + 90)
    time.sleep(4)  # a few more sweeps
    (escalated,) = escalations(lane, first)
    assert (escalated["duty"], escalated["overdue_unit"], escalated["escalated_to"]) == (
        "ACK", ISSUER, HEADQUARTERS)
    acked = lane.scalar("SELECT done_at IS NOT NULL AND escalated_at IS NULL FROM "
                        "proj_match_duties WHERE match_id = %s AND duty = 'ACK' AND unit = %s",
                        first, LOCAL)
    assert acked is True
    lane.wait_for("the headquarters told", lambda: bool(
        of_kind(inboxes(lane), HEADQUARTERS, "MATCH_ESCALATED")))

    # A second hit falls due while no worker runs.
    publish_pair(lane, 2, MEI)
    lane.wait_for("the second hit's duties projected", lambda: lane.scalar(
        "SELECT count(DISTINCT match_id) FROM proj_match_duties") == 2, timeout=180)
    second = lane.scalar("SELECT match_id FROM proj_match_duties WHERE match_id <> %s", first)
    stop_workers(lane.settings, timeout=20)
    assert escalations(lane, second) == []
    due = lane.scalar("SELECT max(due_at) FROM proj_match_duties WHERE match_id = %s "
                      "AND duty = 'ACK'", second)
    time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 2)
    lane.start(1)
    lane.wait_for("both of the second hit's units escalated after the restart",
                  lambda: len(escalations(lane, second)) == 2, timeout=120)
    time.sleep(4)
    targets = sorted((e["overdue_unit"], e["escalated_to"]) for e in escalations(lane, second))
    # Jiangsu's own provincial police is the headquarters: its lapse goes to the hub operator.
    assert targets == [(LOCAL, HUB_OPERATOR_ID), (ISSUER, HEADQUARTERS)]
    assert len(escalations(lane, first)) == 1
    assert lane.scalar("SELECT count(*) FROM response_escalations") == 3
    lane.wait_for("escalations projected", lambda: lane.scalar(
        "SELECT count(*) FROM proj_match_duties WHERE escalated_at IS NOT NULL") == 3)

    # The log alone gives the same deadlines and escalations.
    query = ("SELECT string_agg(concat_ws('|', match_id, duty, unit, due_at, done_at IS NULL, "
             "escalated_to), ',' ORDER BY match_id, duty, unit) FROM proj_match_duties")
    before = lane.scalar(query)
    rebuild_projections(lane.settings, ["response"])
    assert lane.scalar(query) == before
