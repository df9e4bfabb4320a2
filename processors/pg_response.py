"""Reading and writing the response tables of migration 0029 inside a matcher transaction.

Disclosure and the deadline sweep share the matcher's transaction, outbox and operator sequence
(processors.pg_matching), so what they send and what they record commit together.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from typing import Any

import psycopg

from hub.response import Duty, DutyState
from hub.sealing import EncryptionPublicKey
from hub.store import DisclosureAudit

__all__ = ["DueDuty", "PairRefs", "ResponseTxn"]


@dataclass(frozen=True)
class PairRefs:
    """Which events a notified pair is made of, and who was told."""

    alert_id: str
    alert_event_id: str
    counterpart_kind: str
    counterpart_event_id: str
    child_index: int | None
    explanation: list[str]
    recipients: list[str]
    status: str


@dataclass(frozen=True)
class DueDuty:
    """A duty whose deadline passed, as the projection holds it."""

    match_id: str
    duty: Duty
    unit: str
    owed_by: str
    alert_id: str
    urgency: str | None
    state: DutyState


class ResponseTxn:
    """The response tables over one transaction's cursor."""

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    def pair_refs(self, match_id: str) -> PairRefs | None:
        self._cur.execute(
            "SELECT alert_id, alert_event_id, counterpart_kind, counterpart_event_id, "
            "child_index, explanation, recipients, status FROM match_pairs WHERE match_id = %s",
            (match_id,),
        )
        row = self._cur.fetchone()
        if row is None or row[1] is None or row[3] is None:
            return None
        return PairRefs(str(row[0]), str(row[1]), str(row[2]), str(row[3]), row[4],
                        [str(x) for x in row[5] or []], [str(x) for x in row[6] or []],
                        str(row[7]))

    def encryption_key(self, participant_id: str, when: dt.datetime) -> EncryptionPublicKey | None:
        """The newest registered X25519 key of the participant valid at `when`.

        Read from the event store, as the registry's own rule (hub.registry) reads its events:
        registrations are stored before anything that follows them is verified.
        """
        self._cur.execute(
            "SELECT body->>'public_key', (body->>'valid_from')::timestamptz FROM event_store "
            "WHERE event_type = 'encryption-key-added' AND body->>'participant_id' = %s",
            (participant_id,),
        )
        valid = [(since, raw) for raw, since in self._cur.fetchall() if since <= when]
        if not valid:
            return None
        return EncryptionPublicKey(base64.b64decode(max(valid)[1]))

    def first_answer(self, request_event_id: str) -> bool:
        """Claim the answer to a details request: False when it was answered before."""
        self._cur.execute(
            "INSERT INTO disclosure_answers (request_event_id) VALUES (%s) "
            "ON CONFLICT DO NOTHING RETURNING request_event_id",
            (request_event_id,),
        )
        return self._cur.fetchone() is not None

    def audit(self, entry: DisclosureAudit) -> None:
        self._cur.execute(
            "INSERT INTO disclosure_audit (match_id, requester, request_event_id, reason, "
            "outcome, detail, at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (entry.match_id, entry.requester, entry.request_event_id, entry.reason,
             str(entry.outcome), entry.detail, entry.at),
        )

    def due(self, now: dt.datetime, limit: int = 500) -> list[DueDuty]:
        """Duties due by `now`, neither met nor escalated, of matches not yet decided whose
        alert is not closed."""
        self._cur.execute(
            "SELECT d.match_id, d.duty, d.unit, d.owed_by, d.alert_id, d.urgency, d.due_at "
            "FROM proj_match_duties d "
            "WHERE d.due_at <= %s AND d.done_at IS NULL AND d.escalated_at IS NULL "
            "AND d.owed_by IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM response_escalations e WHERE e.match_id = d.match_id "
            "AND e.duty = d.duty AND e.unit = d.unit) "
            "AND NOT EXISTS (SELECT 1 FROM proj_match_duties f WHERE f.match_id = d.match_id "
            "AND f.duty = 'DECISION' AND f.done_at IS NOT NULL) "
            # A closed alert (found, returned home, withdrawn) owes nobody anything any more;
            # read from the store, which is ahead of the projections.
            "AND NOT EXISTS (SELECT 1 FROM event_store c WHERE c.event_type = 'alert-closed' "
            "AND c.body->>'alert_id' = d.alert_id) "
            "ORDER BY d.due_at, d.match_id, d.duty, d.unit LIMIT %s",
            (now, limit),
        )
        return [
            DueDuty(r[0], Duty(r[1]), r[2], r[3], r[4] or "", r[5], DutyState(r[6]))
            for r in self._cur.fetchall()
        ]

    def claim_escalation(self, duty: DueDuty, event_id: str, escalated_to: str) -> bool:
        """Record that this duty is escalated now; False if it already was (by anyone)."""
        self._cur.execute(
            "INSERT INTO response_escalations (match_id, duty, unit, event_id, escalated_to, "
            "due_at) VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING RETURNING 1",
            (duty.match_id, duty.duty.value, duty.unit, event_id, escalated_to,
             duty.state.due_at),
        )
        return self._cur.fetchone() is not None
