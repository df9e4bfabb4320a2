"""Matching on the live streams: real Kafka, PostgreSQL and detached Faust worker processes."""

from __future__ import annotations

import json
import os
import secrets
import signal
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer
from pipeline_support import Lane, make_lane

from hub.config import Settings
from hub.envelope import decode_envelope
from hub.identity import check_character
from hub.notice import open_notice
from hub.registry import operator_key_paths
from hub.topics import NOTIFICATIONS
from processors.testing import payload_for

pytestmark = [pytest.mark.services, pytest.mark.slow]

SICHUAN_POLICE = "510000-police"
JIANGSU_POLICE = "320000-police"
JIANGSU_REGISTRY = "320000-migrant-registry"
BYSTANDERS = ("530000-police", "450000-police", "530000-civil-affairs")


def _child(name: str, born: date, id_number: str, mark: str) -> dict[str, Any]:
    return {
        "name": name,
        "sex": "FEMALE",
        "birth": {"precision": "DAY", "date": born},
        "id_number": id_number + check_character(id_number),
        "marks": [mark],
    }


HONG = _child("李小红", date(2016, 3, 5), "51010420160305122", "左耳后有痣")
MEI = _child("王美", date(2013, 7, 21), "51010520130721242", "右手背有疤")


@pytest.fixture
def lane(hub_settings: Settings, tmp_path: Path) -> Iterator[Lane]:
    with make_lane(hub_settings, tmp_path) as made:
        # The matcher signs match-found events with the operator key found in the data dir.
        made.world.operator.save(operator_key_paths(made.settings.data_dir)[0])
        made.register(SICHUAN_POLICE, JIANGSU_POLICE, JIANGSU_REGISTRY, *BYSTANDERS)
        yield made


def alert(lane: Lane, n: int, person: dict[str, Any]) -> bytes:
    at = lane.world.epoch
    payload = payload_for(
        "missing-person-alert",
        n,
        at,
        SICHUAN_POLICE,
        person=person,
        last_seen_place={"area_code": "510104", "text": "成都市锦江区某小区"},
        jurisdiction="510000",
    )
    return lane.world.event(SICHUAN_POLICE, "missing-person-alert", payload=payload)


def record(lane: Lane, n: int, children: list[dict[str, Any]], moved_in: date) -> bytes:
    payload = payload_for("migrant-record", n, lane.world.epoch, JIANGSU_REGISTRY)
    payload["children"] = [{"child": c, "guardian_relation": "NON_RELATIVE"} for c in children]
    payload["moved_in_on"] = moved_in
    return lane.world.event(JIANGSU_REGISTRY, "migrant-record", payload=payload)


