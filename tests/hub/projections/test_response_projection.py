"""The response projection: duties of a hit from the log, the same whatever the order."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hub.projection_store import InMemoryProjectionStore, checksum_rows
from hub.projections.apply import apply_events
from hub.store import EventRecord

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
MATCH = "6f1c9a1e-0d7e-4a51-9a55-2d3f0f2b7c11"
ISSUER, LOCAL = "510100-police", "320000-police"


def event(event_type: str, body: dict[str, Any], publisher: str) -> EventRecord:
    return EventRecord(str(uuid.uuid4()), event_type, 1, "00" * 32, publisher, "11" * 16, 1,
                       T0, T0, b"", b"", b"", body)


def duties(*events: EventRecord) -> dict[tuple[str, str], dict[str, Any]]:
    store = InMemoryProjectionStore()
    with store.transaction() as txn:
        apply_events(txn, list(events), projections=["response"])
    return {(r["duty"], r["unit"]): r for r in store.rows("proj_match_duties")}


def moment(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


FOUND = event("match-found", {
    "match_id": MATCH, "alert_id": "A-1", "recipients": [ISSUER, LOCAL], "urgency": "URGENT",
    "reply_by": (T0 + timedelta(hours=1)).isoformat(),
    "decide_by": (T0 + timedelta(hours=12)).isoformat()}, "000000-hub-operator")
ACK = event("match-ack", {"match_id": MATCH, "acknowledging_unit": LOCAL,
                          "acknowledged_at": (T0 + timedelta(minutes=5)).isoformat()}, LOCAL)
ESCALATED = event("match-escalated", {
    "match_id": MATCH, "alert_id": "A-1", "duty": "ACK", "overdue_unit": ISSUER,
    "due_at": (T0 + timedelta(hours=1)).isoformat(), "escalated_to": "510000-police"},
    "000000-hub-operator")


def test_a_hit_owes_one_ack_per_recipient_and_one_decision() -> None:
    """match-found opens an ACK duty per notified unit and a DECISION duty owed by the issuer."""
    rows = duties(FOUND)
    assert set(rows) == {("ACK", ISSUER), ("ACK", LOCAL), ("DECISION", "*")}
    assert rows[("DECISION", "*")]["owed_by"] == ISSUER
    assert moment(rows[("ACK", LOCAL)]["due_at"]) == T0 + timedelta(hours=1)


def test_ack_and_escalation_mark_their_own_duty_in_any_order() -> None:
    """An ack or escalation that arrives before its hit gives the same rows as after it."""
    checksums = set()
    for order in itertools.permutations([FOUND, ACK, ESCALATED]):
        rows = duties(*order)
        assert moment(rows[("ACK", LOCAL)]["done_at"]) == T0 + timedelta(minutes=5)
        assert rows[("ACK", ISSUER)]["escalated_to"] == "510000-police"
        assert rows[("ACK", ISSUER)]["done_at"] is None
        checksums.add(checksum_rows(list(rows.values())))
    assert len(checksums) == 1


def test_a_final_decision_meets_the_decision_and_the_deciders_ack() -> None:
    """CONFIRMED or REJECTED meets the decision; NEED_INFO only the deciding unit's ack."""
    def decided(decision: str) -> dict[tuple[str, str], dict[str, Any]]:
        return duties(FOUND, event("match-decision", {
            "match_id": MATCH, "alert_id": "A-1", "decision": decision, "deciding_unit": ISSUER,
            "decided_at": (T0 + timedelta(minutes=9)).isoformat()}, ISSUER))

    confirmed, asked = decided("CONFIRMED"), decided("NEED_INFO")
    assert confirmed[("DECISION", "*")]["done_at"] is not None
    assert confirmed[("ACK", ISSUER)]["done_at"] is not None
    assert asked[("DECISION", "*")]["done_at"] is None
    assert asked[("ACK", ISSUER)]["done_at"] is not None
