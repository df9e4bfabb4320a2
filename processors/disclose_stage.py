"""The second step of disclosure: a verified details-request becomes sealed details (thin).

The verify stage has already refused requests from units not notified of the match
(hub.authority) and audited them. Here, for an accepted request, the match stage reads the two
events behind the pair, builds the details (hub.disclosure), seals them to the requesting unit's
registered X25519 key (hub.sealing) and writes, in the batch's transaction, the audit row and
the signed notice for the unit's notification topic. Only that unit's private key opens it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from hub.disclosure import details_bytes, details_notice, disclosure_refusal, match_details
from hub.errors import MatchingInputError
from hub.keys import SigningKey
from hub.limits import storable_text
from hub.matching.store import MatchTxn
from hub.notice import seal_notice
from hub.reasons import AuditOutcome, RequestRefusal
from hub.sealing import seal_for
from hub.store import DisclosureAudit, EventRecord, EventStore
from processors.pg_response import ResponseTxn

log = logging.getLogger(__name__)

__all__ = ["Discloser"]

_TEXT = 4000


class Discloser:
    """Answers accepted details requests (see the module docstring)."""

    def __init__(
        self, events: EventStore, operator: SigningKey, notification_topic: Callable[[str], str]
    ) -> None:
        self.events = events
        self.operator = operator
        self.notification_topic = notification_topic

    def handle(self, txn: MatchTxn, event: EventRecord) -> bool:
        """Seal and send the details for one request; False when refused (audited, told)."""
        body = event.body
        match_id = str(body.get("match_id") or "")
        requester = event.publisher_id
        now = datetime.now(UTC)
        response = ResponseTxn(txn.cursor)
        if not response.first_answer(event.event_id):
            # Fed again (a redelivery or a rebuild of the match index): answered and audited once.
            log.info("details request %s was answered before; not again", event.event_id)
            return True
        audit = DisclosureAudit(
            match_id=match_id, requester=requester, request_event_id=event.event_id,
            reason=storable_text(str(body.get("reason") or ""), _TEXT),
            outcome=AuditOutcome.GRANTED,
            detail="", at=now,
        )
        refs = response.pair_refs(match_id)
        if refs is None:
            # The verify stage let it through, so the matcher's own record lags or differs:
            # refuse rather than disclose on doubt.
            return self._refuse(txn, response, audit, event,
                                f"match {match_id} is not known here as notified")
        why = disclosure_refusal(match_id, requester, refs.recipients, refs.status)
        if why is not None:
            return self._refuse(txn, response, audit, event, why)
        key = response.encryption_key(requester, now)
        if key is None:
            return self._refuse(txn, response, audit, event,
                                f"{requester} has no encryption key registered; ask the hub "
                                "operator to import a registration request that carries one")
        stored = self.events.get_many([refs.alert_event_id, refs.counterpart_event_id])
        alert, other = stored.get(refs.alert_event_id), stored.get(refs.counterpart_event_id)
        if alert is None or other is None:
            raise MatchingInputError(f"match {match_id}: the events behind it are not stored")
        details = match_details(match_id, alert.record.body, refs.counterpart_kind,
                                other.record.body, refs.child_index, refs.explanation)
        sealed = seal_for(key, details_bytes(details), match_id=match_id, recipient=requester)
        notice = details_notice(match_id, requester, event.event_id, sealed)
        txn.outbox(self.notification_topic(requester), match_id.encode(),
                   seal_notice(self.operator, notice, issued_at=now))
        response.audit(replace(audit, detail=f"sealed to key {key.key_id}"))
        log.info("details of match %s sealed to %s (key %s)", match_id, requester, key.key_id)
        return True

    def _refuse(self, txn: MatchTxn, response: ResponseTxn, audit: DisclosureAudit,
                event: EventRecord, why: str) -> bool:
        response.audit(replace(audit, outcome=AuditOutcome.REFUSED,
                               detail=storable_text(why, _TEXT)))
        body = {
            "notification_id": str(uuid.uuid5(uuid.UUID(event.event_id), "details-refused")),
            "kind": "EVENT_REFUSED",
            "recipient": event.publisher_id,
            "event_id": event.event_id,
            "event_type": event.event_type,
            "reason": str(RequestRefusal.DETAILS_REFUSED),
            "detail": why,
        }
        txn.outbox(self.notification_topic(event.publisher_id), event.event_id.encode(),
                   seal_notice(self.operator, body))
        log.warning("details request %s refused: %s", event.event_id, why)
        return False
