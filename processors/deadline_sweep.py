"""The deadline sweep: overdue duties of hits become match-escalated events (thin).

Driven by stored state plus a timer. Each run reads the duties the log says are due and unmet
(projection ``response``, hub.projections.response), decides with hub.response which are
overdue and to whom each goes, and for each one, in one transaction: records it in
``response_escalations`` (a duty is escalated exactly once, whatever restarts or concurrent
sweeps happen), and puts in the matcher's outbox a ``match-escalated`` event signed by the hub
operator (to the ingest topic: verified, stored and projected like every event, so a rebuild
reproduces it) and a signed notice to the provincial police headquarters it is escalated to.
A worker that was down finds on its first run everything that fell due meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from hub.envelope import encode_envelope, seal
from hub.identity import HUB_OPERATOR_ID
from hub.keys import SigningKey
from hub.matching.store import MatchStore
from hub.notice import seal_notice
from hub.response import escalation_event_id, escalation_target, is_overdue
from hub.schema_catalog import SchemaCatalog
from processors.pg_response import DueDuty, ResponseTxn

log = logging.getLogger(__name__)

__all__ = ["DeadlineSweep"]


class DeadlineSweep:
    """One run escalates every overdue duty once (see the module docstring)."""

    def __init__(
        self,
        store: MatchStore,
        catalog: SchemaCatalog,
        operator: SigningKey,
        ingest_topic: str,
        notification_topic: Callable[[str], str],
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.operator = operator
        self.ingest_topic = ingest_topic
        self.notification_topic = notification_topic

    def run_once(self, now: datetime | None = None) -> int:
        """Escalate what is overdue at `now`; how many duties were escalated by this run."""
        when = now or datetime.now(UTC)
        escalated = 0
        with self.store.transaction() as txn:
            response = ResponseTxn(txn.cursor)
            due = [d for d in response.due(when) if is_overdue(d.state, when)]
            if not due:
                return 0
            registered = txn.registered()
            for duty in due:
                target = escalation_target(duty.owed_by, registered)
                event_id = escalation_event_id(duty.match_id, duty.duty, duty.unit)
                if not response.claim_escalation(duty, str(event_id), target):
                    continue
                envelope = seal(
                    self.catalog,
                    "match-escalated",
                    {
                        "match_id": duty.match_id,
                        "alert_id": duty.alert_id,
                        "duty": duty.duty.value,
                        "overdue_unit": duty.owed_by,
                        "due_at": duty.state.due_at,
                        "escalated_to": target,
                        "urgency": duty.urgency,
                    },
                    publisher_id=HUB_OPERATOR_ID,
                    key=self.operator,
                    sequence=txn.next_sequence(),
                    occurred_at=when,
                    event_id=event_id,
                    published_at=when,
                )
                txn.outbox(self.ingest_topic, HUB_OPERATOR_ID.encode(),
                           encode_envelope(envelope))
                if target != HUB_OPERATOR_ID:
                    txn.outbox(self.notification_topic(target), duty.match_id.encode(),
                               seal_notice(self.operator, _notice(duty, target, str(event_id)),
                                           issued_at=when))
                escalated += 1
                log.warning("match %s: %s of %s overdue since %s, escalated to %s",
                            duty.match_id, duty.duty.value, duty.owed_by,
                            duty.state.due_at, target)
        return escalated


def _notice(duty: DueDuty, target: str, event_id: str) -> dict[str, object]:
    # References only, as for a hit: the headquarters asks for details like any notified unit.
    due = duty.state.due_at.isoformat() if duty.state.due_at else None
    return {
        "notification_id": event_id,
        "kind": "MATCH_ESCALATED",
        "recipient": target,
        "match_id": duty.match_id,
        "alert_id": duty.alert_id,
        "duty": duty.duty.value,
        "overdue_unit": duty.owed_by,
        "due_at": due,
        "urgency": duty.urgency,
    }
