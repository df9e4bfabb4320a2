"""The review queue's acts: publishing them (console, `hubctl matches review promote|dismiss`)
and applying them in the match stage (the rule is hub.review).

Publishing signs a ``review-promoted`` or ``review-dismissed`` event with the hub operator's
key and sends it to the ingest topic; nothing changes until a worker has verified and stored
it and the match stage applies it, so the log holds every act and a rebuild replays them.

Applying, inside the match stage's transaction:

- dismiss: the pair leaves the queue (status DISMISSED);
- promote: the pair is scored again from its stored events and notified as a NOTIFY hit would
  be, through the same routing, deadlines, match-found event and signed notifications
  (MatchStage._hit), so the police units read it with `hub-connector inbox` like any hit.

Every applied act is recorded in ``match_review_acts`` by event id: an act fed again (a
redelivery, a rebuild of the match index) has no second effect. An act the rule refuses is
kept in ``match_failures`` with the reason, like any event the matcher cannot use.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from hub.config import Settings
from hub.envelope import Envelope, encode_envelope
from hub.errors import HubError, MatchingInputError
from hub.identity import HUB_OPERATOR_ID
from hub.keys import SigningKey
from hub.matching.adapters import facts_from_alert, facts_from_migrant_record, facts_from_rescue
from hub.matching.features import prepare
from hub.matching.matcher import Decision
from hub.matching.rules import AlertStatus, IndexedPerson
from hub.matching.store import MatchTxn
from hub.registry import operator_key_paths
from hub.review import ReviewAct, refusal, review_event
from hub.schema_catalog import SchemaCatalog
from hub.store import EventRecord
from hub.topics import topic_name
from processors.pg_operator import draw_operator_sequences
from processors.pg_store import PgConnection

if TYPE_CHECKING:
    from processors.match_stage import MatchResult, MatchStage

__all__ = ["PairUnderReview", "ReviewActs", "pair_under_review", "publish_review_act"]

PUBLISH_TIMEOUT_S = 30


@dataclass(frozen=True)
class PairUnderReview:
    """What the queue's acts need to know of a pair."""

    match_id: str
    alert_id: str
    status: str
    counterpart_ref: str | None
    counterpart_event_id: str | None


_PAIR = ("SELECT match_id, alert_id, status, counterpart_ref, counterpart_event_id "
         "FROM match_pairs WHERE match_id = %s")


def pair_under_review(
    cur: psycopg.Cursor[Any], match_id: str, *, lock: bool = False
) -> PairUnderReview | None:
    """The pair as the queue's acts see it (row-locked with `lock`), or None."""
    cur.execute(_PAIR + (" FOR UPDATE" if lock else ""), (match_id,))
    row = cur.fetchone()
    if row is None:
        return None
    return PairUnderReview(str(row[0]), str(row[1] or ""), str(row[2]), row[3], row[4])


class ReviewActs:
    """Applies review acts for a match stage (see the module docstring)."""

    def __init__(self, stage: MatchStage) -> None:
        self.stage = stage

    def apply(self, txn: MatchTxn, event: EventRecord, result: MatchResult) -> None:
        act = ReviewAct(event.event_type)
        body = event.body
        match_id = str(body.get("match_id") or "")
        cur = txn.cursor
        cur.execute("SELECT 1 FROM match_review_acts WHERE event_id = %s", (event.event_id,))
        if cur.fetchone() is not None:
            return  # applied before: a redelivery or a rebuild
        pair = pair_under_review(cur, match_id, lock=True)
        problem = refusal(act, pair.status if pair else None)
        if problem is not None:
            raise MatchingInputError(f"{act.value} of pair {match_id} by "
                                     f"{body.get('operator')}: {problem}")
        assert pair is not None  # refusal() says so otherwise
        if act is ReviewAct.DISMISS:
            cur.execute("UPDATE match_pairs SET status = 'DISMISSED', "
                        "updated_at = clock_timestamp() WHERE match_id = %s", (match_id,))
        else:
            self._promote(txn, pair, event, result)
        cur.execute(
            "INSERT INTO match_review_acts (event_id, match_id, act, operator, reason, acted_at) "
            "VALUES (%s, %s, %s, %s, %s, %s)",
            (event.event_id, match_id, act.value, str(body.get("operator") or ""),
             str(body.get("reason") or ""), event.occurred_at),
        )

    def _promote(self, txn: MatchTxn, pair: PairUnderReview, event: EventRecord,
                 result: MatchResult) -> None:
        from processors.match_stage import merged_alert

        stage = self.stage
        state = txn.alert(pair.alert_id)
        if state is None or state.body is None or state.publisher_id is None:
            raise MatchingInputError(f"promote {pair.match_id}: alert {pair.alert_id} is unknown")
        if state.status is not AlertStatus.OPEN:
            raise MatchingInputError(
                f"promote {pair.match_id}: alert {pair.alert_id} is {state.status}; nobody "
                "is notified of a closed alert")
        stored = stage.events.get(pair.counterpart_event_id or "")
        if stored is None:
            raise MatchingInputError(f"promote {pair.match_id}: the counterpart's event "
                                     f"{pair.counterpart_event_id} is not in the store")
        other = _counterpart(stored.record, pair.counterpart_ref or "")
        if other is None:
            raise MatchingInputError(f"promote {pair.match_id}: {pair.counterpart_ref} is not "
                                     f"in event {pair.counterpart_event_id}")
        alert = prepare(facts_from_alert(merged_alert(state), state.parents_dna,
                                         state.alert_event_id))
        scored = stage.matcher.score_pair(alert, prepare(other.facts),
                                          stage._population(txn, alert))
        hit = stage.matcher.to_hit(scored)
        if hit is None:
            raise MatchingInputError(
                f"promote {pair.match_id}: with the evidence as it is now the pair scores "
                f"{scored.score:.1f}, below the review threshold; nothing was notified")
        # Notified as any NOTIFY hit is: same routing, deadlines, event and notifications.
        stage._hit(txn, state, dataclasses.replace(hit, decision=Decision.NOTIFY), other,
                   event.event_id, result)
        # Its score stays what it is: the level says it was a review pair.
        txn.cursor.execute("UPDATE match_pairs SET level = %s WHERE match_id = %s",
                           (hit.decision.value, pair.match_id))


