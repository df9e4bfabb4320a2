"""From a hit to outgoing messages, and sending them: the routing half of the match stage.

A NOTIFY hit becomes (a) a ``match-found`` event signed by the hub operator and published to the
ingest topic, so it is verified, kept in the event store and projected like every other event
(the event store stays complete), and (b) one minimised notification per recipient on
``<prefix>notifications.<participant-id>`` (see :mod:`hub.routing`), signed by the hub operator
(see :mod:`hub.notice`). Both are written to the
outbox in the batch's transaction and sent after the commit by :class:`OutboxSender`.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from hub.envelope import encode_envelope, seal
from hub.errors import TopicError
from hub.identity import HUB_OPERATOR_ID
from hub.keys import SigningKey
from hub.matching.kinship import KinshipKind, KinshipResult
from hub.matching.matcher import Hit
from hub.matching.store import MatchStore, MatchTxn, Outbox, OutboxMessage
from hub.notice import seal_notice
from hub.response import Deadlines
from hub.routing import MatchSummary, Routing, mask_id_numbers, notification
from hub.schema_catalog import SchemaCatalog

log = logging.getLogger(__name__)

__all__ = ["OutboxSender", "Router", "kinship_json"]

_KIND = {"RECORD": "MIGRANT_RECORD", "RESCUE": "RESCUE_NOTICE"}


def kinship_json(kin: KinshipResult | None) -> dict[str, Any] | None:
    """DNA evidence as carried in notifications."""
    if kin is None:
        return None
    return {
        "kind": kin.kind.value,
        "cpi": kin.cpi,
        "loci_compared": kin.loci_compared,
        "inconsistent_loci": list(kin.inconsistent_loci),
        "conclusion": kin.conclusion.value,
    }


def _dna_field(kin: KinshipResult | None) -> dict[str, Any] | None:
    # The event schema knows parentage (trio/duo) only; an identity comparison stays in the text.
    if kin is None or kin.kind is KinshipKind.IDENTITY:
        return None
    dna = kinship_json(kin)
    assert dna is not None  # kin is not None
    del dna["conclusion"]
    return dna


class Router:
    """Writes a hit's match-found event and notifications into the outbox."""

    def __init__(
        self,
        catalog: SchemaCatalog,
        operator: SigningKey,
        ingest_topic: str,
        notification_topic: Callable[[str], str],
    ) -> None:
        self.catalog = catalog
        self.operator = operator
        self.ingest_topic = ingest_topic
        self.notification_topic = notification_topic

    def publish(
        self,
        txn: MatchTxn,
        hit: Hit,
        summary: MatchSummary,
        routing: Routing,
        evidence: str,
        alert_event_id: str,
        deadlines: Deadlines | None = None,
    ) -> None:
        """Outbox rows for one NOTIFY hit: the signed event first, then each notification."""
        now = datetime.now(UTC)
        payload = {
            "match_id": uuid.UUID(summary.match_id),
            "alert_id": summary.alert_id,
            "alert_event_id": uuid.UUID(alert_event_id),
            "counterpart_kind": _KIND.get(hit.record_ref.source.value, "OTHER"),
            "counterpart_id": summary.counterpart_id,
            "counterpart_event_id": uuid.UUID(hit.record_ref.event_id),
            "child_index": summary.child_index,
            "score": float(hit.score),
            # Stored at the hub for operators; identity numbers are masked even here.
            "explanation": [mask_id_numbers(line) for line in hit.explanation],
            "dna": _dna_field(hit.kinship),
            "recipients": list(routing.recipients),
            # In the log, so a rebuild finds the same deadlines (hub.response).
            "urgency": summary.urgency,
            "reply_by": deadlines.reply_by if deadlines else None,
            "decide_by": deadlines.decide_by if deadlines else None,
        }
        envelope = seal(
            self.catalog,
            "match-found",
            payload,
            publisher_id=HUB_OPERATOR_ID,
            key=self.operator,
            sequence=txn.next_sequence(),
            occurred_at=now,
            # The same evidence always gives the same event id: a re-run is absorbed as duplicate.
            event_id=uuid.uuid5(uuid.UUID(summary.match_id), evidence),
            published_at=now,
        )
        txn.outbox(self.ingest_topic, HUB_OPERATOR_ID.encode(), encode_envelope(envelope))
        for recipient in routing.recipients:
            body = notification(summary, recipient, routing.roles[recipient])
            txn.outbox(
                self.notification_topic(recipient),
                summary.match_id.encode(),
                # Signed by the hub operator and naming its recipient: the connector refuses
                # anything else (hub.notice).
                seal_notice(self.operator, body, issued_at=now),
            )


_CLAIM = 1000  # outbox rows claimed per round trip


class OutboxSender:
    """Sends the outbox after each commit; a message is marked sent only once acknowledged."""

    def __init__(
        self,
        store: MatchStore,
        kafka_config: Mapping[str, Any],
        ensure_topic: Callable[[str], None],
        *,
        producer_config: Mapping[str, Any] | None = None,
    ) -> None:
        self.store = store
        self.kafka_config = dict(kafka_config)
        self.ensure_topic = ensure_topic
        self._config = dict(producer_config or {})
        self._producer: KafkaProducer | None = None
        self._ensured: set[str] = set()

    def _get_producer(self) -> KafkaProducer:
        if self._producer is None:
            config: dict[str, Any] = {"acks": "all", "linger_ms": 2, **self._config}
            self._producer = KafkaProducer(**self.kafka_config, **config)
        return self._producer

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close(timeout=5)
            self._producer = None

    def flush(self, timeout: float = 30.0) -> int:
        """Send every pending message (this worker's and abandoned ones); how many were sent."""
        sent = 0
        for box in Outbox:
            while True:
                pending = self.store.claim_outbox(_CLAIM, box)
                done = self._send(pending, box, timeout) if pending else 0
                sent += done
                # A full claim all sent: more may wait (matching fans out many probes a batch).
                if len(pending) < _CLAIM or done < len(pending):
                    break
        return sent

    def _send(self, pending: list[OutboxMessage], box: Outbox, timeout: float) -> int:
        for topic in {m.topic for m in pending} - self._ensured:
            try:
                self.ensure_topic(topic)
            except TopicError as err:
                # Left pending: the claim expires and the next flush tries again.
                log.warning("cannot create %s, notifications wait: %s", topic, err)
                return 0
            self._ensured.add(topic)
        producer = self._get_producer()
        futures = [(m.id, producer.send(m.topic, key=m.key, value=m.value)) for m in pending]
        sent: list[int] = []
        for message_id, future in futures:
            try:
                future.get(timeout=timeout)
            except KafkaError as err:
                log.warning(
                    "outbox message %d not acknowledged, kept for retry: %r", message_id, err
                )
                continue
            sent.append(message_id)
        self.store.mark_sent(sent, box)
        return len(sent)
