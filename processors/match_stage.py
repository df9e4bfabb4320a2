"""The match stage without Faust: a batch of verified-topic messages through the matcher.

- an alert, alert-update or parents-dna-profile (re-)indexes the alert and searches it against
  every migrant-record person and rescue notice ever received;
- a migrant record (the registrant and each accompanying child) or a rescue notice is indexed
  and searched against the open alerts;
- alert-closed, and a CONFIRMED match-decision, take the alert out of matching;
- a REJECTED match-decision makes sure that pair is never notified again, whatever updates follow;
- a details-request (accepted by the verify stage: from a notified unit) is answered with the
  pair's details sealed to that unit (processors.disclose_stage).

Every NOTIFY hit carries its reply and decision deadlines (hub.response, from the settings).

All of one batch commits in one transaction with its input positions (consumer ``match`` in
``processed``), so a redelivered event has no second effect. Hits at or above the notify
threshold go out through :class:`processors.route_stage.Router`; hits between the thresholds land
on the review list.
"""

from __future__ import annotations

import functools
import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg

from hub.config import Settings
from hub.errors import MatchingInputError, RoutingError, StoreUnavailable
from hub.keys import SigningKey
from hub.limits import storable_text
from hub.matching.adapters import facts_from_alert, facts_from_migrant_record, facts_from_rescue
from hub.matching.blocking import (
    DEFAULT_DNA_LIMIT,
    DEFAULT_DNA_MIN_SHARE,
    blocking_keys,
    dna_group_keys,
)
from hub.matching.facts import PersonFacts
from hub.matching.features import Features, prepare
from hub.matching.kinship import TableSet
from hub.matching.matcher import Decision, Hit, Matcher
from hub.registry import operator_key_paths
from hub.response import ResponseRules, deadlines_for, dna_in_words, score_band
from hub.routing import MatchSummary, match_id_for, route
from hub.schema_catalog import SchemaCatalog
from hub.store import EventRecord, EventStore
from hub.topics import NOTIFICATIONS, notification_topic, topic_name
from processors.disclose_stage import Discloser
from processors.pg_matching import (
    AlertState,
    IndexedPerson,
    NameCounts,
    PgMatchStore,
    PgMatchTxn,
)
from processors.pg_store import PgEventStore
from processors.route_stage import OutboxSender, Router, kinship_json
from processors.tip_stage import TipForwarder, search_terms
from processors.topic_admin import ensure_notification_topic
from processors.verify_stage import (
    InMessage,
    advance_partitions,
    claim_partitions,
    received_records,
)

log = logging.getLogger(__name__)

__all__ = [
    "MATCH_TYPES",
    "MatchResult",
    "MatchStage",
    "create_match_stage",
    "ensure_topic",
    "merged_alert",
]

MATCH_TYPES = frozenset(
    (
        "missing-person-alert",
        "alert-update",
        "parents-dna-profile",
        "alert-closed",
        "migrant-record",
        "rescue-notice",
        "match-decision",
        "details-request",
    )
)
# Fields an alert-update replaces when it carries them.
_UPDATABLE = (
    "person",
    "last_seen_place",
    "last_seen_at",
    "circumstances",
    "urgency",
    "action_on_hit",
)
_DECIDED = ("CONFIRMED", "REJECTED")
_FEATURE_CACHE = 50_000


@dataclass
class MatchResult:
    """What one batch did."""

    events: int = 0
    skipped: int = 0
    notified: int = 0
    reviewed: int = 0
    suppressed: int = 0
    failed: int = 0
    tips: int = 0


def _area(body: Mapping[str, Any] | None, field: str) -> str | None:
    place = body.get(field) if body else None
    code = place.get("area_code") if isinstance(place, Mapping) else None
    return str(code) if code else None


def merged_alert(state: AlertState) -> dict[str, Any]:
    """The alert body with its updates applied in arrival order."""
    body = dict(state.body or {})
    for update in state.updates:
        for field in _UPDATABLE:
            if update.get(field) is not None:
                body[field] = update[field]
    return body


