"""Matches the matcher found, with the decisions police units took on them."""

from __future__ import annotations

from hub.atrest import clear_view
from hub.projections._fields import origin, text
from hub.projections.model import Column, Projection, TableSpec, Upsert
from hub.store import EventRecord

MATCHES = TableSpec(
    "proj_matches",
    ("match_id",),
    (
        Column("publisher_id", merge="keep"),
        Column("found_at", "timestamptz", "keep"),
        Column("alert_id"),
        Column("alert_event_id"),
        Column("counterpart_kind"),
        Column("counterpart_id"),
        Column("counterpart_event_id"),
        Column("child_index", "integer"),
        Column("score", "double precision"),
        Column("explanation", "jsonb"),
        Column("dna", "jsonb"),
        Column("recipients", "jsonb"),
        # A decision may be projected before its match (other publisher, other partition):
        # decision columns are merged by decision time so the order does not matter.
        Column("decision", merge="latest", by="decided_at"),
        Column("decided_by", merge="latest", by="decided_at"),
        Column("decided_at", "timestamptz", "max"),
        Column("decisions", "integer", "add"),
    ),
)
DECISIONS = TableSpec(
    "proj_match_decisions",
    ("match_id", "event_id"),
    (
        *(
            Column("publisher_id"),
            Column("occurred_at", "timestamptz"),
        ),
        Column("alert_id"),
        Column("decision"),
        Column("note"),
        Column("deciding_unit"),
        Column("decided_at", "timestamptz"),
    ),
)


def _found(event: EventRecord) -> list[Upsert]:
    # A hit on a rescued person keeps its explanation (the compared values) sealed in the store.
    b = clear_view(event.event_type, event.body)
    return [
        Upsert(
            MATCHES.name,
            {"match_id": text(b, "match_id")},
            {
                "publisher_id": event.publisher_id,
                "found_at": event.occurred_at.isoformat(),
                "alert_id": b.get("alert_id"),
                "alert_event_id": b.get("alert_event_id"),
                "counterpart_kind": b.get("counterpart_kind"),
                "counterpart_id": b.get("counterpart_id"),
                "counterpart_event_id": b.get("counterpart_event_id"),
                "child_index": b.get("child_index"),
                "score": b.get("score"),
                "explanation": list(b.get("explanation") or []),
                "dna": b.get("dna"),
                "recipients": list(b.get("recipients") or []),
            },
        )
    ]


def _decision(event: EventRecord) -> list[Upsert]:
    b = event.body
    match_id = text(b, "match_id")
    decided_at = b.get("decided_at") or event.occurred_at.isoformat()
    return [
        Upsert(
            MATCHES.name,
            {"match_id": match_id},
            {
                "decision": b.get("decision"),
                "decided_by": event.publisher_id,
                "decided_at": decided_at,
                "decisions": 1,
            },
        ),
        Upsert(
            DECISIONS.name,
            {"match_id": match_id, "event_id": event.event_id},
            {
                **origin(event),
                "alert_id": b.get("alert_id"),
                "decision": b.get("decision"),
                "note": b.get("note"),
                "deciding_unit": b.get("deciding_unit"),
                "decided_at": decided_at,
            },
        ),
    ]


MATCHES_PROJECTION = Projection(
    "matches", (MATCHES, DECISIONS), {"match-found": _found, "match-decision": _decision}
)
