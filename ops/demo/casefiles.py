"""The demo's case-file reads: one by an entitled unit, one refused, both audited.

The case is picked from the run's own store: a rescue notice with follow-ups (and a hit, when
one exists) rescued in a demo province. Its province's police read it; the police of a province
with no part in the case (neither of rescue nor of an alert that hit it) are refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

__all__ = ["CaseRead", "pick_case", "summary"]

_CASE = """
SELECT case_id, rescued_in, origins FROM (
  SELECT r.body->>'rescue_id' AS case_id, r.position,
         left(r.body->'rescue_place'->>'area_code', 2) AS rescued_in,
         (SELECT count(*) FROM event_store f WHERE f.event_type = 'case-follow-up'
            AND f.body->>'rescue_id' = r.body->>'rescue_id') AS follow_ups,
         ARRAY(SELECT DISTINCT left(a.publisher_id, 2) FROM event_store m
                 JOIN event_store a ON a.event_id = m.body->>'alert_event_id'
                WHERE m.event_type = 'match-found'
                  AND m.body->>'counterpart_kind' = 'RESCUE_NOTICE'
                  AND m.body->>'counterpart_id' = r.body->>'rescue_id') AS origins
    FROM event_store r WHERE r.event_type = 'rescue-notice') cases
 WHERE rescued_in = ANY(%s) AND follow_ups > 0
 ORDER BY cardinality(origins) > 0 DESC, follow_ups DESC, position
 LIMIT 1
"""


@dataclass(frozen=True)
class CaseRead:
    """The case the demo reads, who may read it and who may not."""

    case_id: str
    reader: str
    outsider: str


def pick_case(dsn: str, provinces: Sequence[str]) -> CaseRead | None:
    """A case with follow-ups rescued in one of `provinces` (codes like 510000), or None."""
    two = [p[:2] for p in provinces]
    with psycopg.connect(dsn) as conn:
        row = conn.execute(_CASE, (two,)).fetchone()
    if row is None:
        return None
    case_id, rescued_in, origins = row
    others = [p for p in two if p != rescued_in and p not in set(origins or [])]
    if not others:
        return None
    return CaseRead(str(case_id), f"{rescued_in}0000-police", f"{others[0]}0000-police")


def summary(output: str) -> str:
    """What `hub-connector case` printed, in a few words: counts of a file, or the refusal."""
    refused = re.search(r"refused: (\w+): (.*)", output)
    if refused:
        return f"refused ({refused.group(1)}): {refused.group(2).strip()}"
    follow_ups = re.search(r"follow-ups \((\d+)\)", output)
    matches = re.search(r"matches \((\d+)\)", output)
    if follow_ups and matches:
        return f"opened: {follow_ups.group(1)} follow-ups, {matches.group(1)} matches"
    return "no answer (see the log)"
