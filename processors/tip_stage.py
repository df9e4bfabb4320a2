"""Tips searched against open alerts and forwarded, inside the match stage's transaction.

The rules are hub.tips; this adapter reads the open alerts a tip could concern (sex not the
opposite, last seen no later than the sighting), records each forward in ``tip_forwards`` (one
row per tip event and recipient, so a re-delivered tip is not sent twice) and writes the signed
notices to the match outbox.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hub.areas import AreaCoordinates
from hub.matching.store import MatchTxn
from hub.notice import seal_notice
from hub.store import EventRecord
from hub.tips import best_fits, fit_tip, tip_notification, tip_recipients
from processors.route_stage import Router

__all__ = ["TipForwarder", "search_terms"]

_OPPOSITE = {"MALE": "FEMALE", "FEMALE": "MALE"}
Candidate = tuple[str, str | None, Mapping[str, Any]]  # alert id, issuing unit, merged alert


def search_terms(tip: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(the sex the tip rules out, the time seen): what narrows the open alerts in SQL."""
    raw = tip.get("subject")
    subject: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    seen = tip.get("seen_at") or tip.get("received_at")
    return _OPPOSITE.get(str(subject.get("sex"))), str(seen) if seen else None


class TipForwarder:
    """Forwards one tip event: to the place's police and to the units whose alerts it fits."""

    def __init__(self, router: Router, areas: AreaCoordinates | None = None) -> None:
        self.router = router
        self.areas = areas or AreaCoordinates.shipped()

    def forward(
        self,
        txn: MatchTxn,
        event: EventRecord,
        candidates: Sequence[Candidate],
        registered: Mapping[str, str | None],
    ) -> tuple[int, list[str]]:
        """How many notices were written, and notes on whom the tip could not reach;
        `candidates` are the open alerts read with :func:`search_terms`."""
        tip = event.body
        fits = best_fits([
            fit for alert_id, publisher, body in candidates
            if (fit := fit_tip(tip, alert_id, body, publisher, self.areas)) is not None
        ])
        received_by = str(tip.get("issuing_unit") or event.publisher_id)
        recipients, notes = tip_recipients(tip, received_by, fits, registered)
        now = datetime.now(UTC)
        sent = 0
        for recipient, role in recipients:
            body = tip_notification(event.event_id, tip, received_by, recipient, role, fits)
            alert_ids = [f["alert_id"] for f in body["fits"]]
            if not txn.record_tip_forward(event.event_id, str(tip.get("tip_id")), recipient,
                                          role, alert_ids):
                continue
            txn.outbox(
                self.router.notification_topic(recipient),
                str(tip.get("tip_id")).encode(),
                seal_notice(self.router.operator, body, issued_at=now),
            )
            sent += 1
        return sent, notes
