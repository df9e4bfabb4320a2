"""Case files from the event store, and the case-file audit of migration 0033.

:func:`case_source` is the one place a case file is assembled: every reader (the case-file
stage, tests, reports to come) goes through it, so that personal data stored encrypted can be
opened in one place. It reads the event store, not the projections: the store holds every
event in the order the hub accepted it, so "what was known when the request came" is the events
stored before the request's position, whatever the projections' lag or a rebuild.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from hub.case_file import CaseMatch, CaseSource
from hub.store import CaseReadAudit, EventStore

__all__ = ["AuditRow", "CaseTxn", "audit_rows", "case_source"]

_NO_LIMIT = 2**62


def case_source(cur: psycopg.Cursor[Any], case_id: str, before: int | None = None,
                events: EventStore | None = None) -> CaseSource:
    """The case `case_id` as the events stored before position `before` (all when None) tell it:
    the latest rescue notice, its follow-ups, the hits on it and their decisions, in log order.

    A rescued person's events are sealed at rest (hub.atrest): the rows give their clear view,
    and `events` (the event store) opens them; the one read of a case's personal data."""
    limit = _NO_LIMIT if before is None else before
    cur.execute(
        "SELECT event_id, publisher_id, body FROM event_store WHERE event_type = 'rescue-notice' "
        "AND body->>'rescue_id' = %s AND position < %s ORDER BY position", (case_id, limit))
    notices = cur.fetchall()
    cur.execute(
        "SELECT event_id, body FROM event_store WHERE event_type = 'case-follow-up' "
        "AND body->>'rescue_id' = %s AND position < %s ORDER BY position", (case_id, limit))
    follow_rows = cur.fetchall()
    cur.execute(
        "SELECT f.event_id, f.body, a.publisher_id, a.body->>'jurisdiction' FROM event_store f "
        "LEFT JOIN event_store a ON a.event_id = f.body->>'alert_event_id' "
        "WHERE f.event_type = 'match-found' AND f.body->>'counterpart_id' = %s "
        "AND f.body->>'counterpart_kind' = 'RESCUE_NOTICE' AND f.position < %s ORDER BY f.position",
        (case_id, limit))
    hit_rows = cur.fetchall()
    opened = _opener(events, [r[0] for r in (*notices, *follow_rows, *hit_rows)])
    follow_ups = _latest_by([opened(r[0], r[1]) for r in follow_rows], "follow_up_id")
    found: dict[str, tuple[dict[str, Any], str | None, str | None]] = {}
    for event_id, body, publisher, jurisdiction in hit_rows:
        found[str(body["match_id"])] = (opened(event_id, body), publisher, jurisdiction)
    decisions: dict[str, list[dict[str, Any]]] = {m: [] for m in found}
    if found:
        cur.execute(
            "SELECT body FROM event_store WHERE event_type = 'match-decision' "
            "AND body->>'match_id' = ANY(%s) AND position < %s ORDER BY position",
            (list(found), limit))
        for (body,) in cur.fetchall():
            decisions[str(body["match_id"])].append(body)
    matches = tuple(
        CaseMatch(match_id, body, publisher, jurisdiction, tuple(decisions[match_id]))
        for match_id, (body, publisher, jurisdiction) in found.items()
    )
    notice_publisher, notice = (
        (notices[-1][1], opened(notices[-1][0], notices[-1][2])) if notices else (None, None))
    return CaseSource(case_id, notice, notice_publisher, tuple(follow_ups), matches)


def _opener(events: EventStore | None, event_ids: Sequence[str]
            ) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    """A lookup of each event's body as published, opened by the store; the row's own body
    (its clear view) when there is no store or the event is not in it."""
    stored = events.get_many(list(event_ids)) if events is not None and event_ids else {}

    def opened(event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        found = stored.get(event_id)
        return dict(found.record.body) if found is not None else body

    return opened


def _latest_by(bodies: Sequence[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """One body per id, the latest, in the order each id first appeared (a follow-up sent
    again under the same id corrects it)."""
    out: dict[Any, dict[str, Any]] = {}
    for body in bodies:
        out[body.get(key)] = body
    return list(out.values())


class CaseTxn:
    """The case-file audit and the request's place in the log, over one transaction's cursor."""

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self.cursor = cur

    def position(self, event_id: str) -> int | None:
        self.cursor.execute("SELECT position FROM event_store WHERE event_id = %s", (event_id,))
        row = self.cursor.fetchone()
        return int(row[0]) if row else None

    def jurisdiction(self, participant_id: str) -> str | None:
        self.cursor.execute(
            "SELECT body->>'jurisdiction' FROM event_store WHERE event_type = "
            "'participant-registered' AND body->>'participant_id' = %s ORDER BY position DESC "
            "LIMIT 1", (participant_id,))
        row = self.cursor.fetchone()
        return str(row[0]) if row and row[0] else None

    def decide(self, entry: CaseReadAudit) -> bool:
        """Record the entitlement decision on a request; False when it was decided before."""
        self.cursor.execute(
            "INSERT INTO case_audit (case_id, requester, request_event_id, reason, step, "
            "outcome, detail, at) VALUES (%s, %s, %s, %s, 'entitlement', %s, %s, %s) "
            "ON CONFLICT (request_event_id) WHERE step = 'entitlement' DO NOTHING RETURNING 1",
            (entry.case_id, entry.requester, entry.request_event_id, entry.reason,
             str(entry.outcome), entry.detail, entry.at),
        )
        return self.cursor.fetchone() is not None


@dataclass(frozen=True)
class AuditRow:
    """One row of `hubctl audit`: a case-file read or a details request."""

    kind: str  # "case-file" or "details"
    subject: str  # the case id or the match id
    requester: str
    outcome: str
    reason: str
    detail: str
    at: datetime
    request_event_id: str


def audit_rows(
    cur: psycopg.Cursor[Any], *, unit: str | None = None, case: str | None = None,
    match: str | None = None, since: datetime | None = None, until: datetime | None = None,
    outcome: str | None = None, limit: int | None = None,
) -> list[AuditRow]:
    """Rows of both audits, oldest first, filtered (a case filter keeps case-file rows only,
    a match filter details rows only)."""
    cur.execute(
        "SELECT kind, subject, requester, outcome, reason, detail, at, request_event_id FROM ("
        " SELECT 'case-file' AS kind, case_id AS subject, requester, outcome, reason, detail,"
        " at, request_event_id, id FROM case_audit WHERE %(match)s::text IS NULL"
        " AND (%(case)s::text IS NULL OR case_id = %(case)s)"
        " UNION ALL"
        " SELECT 'details', match_id, requester, outcome, reason, detail, at,"
        " request_event_id, id FROM disclosure_audit WHERE %(case)s::text IS NULL"
        " AND (%(match)s::text IS NULL OR match_id = %(match)s)"
        ") rows WHERE (%(unit)s::text IS NULL OR requester = %(unit)s)"
        " AND (%(since)s::timestamptz IS NULL OR at >= %(since)s)"
        " AND (%(until)s::timestamptz IS NULL OR at < %(until)s)"
        " AND (%(outcome)s::text IS NULL OR outcome = %(outcome)s)"
        " ORDER BY at, kind, id LIMIT %(limit)s",
        {"unit": unit, "case": case, "match": match, "since": since, "until": until,
         "outcome": outcome, "limit": limit},
    )
    return [AuditRow(*r) for r in cur.fetchall()]
