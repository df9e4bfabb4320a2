"""What each hit owes by when: acknowledgements, the decision, and their escalations.

Built from the log only (match-found carries the deadlines, match-ack and match-decision meet
them, match-escalated records an escalation), so a rebuild reproduces every deadline and every
escalation. The deadline sweep (processors.deadline_sweep) reads this table; the rules are in
hub.response.
"""

from __future__ import annotations

from hub.projections._fields import text
from hub.projections.model import Column, Projection, TableSpec, Upsert
from hub.response import Duty
from hub.store import EventRecord

# The decision row of a match is owed by the match as a whole: any notified unit may decide.
WHOLE_MATCH = "*"
FINAL = ("CONFIRMED", "REJECTED")

DUTIES = TableSpec(
    "proj_match_duties",
    ("match_id", "duty", "unit"),
    (
        Column("owed_by", merge="keep"),
        Column("alert_id", merge="keep"),
        Column("urgency", merge="keep"),
        # The first notification's deadline stays: new evidence does not move it.
        Column("due_at", "timestamptz", "keep"),
        # Merged by max so that the order acks, decisions and escalations arrive in is moot.
        Column("done_at", "timestamptz", "max"),
        Column("escalated_at", "timestamptz", "max"),
        Column("escalated_to", merge="keep"),
        Column("escalation_event_id", merge="keep"),
    ),
)


def _found(event: EventRecord) -> list[Upsert]:
    b = event.body
    match_id = text(b, "match_id")
    recipients = [str(r) for r in b.get("recipients") or []]
    common = {"alert_id": b.get("alert_id"), "urgency": b.get("urgency")}
    changes = [
        Upsert(DUTIES.name, {"match_id": match_id, "duty": Duty.ACK.value, "unit": unit},
               {**common, "owed_by": unit, "due_at": b.get("reply_by")})
        for unit in recipients
    ]
    if recipients:
        # The issuing unit (routed first) answers for the decision on its alert.
        changes.append(Upsert(
            DUTIES.name,
            {"match_id": match_id, "duty": Duty.DECISION.value, "unit": WHOLE_MATCH},
            {**common, "owed_by": recipients[0], "due_at": b.get("decide_by")},
        ))
    return changes


def _ack(event: EventRecord) -> list[Upsert]:
    b = event.body
    at = b.get("acknowledged_at") or event.occurred_at.isoformat()
    return [Upsert(DUTIES.name, {"match_id": text(b, "match_id"), "duty": Duty.ACK.value,
                                 "unit": event.publisher_id}, {"done_at": at})]


def _decision(event: EventRecord) -> list[Upsert]:
    b = event.body
    match_id = text(b, "match_id")
    at = b.get("decided_at") or event.occurred_at.isoformat()
    # Deciding shows the unit read the hit: it counts as its acknowledgement too.
    changes = [Upsert(DUTIES.name, {"match_id": match_id, "duty": Duty.ACK.value,
                                    "unit": event.publisher_id}, {"done_at": at})]
    if b.get("decision") in FINAL:
        changes.append(Upsert(
            DUTIES.name,
            {"match_id": match_id, "duty": Duty.DECISION.value, "unit": WHOLE_MATCH},
            {"done_at": at},
        ))
    return changes


def _escalated(event: EventRecord) -> list[Upsert]:
    b = event.body
    duty = text(b, "duty")
    unit = WHOLE_MATCH if duty == Duty.DECISION.value else text(b, "overdue_unit")
    return [Upsert(
        DUTIES.name,
        {"match_id": text(b, "match_id"), "duty": duty, "unit": unit},
        {"escalated_at": event.occurred_at.isoformat(), "escalated_to": b.get("escalated_to"),
         "escalation_event_id": event.event_id},
    )]


RESPONSE_PROJECTION = Projection(
    "response",
    (DUTIES,),
    {"match-found": _found, "match-ack": _ack, "match-decision": _decision,
     "match-escalated": _escalated},
)