class MatchStage:
    """Run batches of verified events through the matcher (see the module docstring)."""

    def __init__(
        self,
        events: EventStore,
        store: PgMatchStore,
        router: Router,
        matcher: Matcher | None = None,
        *,
        consumer: str = "match",
        rules: ResponseRules | None = None,
        catalog: SchemaCatalog | None = None,
    ) -> None:
        self.events = events
        # With a catalog, events are decoded from the verified messages (checked against the
        # store by digest) instead of read back (processors.verify_stage.received_records).
        self.catalog = catalog
        self.store = store
        self.router = router
        self.matcher = matcher or Matcher()
        self.consumer = consumer
        self.rules = rules or ResponseRules()
        self.discloser = Discloser(events, router.operator, router.notification_topic)
        self._registered: dict[str, str | None] | None = None
        self._populations: dict[tuple[str, str], NameCounts] = {}
        # Prepared features of indexed persons by (reference, event id): derived from immutable
        # events, so a cache only; the index itself stays in PostgreSQL.
        self._features: OrderedDict[tuple[str, str], Features] = OrderedDict()
        self._handlers: dict[str, Callable[[PgMatchTxn, EventRecord, MatchResult], None]] = {
            "missing-person-alert": self._alert,
            "alert-update": self._alert_update,
            "parents-dna-profile": self._parents_dna,
            "alert-closed": self._alert_closed,
            "migrant-record": self._record,
            "rescue-notice": self._record,
            "match-decision": self._decision,
            "tip-report": self._tip,
            "details-request": self._details,
        }
        self.tips = TipForwarder(router)

    def process(self, messages: Sequence[InMessage]) -> MatchResult:
        """One batch, one transaction; raises StoreUnavailable to be retried as a whole."""
        found_records = received_records(self.events, self.catalog, messages)
        result = MatchResult()
        self._registered = None  # read once per batch, when the first hit needs it
        with self.store.transaction() as txn:
            txn.lock()
            done = claim_partitions(txn, self.consumer, messages)
            for msg, record in zip(messages, found_records, strict=True):
                if msg.offset <= done[(msg.topic, msg.partition)] or record is None:
                    # Unknown ids are recorded by the projection stage; nothing to match on here.
                    result.skipped += 1
                    continue
                handler = self._handlers.get(record.event_type)
                if handler is None:
                    continue
                result.events += 1
                # Name counts change as each event indexes its persons.
                self._populations.clear()
                try:
                    with txn.savepoint():
                        handler(txn, record, result)
                except (MatchingInputError, RoutingError) as err:
                    self._failed(txn, record, str(err), result)
                except StoreUnavailable:
                    raise
                except Exception as err:
                    # Anything else this one event does (a value the store refuses, a bug) is
                    # undone by its savepoint and kept as failed: the next events go on.
                    if isinstance(err, psycopg.OperationalError):
                        raise  # an outage: the whole batch waits and is retried
                    log.exception("match: %s %s failed", record.event_type, record.event_id)
                    self._failed(txn, record, f"{type(err).__name__}: {err}", result)
            advance_partitions(txn, self.consumer, messages)
        return result

    def _failed(
        self, txn: PgMatchTxn, record: EventRecord, reason: str, result: MatchResult
    ) -> None:
        result.failed += 1
        txn.fail(record.event_id, record.event_type, storable_text(reason))
        log.warning("match: %s %s kept as failed: %s", record.event_type, record.event_id, reason)

    def _prepared(self, facts: PersonFacts) -> Features:
        key = (facts.ref.label(), facts.ref.event_id)
        found = self._features.get(key)
        if found is None or found.facts != facts:
            found = self._features[key] = prepare(facts)
            if len(self._features) > _FEATURE_CACHE:
                self._features.popitem(last=False)
        else:
            self._features.move_to_end(key)
        return found

    def _load_populations(self, txn: PgMatchTxn, alerts: Sequence[Features]) -> None:
        """Name frequencies of these alerts' names, read in one query."""
        keys = {k for k in map(_pinyin, alerts) if k is not None and k not in self._populations}
        if not keys:
            return
        # The counts of these names only (a NamePopulation), so no full frequency table is loaded.
        counts = txn.name_counts(keys)
        for key in keys:
            self._populations[key] = counts

    def _population(self, txn: PgMatchTxn, alert: Features) -> NameCounts | None:
        """Name frequencies for the alert's name, in the shape the matcher reads them."""
        key = _pinyin(alert)
        if key is None:
            return None
        self._load_populations(txn, [alert])
        return self._populations[key]

    # --- alerts ----------------------------------------------------------------------------

    def _state(self, txn: PgMatchTxn, alert_id: str) -> AlertState:
        return txn.alert(alert_id) or AlertState(alert_id, None, None, None, [], None, "open")

    def _alert(self, txn: PgMatchTxn, event: EventRecord, result: MatchResult) -> None:
        state = self._state(txn, _required(event, "alert_id"))
        state.body = dict(event.body)
        state.alert_event_id = event.event_id
        state.publisher_id = event.publisher_id
        self._reindex_alert(txn, state, event.event_id, result)

    def _alert_update(self, txn: PgMatchTxn, event: EventRecord, result: MatchResult) -> None:
        state = self._state(txn, _required(event, "alert_id"))
        state.updates = [
            u for u in state.updates if u.get("update_id") != event.body.get("update_id")
        ]
        state.updates.append(dict(event.body))
        self._reindex_alert(txn, state, event.event_id, result)

    def _parents_dna(self, txn: PgMatchTxn, event: EventRecord, result: MatchResult) -> None:
        state = self._state(txn, _required(event, "alert_id"))
        state.parents_dna = dict(event.body)
        self._reindex_alert(txn, state, event.event_id, result)

    def _alert_closed(self, txn: PgMatchTxn, event: EventRecord, result: MatchResult) -> None:
        state = self._state(txn, _required(event, "alert_id"))
        state.status = "closed"
        txn.save_alert(state, f"alert-closed {event.event_id}: {event.body.get('outcome')}")
        txn.remove_persons(state.alert_id, "ALERT")

    def _reindex_alert(
        self, txn: PgMatchTxn, state: AlertState, trigger: str, result: MatchResult
    ) -> None:
        txn.save_alert(state)
        if state.status != "open" or state.body is None or state.publisher_id is None:
            return  # closed, or the alert itself has not arrived yet: nothing to search with
        facts = facts_from_alert(merged_alert(state), state.parents_dna, state.alert_event_id)
        alert = prepare(facts)
        txn.replace_persons(
            state.alert_id,
            "ALERT",
            [
                (
                    IndexedPerson(facts, state.publisher_id, None),
                    _stored_keys(alert),
                    _pinyin(alert),
                )
            ],
        )
        population = self._population(txn, alert)
        wanted = self.matcher.hit_filter(population)
        for other in _candidates(txn, alert, "OTHER"):
            person = self._prepared(other.facts)
            if not wanted.may_hit(alert, person):
                continue  # certainly no hit: not scored in full
            hit = self.matcher.to_hit(self.matcher.score_pair(alert, person, population))
            if hit is not None:
                self._hit(txn, state, hit, other, trigger, result)

    # --- records and rescue notices ----------------------------------------------------------

    def _record(self, txn: PgMatchTxn, event: EventRecord, result: MatchResult) -> None:
        persons: list[PersonFacts]
        if event.event_type == "migrant-record":
            persons = facts_from_migrant_record(event.body, event.event_id)
            area = _area(event.body, "current_address")
        else:
            persons = [facts_from_rescue(event.body, event.event_id)]
            area = _area(event.body, "rescue_place")
        prepared = [(p, prepare(p)) for p in persons]
        txn.replace_persons(
            persons[0].ref.business_id,
            "OTHER",
            [
                (
                    IndexedPerson(p, event.publisher_id, area),
                    _stored_keys(f),
                    _pinyin(f),
                )
                for p, f in prepared
            ],
        )
        for person, features in prepared:
            indexed = IndexedPerson(person, event.publisher_id, area)
            candidates = _candidates(txn, features, "ALERT")
            alerts = [self._prepared(c.facts) for c in candidates]
            self._load_populations(txn, alerts)
            for alert in alerts:
                # Only indexed alerts are open ones (closing removes them); the alert's state
                # is read for hits only, which are few next to the candidates scored.
                population = self._population(txn, alert)
                if not self.matcher.hit_filter(population).may_hit(alert, features):
                    continue  # certainly no hit: not scored in full
                hit = self.matcher.to_hit(self.matcher.score_pair(alert, features, population))
                state = txn.alert(alert.facts.ref.business_id) if hit else None
                if hit is not None and state is not None and state.status == "open":
                    self._hit(txn, state, hit, indexed, event.event_id, result)

    # --- scoring, hits, decisions --------------------------------------------------------------

    def _hit(
        self,
        txn: PgMatchTxn,
        state: AlertState,
        hit: Hit,
        other: IndexedPerson,
        trigger: str,
        result: MatchResult,
    ) -> None:
        ref = hit.record_ref
        match_id = match_id_for(state.alert_id, ref.label())
        known = txn.pair(match_id)
        status = known[0] if known else None
        if status in _DECIDED:
            result.suppressed += 1
            return
        alert_version = (state.updates[-1].get("update_id") if state.updates else None) or ""
        dna_version = (state.parents_dna or {}).get("profile_id") or ""
        evidence = f"{state.alert_event_id}|{alert_version}|{dna_version}|{ref.event_id}"
        values: dict[str, Any] = {
            "alert_id": state.alert_id,
            "counterpart_ref": ref.label(),
            "counterpart_kind": ref.source.value,
            "counterpart_id": ref.business_id,
            "child_index": ref.child_index,
            "score": hit.score,
            "level": hit.decision.value,
            "explanation": list(hit.explanation),
            "alert_event_id": state.alert_event_id,
            "counterpart_event_id": ref.event_id,
        }
        if hit.decision is Decision.REVIEW:
            values["status"] = "NOTIFIED" if status == "NOTIFIED" else "REVIEW"
            txn.save_pair(match_id, values, notified=False)
            result.reviewed += 1
            return
        if known is not None and status == "NOTIFIED" and known[1] == evidence:
            return  # the same evidence was notified already (e.g. an alert re-searched)
        assert state.publisher_id is not None and state.alert_event_id is not None
        if self._registered is None:
            self._registered = txn.registered()
        routing = route(state.publisher_id, other.area_code, self._registered)
        body = merged_alert(state)
        deadlines = deadlines_for(self.rules, body, datetime.now(UTC))
        kinship = kinship_json(hit.kinship)
        summary = MatchSummary(
            match_id=match_id,
            alert_id=state.alert_id,
            alert_publisher=state.publisher_id,
            counterpart_kind=ref.source.value,
            counterpart_id=ref.business_id,
            counterpart_publisher=other.publisher_id,
            score=hit.score,
            explanation=hit.explanation,
            trigger_event_id=trigger,
            child_index=ref.child_index,
            found_area=other.area_code,
            urgency=body.get("urgency"),
            action_on_hit=body.get("action_on_hit"),
            kinship=kinship,
            extra_notes=routing.notes,
            score_band=score_band(hit.score, self.matcher.model.thresholds.notify),
            dna_in_words=dna_in_words(kinship),
            reply_by=deadlines.reply_by.isoformat(),
            decide_by=deadlines.decide_by.isoformat(),
        )
        self.router.publish(txn, hit, summary, routing, evidence, state.alert_event_id,
                            deadlines)
        values.update(
            status="NOTIFIED",
            recipients=list(routing.recipients),
            routing_notes=list(routing.notes),
            evidence=evidence,
        )
        txn.save_pair(match_id, values, notified=True)
        result.notified += 1

    def _tip(self, txn: PgMatchTxn, event: EventRecord, result: MatchResult) -> None:
        not_sex, seen_by = search_terms(event.body)
        candidates = [
            (state.alert_id, state.publisher_id, merged_alert(state))
            for state in txn.open_alerts(not_sex, seen_by)
        ]
        if self._registered is None:
            self._registered = txn.registered()
        sent, notes = self.tips.forward(txn, event, candidates, self._registered)
        result.tips += sent
        for note in notes:
            log.info("tip %s: %s", event.body.get("tip_id"), note)

    def _decision(self, txn: PgMatchTxn, event: EventRecord, result: MatchResult) -> None:
        match_id = _required(event, "match_id")
        decision = _required(event, "decision")
        # Stored decisions are allowed ones (hub.authority, applied by the verify stage): from
        # a notified unit, about the match's own alert. The projection applies the same events.
        alert_id = event.body.get("alert_id")
        txn.decide(match_id, alert_id, decision, event.publisher_id, event.body.get("decided_at"))
        if decision == "CONFIRMED" and alert_id:
            state = self._state(txn, str(alert_id))
            state.status = "confirmed"
            txn.save_alert(state, f"match {match_id} confirmed by {event.publisher_id}")
            txn.remove_persons(state.alert_id, "ALERT")


    def _details(self, txn: PgMatchTxn, event: EventRecord, result: MatchResult) -> None:
        self.discloser.handle(txn, event)


