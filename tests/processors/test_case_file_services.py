"""Case files read under audit, and closed alerts owing nothing, on the live streams (real
Kafka, PostgreSQL and detached Faust workers)."""

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

from hub.case_file import entitlement
from hub.config import Settings
from hub.envelope import decode_envelope
from hub.identity import check_character
from hub.notice import open_notice
from hub.registry import operator_key_paths
from hub.sealing import CASE_FILE_PURPOSE, SealError, open_sealed
from hub.topics import NOTIFICATIONS
from processors.operations import rebuild_match_index, rebuild_projections
from processors.pg_cases import CaseTxn, audit_rows, case_source
from processors.supervisor import stop_workers
from processors.testing import payload_for

pytestmark = [pytest.mark.services, pytest.mark.slow]

ISSUER = "510100-police"  # Chengdu city police: issues the alert (province of origin)
HEADQUARTERS = "510000-police"
RESCUER = "530000-civil-affairs"  # Yunnan civil affairs: the rescue notice and its follow-ups
RESCUE_POLICE = "530000-police"
OUTSIDER = "320000-police"  # registered, no part in the case
FEDERATION = "530000-womens-federation"  # no case-request permission
UNITS = (ISSUER, HEADQUARTERS, RESCUER, RESCUE_POLICE, OUTSIDER, FEDERATION)
ACK_S = 30


def _child(name: str, born: date, id_number: str) -> dict[str, Any]:
    return {"name": name, "sex": "FEMALE", "birth": {"precision": "DAY", "date": born},
            "id_number": id_number + check_character(id_number)}


HONG = _child("李小红", date(2016, 3, 5), "51010420160305122")
MEI = _child("王美", date(2013, 7, 21), "51010520130721242")


@pytest.fixture
def lane(hub_settings: Settings, tmp_path: Path) -> Iterator[Lane]:
    with make_lane(hub_settings, tmp_path) as made:
        made.world.operator.save(operator_key_paths(made.settings.data_dir)[0])
        made.register(*UNITS)
        made.publish([made.world.add_encryption_key(pid) for pid in UNITS], "registry")
        yield made


def publish_case(lane: Lane, n: int, child: dict[str, Any]) -> str:
    """An alert of Sichuan and a rescue notice of Yunnan about the same child; the case id."""
    at = lane.world.epoch
    alert = payload_for("missing-person-alert", n, at, ISSUER, person=child,
                        jurisdiction="510100",
                        last_seen_place={"area_code": "510104", "text": "成都市锦江区某小区"})
    rescue = payload_for("rescue-notice", n, at, RESCUER, person=dict(child),
                         own_account="我是被一个阿姨带来的")
    lane.publish([lane.world.event(ISSUER, "missing-person-alert", payload=alert)])
    lane.publish([lane.world.event(RESCUER, "rescue-notice", payload=rescue)])
    return str(rescue["rescue_id"])


def notices(lane: Lane) -> dict[str, list[dict[str, Any]]]:
    """Every notification under the lane's prefix, checked as hub-signed for its owner."""
    prefix = lane.settings.topic_prefix + NOTIFICATIONS
    consumer = KafkaConsumer(**lane.settings.kafka_config(),
                             group_id=f"case-check-{secrets.token_hex(4)}",
                             auto_offset_reset="earliest", consumer_timeout_ms=2000)
    try:
        names = sorted(t for t in consumer.topics() if t.startswith(prefix))
        out: dict[str, list[dict[str, Any]]] = {n[len(prefix):]: [] for n in names}
        if names:
            consumer.subscribe(names)
            for message in consumer:
                owner = message.topic[len(prefix):]
                out[owner].append(open_notice(message.value, lane.world.operator.verify_key,
                                              owner).body)
        return out
    finally:
        consumer.close()


def ask(lane: Lane, who: str, case_id: str, reason: str) -> str:
    """Publish a signed case-request; its event id."""
    now = datetime.now(UTC)
    wire = lane.world.event(who, "case-request", published_at=now, payload={
        "request_id": uuid.uuid4(), "case_id": case_id, "reason": reason,
        "requesting_unit": who, "requested_at": now})
    lane.publish([wire])
    return str(decode_envelope(wire).event_id)


