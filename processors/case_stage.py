"""Case files read under audit: a verified case-request becomes a sealed case file (thin).

The verify stage has already checked the signature and that the unit may send case requests
(refusals there are audited too). Here, in the match stage's transaction, the case is assembled
from the events stored before the request (processors.pg_cases), the entitlement rule decides
(hub.case_file), and in one transaction the decision is audited and either the case file,
sealed to the unit's registered X25519 key (hub.sealing), or a notice saying why not goes to
the unit's notification topic. A request already decided (redelivered, or fed again by
`hubctl rebuild --match-index`) is left alone: nothing is sent twice, no second row is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from hub.case_file import (
    case_file,
    case_file_bytes,
    case_file_notice,
    case_refusal_notice,
    entitlement,
)
from hub.keys import SigningKey
from hub.limits import storable_text
from hub.matching.store import MatchTxn
from hub.notice import seal_notice
from hub.reasons import AuditOutcome
from hub.sealing import CASE_FILE_PURPOSE, seal_for
from hub.store import CaseReadAudit, EventRecord, EventStore
from processors.pg_cases import CaseTxn, case_source
from processors.pg_response import ResponseTxn

log = logging.getLogger(__name__)

__all__ = ["CaseReader"]

_TEXT = 4000


class CaseReader:
    """Answers verified case-file requests (see the module docstring)."""

    def __init__(self, operator: SigningKey, notification_topic: Callable[[str], str],
                 events: EventStore | None = None) -> None:
        self.operator = operator
        self.events = events  # opens the case's sealed events (processors.pg_cases)
        self.notification_topic = notification_topic

    def handle(self, txn: MatchTxn, event: EventRecord) -> bool | None:
        """Decide, audit and answer one request: True granted, False refused, None when it was
        decided before."""
        cases = CaseTxn(txn.cursor)
        case_id = str(event.body.get("case_id") or "")
        requester = event.publisher_id
        now = datetime.now(UTC)
        before = cases.position(event.event_id)
        source = case_source(txn.cursor, case_id, before, self.events)
        decided = entitlement(source, requester, cases.jurisdiction(requester))
        granted, why = decided.granted, decided.why
        key = ResponseTxn(txn.cursor).encryption_key(requester, now) if granted else None
        if granted and key is None:
            granted, why = False, (f"{why}, but {requester} has no encryption key registered; "
                                   "ask the hub operator to import one")
        audit = CaseReadAudit(
            case_id=storable_text(case_id), requester=requester, request_event_id=event.event_id,
            reason=storable_text(str(event.body.get("reason") or ""), _TEXT),
            step="entitlement", outcome=AuditOutcome.GRANTED if granted else AuditOutcome.REFUSED,
            detail=storable_text(why if key is None else f"{why}; sealed to key {key.key_id}",
                                 _TEXT),
            at=now,
        )
        if not cases.decide(audit):
            log.info("case-request %s was decided before: nothing sent again", event.event_id)
            return None
        topic = self.notification_topic(requester)
        if key is None:
            body = case_refusal_notice(case_id, requester, event.event_id, why)
            txn.outbox(topic, event.event_id.encode(), seal_notice(self.operator, body,
                                                                   issued_at=now))
            log.warning("case file %s refused to %s: %s", case_id, requester, why)
            return False
        content = case_file(source, requester, event.event_id)
        sealed = seal_for(key, case_file_bytes(content), match_id=case_id, recipient=requester,
                          purpose=CASE_FILE_PURPOSE)
        notice = case_file_notice(case_id, requester, event.event_id, sealed)
        txn.outbox(topic, event.event_id.encode(), seal_notice(self.operator, notice,
                                                               issued_at=now))
        log.info("case file %s sealed to %s (key %s): %s", case_id, requester, key.key_id, why)
        return True
