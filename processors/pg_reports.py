"""Reads the report's facts (hub.reports.facts) from the projections and the event store.

Only what a rebuild gives back is read: the proj_* tables (rebuilt from the event store by
`hubctl rebuild`), the event store itself and the quarantine. Run with the read-only role.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from hub.reports.facts import (
    AlertFact,
    ExchangeFacts,
    Facts,
    FollowUpFact,
    HitFact,
    RescueFact,
    TipFact,
    case_type_of,
    person_group,
    province_of,
)
from processors.pg_store import PgConnection

__all__ = ["read_facts"]

_ALERTS = """
SELECT alert_id, COALESCE(issuing_unit, publisher_id), jurisdiction, case_type, person,
       COALESCE(last_seen_at, reported_at, occurred_at), COALESCE(reported_at, occurred_at),
       outcome, closed_at
FROM proj_alerts ORDER BY alert_id
"""
# A decision may be projected before its match: such a row has no found_at yet and is no hit.
_HITS = """
SELECT m.match_id, m.alert_id, m.found_at, COALESCE(jsonb_array_length(m.recipients), 0) > 0,
       m.counterpart_kind, m.counterpart_id,
       (SELECT min(d.decided_at) FROM proj_match_decisions d
        WHERE d.match_id = m.match_id AND d.decision = 'CONFIRMED')
FROM proj_matches m WHERE m.found_at IS NOT NULL ORDER BY m.match_id
"""
_RESCUES = """
SELECT rescue_id, COALESCE(issuing_unit, publisher_id), person, COALESCE(rescued_at, occurred_at)
FROM proj_rescue_cases ORDER BY rescue_id
"""
# The projection keeps the latest placement only; the notice's own comes from its event.
_NOTICE_PLACEMENT = """
SELECT body ->> 'rescue_id', body -> 'placement' ->> 'kind' FROM event_store
WHERE event_type = 'rescue-notice'
"""
_FOLLOW_UPS = """
SELECT rescue_id, followed_up_on, family_reunion,
       COALESCE(details -> 'assistance', '[]'::jsonb), details -> 'placement' ->> 'kind'
FROM proj_case_follow_ups WHERE followed_up_on IS NOT NULL ORDER BY rescue_id, follow_up_id
"""
# A tip counts as forwarded to an alert when the tipster named one, or when the matcher found
# an open alert it fits and sent it to that alert's issuing unit (tip_forwards, hub.tips).
_TIPS = """
SELECT t.tip_id, t.publisher_id, COALESCE(t.received_at, t.occurred_at),
       t.related_alert_id IS NOT NULL OR EXISTS (
           SELECT 1 FROM tip_forwards f
           WHERE f.tip_id = t.tip_id AND cardinality(f.alert_ids) > 0)
FROM proj_tips t ORDER BY t.tip_id
"""
_EVENTS = """
SELECT publisher_id, (stored_at AT TIME ZONE 'UTC')::date, count(*)
FROM event_store GROUP BY 1, 2
"""
# Reply duties (hub.response, proj_match_duties) whose deadline passed before the unit
# acknowledged (or decided), counted on the day they fell due.
_OVERDUE = """
SELECT unit, (due_at AT TIME ZONE 'UTC')::date, count(*)
FROM proj_match_duties
WHERE duty = 'ACK' AND due_at IS NOT NULL AND due_at < COALESCE(done_at, clock_timestamp())
GROUP BY 1, 2
"""
_REJECTED = """
SELECT reason, COALESCE(publisher_id, 'unknown'), (received_at AT TIME ZONE 'UTC')::date,
       count(*)
FROM quarantine GROUP BY 1, 2, 3
"""
# The hub's notification delay: from the moment it held both documents of a pair to the
# moment it stored the hit (the router sends the notification from that event).
_DELAYS = """
SELECT (m.stored_at AT TIME ZONE 'UTC')::date,
       EXTRACT(EPOCH FROM m.stored_at - GREATEST(a.stored_at, c.stored_at))::double precision
FROM event_store m
JOIN event_store a ON a.event_id = m.body ->> 'alert_event_id'
JOIN event_store c ON c.event_id = m.body ->> 'counterpart_event_id'
WHERE m.event_type = 'match-found'
"""


def _rows(db: PgConnection, query: str) -> list[tuple[Any, ...]]:
    with db.cursor() as cur:
        cur.execute(query)
        return list(cur.fetchall())


def _day(moment: dt.datetime | None) -> dt.date:
    return (moment or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date()


def read_facts(dsn: str) -> Facts:
    """Every fact the report needs, from one database (the hub's or a demo run's)."""
    db = PgConnection(dsn)
    try:
        alerts = tuple(
            AlertFact(
                alert_id=row[0],
                province=province_of(row[1] or row[2]),
                case_type=case_type_of(row[3]),
                group=person_group(row[4], _day(row[5])),
                reported_at=row[6],
                outcome=row[7],
                closed_at=row[8],
            )
            for row in _rows(db, _ALERTS)
        )
        hits = tuple(
            HitFact(row[0], row[1], row[2], bool(row[3]), row[4], row[5], row[6])
            for row in _rows(db, _HITS)
        )
        follow_ups: dict[str, list[FollowUpFact]] = defaultdict(list)
        for rescue_id, on, reunion, assistance, placement in _rows(db, _FOLLOW_UPS):
            follow_ups[rescue_id].append(
                FollowUpFact(on, frozenset(assistance or ()), reunion, placement)
            )
        placements = dict(_rows(db, _NOTICE_PLACEMENT))
        rescues = tuple(
            RescueFact(
                rescue_id=row[0],
                province=province_of(row[1]),
                group=person_group(row[2], _day(row[3])),
                rescued_at=row[3],
                placement_kind=placements.get(row[0]),
                follow_ups=tuple(follow_ups.get(row[0], ())),
            )
            for row in _rows(db, _RESCUES)
        )
        tips = tuple(
            TipFact(row[0], province_of(row[1]), row[2], bool(row[3])) for row in _rows(db, _TIPS)
        )
        exchange = ExchangeFacts(
            events={(p, d): int(n) for p, d, n in _rows(db, _EVENTS)},
            rejected={(r, p, d): int(n) for r, p, d, n in _rows(db, _REJECTED)},
            delays=tuple((d, float(s)) for d, s in _rows(db, _DELAYS)),
            overdue={(u, d): int(n) for u, d, n in _rows(db, _OVERDUE)},
        )
        return Facts(alerts, hits, rescues, tips, exchange)
    finally:
        db.close()