def answer(lane: Lane, who: str, request: str) -> dict[str, Any]:
    """Wait for the hub's answer to one request in the unit's own topic."""
    found: list[dict[str, Any]] = []

    def arrived() -> bool:
        found[:] = [n for n in notices(lane).get(who, [])
                    if request in (n.get("request_event_id"), n.get("event_id"))]
        return bool(found)

    lane.wait_for(f"the answer to {who}'s case request", arrived, timeout=120)
    assert len(found) == 1, found
    return found[0]


def opened(lane: Lane, who: str, note: dict[str, Any]) -> dict[str, Any]:
    assert note["kind"] == "CASE_FILE", note
    plain = open_sealed(lane.world.sealing_keys[who], note["sealed"], match_id=note["case_id"],
                        recipient=who, purpose=CASE_FILE_PURPOSE)
    content: dict[str, Any] = json.loads(plain)
    return content


def stored(lane: Lane, event_type: str) -> int:
    return int(lane.scalar("SELECT count(*) FROM event_store WHERE event_type = %s", event_type))


def test_case_file_opens_for_entitled_units_only_and_every_request_is_audited(
    lane: Lane,
) -> None:
    """The province of rescue reads the file (notice, follow-up, hit); another province and
    another department are refused; origin police are refused before the confirmation and
    granted after; every request is audited; a match-index rebuild sends nothing again and
    the log alone gives the same decisions."""
    lane.start(1)
    case = publish_case(lane, 1, HONG)
    follow_up = payload_for("case-follow-up", 1, lane.world.epoch, RESCUER,
                            assistance=["MEDICAL", "SCHOOLING"], note="已入学")
    lane.publish([lane.world.event(RESCUER, "case-follow-up", payload=follow_up)])
    lane.wait_for("the hit to Sichuan", lambda: any(
        n["kind"] == "MATCH_HIT" for n in notices(lane).get(ISSUER, [])), timeout=180)
    lane.wait_for("the follow-up stored", lambda: stored(lane, "case-follow-up") == 1)

    granted = ask(lane, RESCUE_POLICE, case, "安置复核")
    outsider = ask(lane, OUTSIDER, case, "curious")
    early = ask(lane, ISSUER, case, "核实身份")
    federation = ask(lane, FEDERATION, case, "回访")

    content = opened(lane, RESCUE_POLICE, answer(lane, RESCUE_POLICE, granted))
    assert content["rescue_notice"]["person"]["name"] == "李小红"
    assert content["rescue_notice"]["own_account"] == "我是被一个阿姨带来的"
    assert [f["assistance"] for f in content["follow_ups"]] == [["MEDICAL", "SCHOOLING"]]
    (match,) = content["matches"]
    assert match["alert_issued_by"] == ISSUER and match["decisions"] == []
    sealed = answer(lane, RESCUE_POLICE, granted)
    assert "李" not in json.dumps(sealed, ensure_ascii=False)  # sealed on the broker too
    with pytest.raises(SealError):
        open_sealed(lane.world.sealing_keys[OUTSIDER], sealed["sealed"], match_id=case,
                    recipient=RESCUE_POLICE, purpose=CASE_FILE_PURPOSE)
    for who, request, reason in ((OUTSIDER, outsider, "CASE_FILE_REFUSED"),
                                 (ISSUER, early, "CASE_FILE_REFUSED"),
                                 (FEDERATION, federation, "NOT_PERMITTED")):
        refusal = answer(lane, who, request)
        assert (refusal["kind"], refusal["reason"]) == ("EVENT_REFUSED", reason), refusal
        assert "李" not in json.dumps(refusal, ensure_ascii=False)
    assert "not confirmed yet" in answer(lane, ISSUER, early)["detail"]
    assert not any(n["kind"] == "CASE_FILE" for who in (OUTSIDER, ISSUER, FEDERATION)
                   for n in notices(lane).get(who, []))

    # Sichuan confirms the hit: from then on its police read the file, with the decision.
    lane.publish([lane.world.event(ISSUER, "match-decision", payload={
        "match_id": match["match_id"], "alert_id": match["alert_id"], "decision": "CONFIRMED",
        "note": "家属已辨认", "deciding_unit": ISSUER, "decided_at": datetime.now(UTC)})])
    lane.wait_for("the decision stored", lambda: stored(lane, "match-decision") == 1)
    late = ask(lane, ISSUER, case, "接回")
    after = opened(lane, ISSUER, answer(lane, ISSUER, late))
    assert [d["decision"] for d in after["matches"][0]["decisions"]] == ["CONFIRMED"]

    def audit() -> list[tuple[str, str, str, str]]:
        with psycopg.connect(lane.settings.pg_dsn) as conn, conn.cursor() as cur:
            return [(r.request_event_id, r.requester, r.outcome, r.reason)
                    for r in audit_rows(cur, case=case)]

    lane.wait_for("five requests audited", lambda: len(audit()) == 5)
    assert sorted(audit()) == sorted([
        (granted, RESCUE_POLICE, "GRANTED", "安置复核"), (outsider, OUTSIDER, "REFUSED", "curious"),
        (early, ISSUER, "REFUSED", "核实身份"), (federation, FEDERATION, "REFUSED", "回访"),
        (late, ISSUER, "GRANTED", "接回")])
    step = lane.scalar("SELECT step FROM case_audit WHERE request_event_id = %s", federation)
    assert step == "verify"

    # A rebuild feeds every request through the stage again: nothing is sent or audited twice,
    # and the decisions follow from the log alone.
    stop_workers(lane.settings, timeout=20)
    sent_before = {who: len(box) for who, box in notices(lane).items()}
    outbox = "SELECT count(*) FROM match_outbox"
    rows_before = lane.scalar(outbox)
    assert rebuild_match_index(lane.settings) > 0
    rebuild_projections(lane.settings)
    assert lane.scalar(outbox) == rows_before
    lane.start(1)
    time.sleep(5)
    assert {who: len(box) for who, box in notices(lane).items()} == sent_before
    assert len(audit()) == 5
    with psycopg.connect(lane.settings.pg_dsn) as conn, conn.cursor() as cur:
        cases = CaseTxn(cur)
        cur.execute("SELECT request_event_id, requester, outcome FROM case_audit "
                    "WHERE step = 'entitlement'")
        for request, who, outcome in cur.fetchall():
            again = entitlement(case_source(cur, case, cases.position(request)), who,
                                cases.jurisdiction(who))
            assert again.granted == (outcome == "GRANTED"), (who, again)