def _counterpart(record: EventRecord, ref: str) -> IndexedPerson | None:
    """The person `ref` names in a stored migrant record or rescue notice, as indexed."""
    from processors.match_stage import _area as area_of  # where the stage reads it too

    if record.event_type == "migrant-record":
        persons = facts_from_migrant_record(record.body, record.event_id)
        area = area_of(record.body, "current_address")
    elif record.event_type == "rescue-notice":
        persons = [facts_from_rescue(record.body, record.event_id)]
        area = area_of(record.body, "rescue_place")
    else:
        return None
    for person in persons:
        if person.ref.label() == ref:
            return IndexedPerson(person, record.publisher_id, area)
    return None


def publish_review_act(
    settings: Settings,
    act: ReviewAct,
    match_id: str,
    *,
    operator: str,
    reason: str,
    key_dir: Path | None = None,
) -> Envelope:
    """Sign one act with the hub operator's key and send it to the ingest topic; the event.

    The pair is checked first, so an operator hears at once why an act cannot apply; the match
    stage checks again when it applies the event (the queue may have changed meanwhile)."""
    from kafka import KafkaProducer  # imported late: the check above needs no broker

    private, _ = operator_key_paths(key_dir or settings.data_dir)
    if not private.exists():
        raise HubError(f"no hub operator key at {private}; review acts are signed with it "
                       "(`hubctl registry init`)")
    db = PgConnection(settings.pg_dsn)
    try:
        with db.cursor() as cur:
            pair = pair_under_review(cur, match_id)
            problem = refusal(act, pair.status if pair else None)
            if problem is not None:
                raise HubError(f"pair {match_id}: {problem}")
            assert pair is not None
            # The hub operator's one sequence, shared with its registry events and match-found.
            [sequence] = draw_operator_sequences(cur, 1)
    finally:
        db.close()
    try:
        envelope = review_event(SchemaCatalog.load(), SigningKey.load(private), act,
                                match_id=pair.match_id, alert_id=pair.alert_id,
                                operator=operator, reason=reason, sequence=sequence,
                                at=datetime.now(UTC))
    except ValueError as err:
        raise HubError(str(err)) from err
    topic = topic_name(settings, "ingest")
    try:
        producer = KafkaProducer(**settings.kafka_config(), acks="all",
                                 max_block_ms=PUBLISH_TIMEOUT_S * 1000)
    except Exception as err:  # kafka-python raises its own hierarchy and OSErrors
        raise HubError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {err}") from err
    try:
        producer.send(topic, key=HUB_OPERATOR_ID.encode(),
                      value=encode_envelope(envelope)).get(timeout=PUBLISH_TIMEOUT_S)
    except Exception as err:
        raise HubError(f"publishing the {act.value} event to {topic} failed: {err}; "
                       "nothing was changed, try again") from err
    finally:
        producer.close(timeout=5)
    return envelope