def _stored_keys(person: Features) -> set[str]:
    return blocking_keys(person, stored=True) | dna_group_keys(person)


def _candidates(txn: PgMatchTxn, person: Features, side: str) -> list[IndexedPerson]:
    """Candidates by the plain keys, and by DNA keys within the bound per search."""
    keys = blocking_keys(person, stored=False)
    plain = txn.candidates((k for k in keys if not k.startswith("dna:")), side)
    dna = [k for k in keys if k.startswith("dna:")]
    if not dna:
        return plain
    found = {c.facts.ref: c for c in plain}
    for c in txn.dna_candidates(
        [*dna, *dna_group_keys(person)], side, DEFAULT_DNA_MIN_SHARE, DEFAULT_DNA_LIMIT
    ):
        found.setdefault(c.facts.ref, c)
    return sorted(found.values(), key=lambda c: c.facts.ref.label())


def _pinyin(person: Features) -> tuple[str, str] | None:
    name = person.name
    return (name.surname_py, name.given_py) if name is not None and name.han else None


def _required(event: EventRecord, field: str) -> str:
    value = event.body.get(field)
    if value is None or value == "":
        raise MatchingInputError(f"{event.event_type} {event.event_id} field {field}: missing")
    return str(value)


def create_match_stage(
    settings: Settings, catalog: SchemaCatalog
) -> tuple[MatchStage, OutboxSender] | None:
    """The stage and its sender for these settings; None when the operator's signing key is
    absent (matching publishes match-found events signed by the hub operator)."""
    private, _ = operator_key_paths(settings.data_dir)
    if not private.exists():
        log.warning(
            "no hub operator key at %s: matching is off (run `hubctl registry init`)", private
        )
        return None
    store = PgMatchStore(settings.pg_dsn)
    router = Router(
        catalog,
        SigningKey.load(private),
        topic_name(settings, "ingest"),
        lambda participant: notification_topic(settings, participant),
    )
    ensure: Callable[[str], None] = functools.partial(ensure_topic, settings)
    # The allele tables are read (and validated) at start-up: a bad table stops the stage with
    # the file, locus and allele named, rather than scoring DNA against it.
    tables = TableSet.load(settings.allele_tables, settings.dna_theta)
    stage = MatchStage(PgEventStore(settings.pg_dsn), store, router, Matcher(table=tables),
                       rules=settings.response_rules, catalog=catalog)
    return stage, OutboxSender(store, settings.kafka_config(), ensure)


def ensure_topic(settings: Settings, topic: str) -> None:
    """Create a notification topic on first use (other topics are declared in hub/topics)."""
    prefix = settings.topic_prefix + NOTIFICATIONS
    if topic.startswith(prefix):
        ensure_notification_topic(settings, topic[len(prefix) :])