def inboxes(lane: Lane) -> dict[str, list[dict[str, Any]]]:
    """Every notification topic under the lane's prefix and what it holds, by participant."""
    prefix = lane.settings.topic_prefix + NOTIFICATIONS
    consumer = KafkaConsumer(
        **lane.settings.kafka_config(),
        group_id=f"inbox-check-{secrets.token_hex(4)}",
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    try:
        names = sorted(t for t in consumer.topics() if t.startswith(prefix))
        out: dict[str, list[dict[str, Any]]] = {n[len(prefix) :]: [] for n in names}
        if names:
            consumer.subscribe(names)
            for message in consumer:
                recipient = message.topic[len(prefix) :]
                # Every notice must open with the operator key, for the topic's own participant.
                notice = open_notice(message.value, lane.world.operator.verify_key, recipient)
                out[recipient].append(notice.body)
        return out
    finally:
        consumer.close()


def counts(lane: Lane) -> dict[str, int]:
    return {pid: len(notes) for pid, notes in inboxes(lane).items()}


def processed(lane: Lane, wire: bytes) -> bool:
    """Whether the matcher has indexed the persons of this exact event and the owners of their
    blocking keys have searched for them."""
    event_id = str(decode_envelope(wire).event_id)
    found = lane.scalar("SELECT count(*) FROM match_persons WHERE event_id = %s", event_id)
    return bool(found) and scored(lane)


def scored(lane: Lane) -> bool:
    """Every probe written so far was sent to the keyed topic and scored there."""
    unsent = lane.scalar("SELECT count(*) FROM match_probe_outbox WHERE sent_at IS NULL")
    written = lane.scalar("SELECT count(*) FROM match_probe_outbox")
    done = lane.scalar(
        "SELECT coalesce(sum(\"offset\" + 1), 0) FROM processed WHERE consumer = 'match-keys'"
    )
    return unsent == 0 and done >= written


def test_hit_notifies_issuing_and_local_police_only(lane: Lane) -> None:
    """A Sichuan alert and a Jiangsu registration reach both police inboxes and no other topic."""
    lane.start(1)
    lane.publish([alert(lane, 1, HONG)])
    lane.publish([record(lane, 1, [dict(HONG, name="李晓红")], date(2026, 1, 10))])
    lane.wait_for(
        "a notification in both police inboxes",
        lambda: counts(lane) == {SICHUAN_POLICE: 1, JIANGSU_POLICE: 1},
        timeout=180,
    )
    boxes = inboxes(lane)
    assert set(boxes) == {SICHUAN_POLICE, JIANGSU_POLICE}
    issuer, local = boxes[SICHUAN_POLICE][0], boxes[JIANGSU_POLICE][0]
    assert issuer["match_id"] == local["match_id"]
    assert (issuer["role"], local["role"]) == ("ISSUING_UNIT", "LOCAL_POLICE")
    assert issuer["counterpart"]["id"] == "M-320000-1"
    assert issuer["counterpart"]["child_index"] == 0
    assert issuer["urgency"] == "URGENT"
    # Minimum data: no name and no identity number of the child travel in a notification.
    for note in (issuer, local):
        text = json.dumps(note, ensure_ascii=False)
        assert "李" not in text and HONG["id_number"] not in text
    # The match-found event went through verification into the store and the projection.
    lane.wait_for(
        "match-found stored and projected",
        lambda: (
            lane.scalar(
                "SELECT recipients::text FROM proj_matches WHERE match_id = %s", issuer["match_id"]
            )
            == json.dumps([SICHUAN_POLICE, JIANGSU_POLICE])
        ),
    )
    assert (
        lane.scalar("SELECT publisher_id FROM event_store WHERE event_type = 'match-found'")
        == "000000-hub-operator"
    )
    assert lane.scalar("SELECT count(*) FROM quarantine") == 0


def test_rejected_pair_is_not_notified_again(lane: Lane) -> None:
    """New evidence re-notifies an undecided pair; after a rejection an update notifies no one."""
    lane.start(1)
    lane.publish([alert(lane, 2, HONG), record(lane, 2, [HONG], date(2026, 1, 10))])
    lane.wait_for("first notifications", lambda: counts(lane).get(SICHUAN_POLICE) == 1)
    second = record(lane, 2, [HONG], date(2026, 2, 1))
    lane.publish([second])
    lane.wait_for("re-notification on new evidence", lambda: counts(lane).get(SICHUAN_POLICE) == 2)
    match_id = inboxes(lane)[SICHUAN_POLICE][0]["match_id"]
    decision = payload_for(
        "match-decision",
        2,
        lane.world.epoch,
        SICHUAN_POLICE,
        match_id=match_id,
        alert_id="A-510000-2",
        decision="REJECTED",
    )
    lane.publish([lane.world.event(SICHUAN_POLICE, "match-decision", payload=decision)])
    lane.wait_for(
        "rejection recorded",
        lambda: (
            lane.scalar("SELECT status FROM match_pairs WHERE match_id = %s", match_id)
            == "REJECTED"
        ),
    )
    outbox_before = lane.scalar("SELECT count(*) FROM match_outbox")
    third = record(lane, 2, [HONG], date(2026, 3, 1))
    lane.publish([third])
    lane.wait_for("updated record indexed", lambda: processed(lane, third))
    assert lane.scalar("SELECT count(*) FROM match_outbox") == outbox_before
    assert counts(lane) == {SICHUAN_POLICE: 2, JIANGSU_POLICE: 2}
    assert lane.scalar("SELECT notifications FROM match_pairs WHERE match_id = %s", match_id) == 2


def test_closed_alert_stops_matching_and_confirmation_closes_it(lane: Lane) -> None:
    """A closed alert finds nothing; the open one is notified, and once confirmed stops too."""
    lane.start(1)
    closed = payload_for("alert-closed", 3, lane.world.epoch, SICHUAN_POLICE)
    lane.publish(
        [
            alert(lane, 3, HONG),
            alert(lane, 4, MEI),
            lane.world.event(SICHUAN_POLICE, "alert-closed", payload=closed),
        ]
    )
    lane.wait_for(
        "alert A-510000-3 closed for matching",
        lambda: (
            lane.scalar("SELECT status FROM match_alerts WHERE alert_id = 'A-510000-3'") == "closed"
        ),
    )
    first = record(lane, 5, [HONG, MEI], date(2026, 1, 10))
    lane.publish([first])
    lane.wait_for("the open alert notified", lambda: counts(lane).get(SICHUAN_POLICE) == 1)
    note = inboxes(lane)[SICHUAN_POLICE][0]
    assert (note["alert_id"], note["counterpart"]["child_index"]) == ("A-510000-4", 1)
    assert lane.scalar("SELECT count(*) FROM match_pairs WHERE alert_id = 'A-510000-3'") == 0
    confirm = payload_for(
        "match-decision",
        4,
        lane.world.epoch,
        SICHUAN_POLICE,
        match_id=note["match_id"],
        alert_id="A-510000-4",
        decision="CONFIRMED",
    )
    lane.publish([lane.world.event(SICHUAN_POLICE, "match-decision", payload=confirm)])
    lane.wait_for(
        "confirmed alert out of matching",
        lambda: (
            lane.scalar("SELECT status FROM match_alerts WHERE alert_id = 'A-510000-4'")
            == "confirmed"
        ),
    )
    again = record(lane, 6, [MEI], date(2026, 4, 1))
    lane.publish([again])
    lane.wait_for("second record indexed", lambda: processed(lane, again))
    assert lane.scalar("SELECT count(*) FROM match_pairs") == 1
    assert counts(lane) == {SICHUAN_POLICE: 1, JIANGSU_POLICE: 1}


def test_rescue_hit_reaches_rescue_province_and_confirmation_updates_the_case(
    lane: Lane,
) -> None:
    """A Yunnan rescue notice is routed to Yunnan police; a confirmation marks the case found."""
    lane.start(1)
    civil = "530000-civil-affairs"
    rescued = {k: v for k, v in HONG.items() if k != "id_number"}
    notice = payload_for("rescue-notice", 7, lane.world.epoch, civil, person=rescued)
    lane.publish([alert(lane, 7, HONG)])
    lane.publish([lane.world.event(civil, "rescue-notice", payload=notice)])
    lane.wait_for(
        "notifications to Sichuan and Yunnan police",
        lambda: counts(lane) == {SICHUAN_POLICE: 1, "530000-police": 1},
    )
    note = inboxes(lane)["530000-police"][0]
    assert note["counterpart"] == {
        "kind": "RESCUE",
        "id": "R-530000-7",
        "child_index": None,
        "held_by": civil,
        "area_code": "530102",
    }
    confirm = payload_for(
        "match-decision",
        7,
        lane.world.epoch,
        SICHUAN_POLICE,
        match_id=note["match_id"],
        alert_id="A-510000-7",
        decision="CONFIRMED",
    )
    lane.publish([lane.world.event(SICHUAN_POLICE, "match-decision", payload=confirm)])
    lane.wait_for(
        "rescue case marked family found",
        lambda: (
            lane.scalar(
                "SELECT family_reunion_now FROM rescue_case_matches WHERE rescue_id = 'R-530000-7'"
            )
            == "FAMILY_FOUND"
        ),
    )
    assert (
        lane.scalar(
            "SELECT confirmed_alert_id FROM rescue_case_matches WHERE rescue_id = 'R-530000-7'"
        )
        == "A-510000-7"
    )


def test_two_workers_share_the_index_and_miss_no_pair(lane: Lane) -> None:
    """Alerts and records arriving together on two workers still meet: every pair notified."""
    lane.register("320500-migrant-registry")
    lane.start(2)
    pairs = 12
    people = [
        _child(
            f"{'李王张刘陈杨黄赵吴周徐孙'[i]}{'红梅丽娟'[i % 4]}",
            date(2012 + i % 5, 1 + i, 9),
            f"510104{2012 + i % 5:04d}{1 + i:02d}09{i * 2:03d}",
            "左耳后有痣",
        )
        for i in range(pairs)
    ]
    wires = []
    for i, person in enumerate(people):
        wires.append(alert(lane, 100 + i, person))
        registry = JIANGSU_REGISTRY if i % 2 else "320500-migrant-registry"
        payload = payload_for("migrant-record", 100 + i, lane.world.epoch, registry)
        payload["children"] = [{"child": person, "guardian_relation": "NON_RELATIVE"}]
        wires.append(lane.world.event(registry, "migrant-record", payload=payload))
    lane.publish(wires)
    lane.wait_for(
        "every pair notified",
        lambda: lane.scalar("SELECT count(*) FROM match_pairs WHERE status = 'NOTIFIED'") == pairs,
        timeout=180,
    )
    assert lane.scalar("SELECT count(DISTINCT alert_id) FROM match_pairs") == pairs
    lane.wait_for("issuer inbox complete", lambda: counts(lane).get(SICHUAN_POLICE) == pairs)


def test_pairs_found_under_two_keys_by_two_workers_one_restarted_notify_once(
    lane: Lane,
) -> None:
    """Matching partitioned by key on two workers: pairs sharing several blocking keys (so
    found more than once, on both workers' partitions) are notified once each; a worker
    SIGKILLed mid-stream and restarted loses no pair and repeats no notification."""
    lane.start(2)
    pairs = 16
    people = [
        _child(
            f"{'李王张刘陈杨黄赵吴周徐孙马朱胡郭'[i]}{'红梅丽娟'[i % 4]}",
            date(2010 + i % 6, 1 + i % 12, 3 + i),
            f"510104{2010 + i % 6:04d}{1 + i % 12:02d}{3 + i:02d}{i * 3:03d}",
            "右手背有疤",
        )
        for i in range(pairs)
    ]
    wires = []
    for i, person in enumerate(people):
        wires.append(alert(lane, 200 + i, person))
        wires.append(record(lane, 200 + i, [person], date(2026, 2, 1)))
    notified = "SELECT count(*) FROM match_pairs WHERE status = 'NOTIFIED'"
    lane.publish(wires[:pairs])
    lane.wait_for("a first pair notified", lambda: lane.scalar(notified) >= 1, timeout=180)
    victim = lane.pids()[0]
    os.kill(victim, signal.SIGKILL)
    lane.wait_for("victim gone", lambda: victim not in lane.pids(), timeout=30)
    lane.publish(wires[pairs:])
    lane.start(2)  # restarts the killed slot
    lane.wait_for("every pair notified", lambda: lane.scalar(notified) == pairs, timeout=300)
    lane.wait_for("every probe scored", lambda: scored(lane), timeout=120)
    shared = lane.scalar(
        "SELECT min(n) FROM (SELECT count(*) AS n FROM match_pairs p "
        "JOIN match_keys a ON a.person_ref = 'ALERT:' || p.alert_id "
        "JOIN match_keys r ON r.person_ref = p.counterpart_ref AND r.block_key = a.block_key "
        "GROUP BY p.match_id) per_pair"
    )
    assert shared >= 2  # every pair shares at least two keys
    assert lane.scalar("SELECT max(notifications) FROM match_pairs") == 1
    assert lane.scalar("SELECT count(*) FROM match_failures") == 0
    # A notification sent but not yet marked when its worker died is sent again (the outbox is
    # at least once; connectors drop a repeat by its id): count the matches each unit heard of.
    def heard() -> dict[str, int]:
        return {pid: len({n["match_id"] for n in notes}) for pid, notes in inboxes(lane).items()}

    lane.wait_for("issuer inbox complete", lambda: heard().get(SICHUAN_POLICE) == pairs)
    assert heard() == {SICHUAN_POLICE: pairs, JIANGSU_POLICE: pairs}
    found = "SELECT count(*) FROM event_store WHERE event_type = 'match-found'"
    lane.wait_for("one match-found event per pair", lambda: lane.scalar(found) == pairs)