def escalations(lane: Lane) -> dict[str, int]:
    with psycopg.connect(lane.settings.pg_dsn) as conn:
        rows = conn.execute("SELECT body->>'alert_id', count(*) FROM event_store WHERE "
                            "event_type = 'match-escalated' GROUP BY 1").fetchall()
    return {str(a): int(n) for a, n in rows}


def test_duties_of_a_closed_alert_are_not_escalated(lane: Lane) -> None:
    """Two hits fall overdue; the one whose alert was closed (child found) meanwhile is not
    escalated, the other is."""
    lane.settings = lane.settings.with_overrides(
        ack_urgent_child_s=ACK_S, ack_other_s=ACK_S, decide_urgent_child_s=3600,
        decide_other_s=3600, sweep_every_s=1.0)
    lane.start(1)
    publish_case(lane, 1, HONG)
    publish_case(lane, 2, MEI)
    lane.wait_for("both hits' duties projected", lambda: lane.scalar(
        "SELECT count(DISTINCT match_id) FROM proj_match_duties") == 2, timeout=180)
    closed = payload_for("alert-closed", 1, datetime.now(UTC), ISSUER)
    lane.publish([lane.world.event(ISSUER, "alert-closed", payload=closed)])
    lane.wait_for("the closure stored", lambda: stored(lane, "alert-closed") == 1)
    open_alert, closed_alert = "A-510100-2", str(closed["alert_id"])
    closed_at = lane.scalar("SELECT stored_at FROM event_store WHERE event_type = "
                            "'alert-closed'")
    first_due = lane.scalar("SELECT min(due_at) FROM proj_match_duties WHERE alert_id = %s",
                            closed_alert)
    assert closed_at < first_due, "the machine was too slow to close the alert in time"
    lane.wait_for("the open alert's hit escalated",
                  lambda: escalations(lane).get(open_alert, 0) >= 1, timeout=ACK_S + 120)
    due = lane.scalar("SELECT max(due_at) FROM proj_match_duties WHERE alert_id = %s "
                      "AND duty = 'ACK'", closed_alert)
    assert due is not None and due < datetime.now(UTC)  # overdue, and swept since
    time.sleep(4)
    assert closed_alert not in escalations(lane)
    assert lane.scalar("SELECT count(*) FROM response_escalations e JOIN proj_match_duties d "
                       "USING (match_id) WHERE d.alert_id = %s", closed_alert) == 0
