"""The match stage without Faust: a batch of verified-topic messages through the matcher.

- an alert, alert-update or parents-dna-profile (re-)indexes the alert and searches it against
  every migrant-record person and rescue notice ever received;
- a migrant record (the registrant and each accompanying child) or a rescue notice is indexed
  and searched against the open alerts;
- alert-closed, and a CONFIRMED match-decision, take the alert out of matching;
- a REJECTED match-decision makes sure that pair is never notified again, whatever updates follow;
- a details-request (accepted by the verify stage: from a notified unit) is answered with the
  pair's details sealed to that unit (processors.disclose_stage);
- a case-request is decided, audited and answered with the case file sealed to the unit, or a
  refusal (processors.case_stage);
- a migrant record's children of unknown origin are asked to be DNA-sampled, and a dna-sample
  answering such a request is indexed with the child and searched (processors.sampling_stage);
- a review-promoted or review-dismissed event (an operator's act on the review queue) is applied
  by processors.review_stage.

What each event does is decided by the pure rules of :mod:`hub.matching.rules`; this stage reads
the :class:`hub.matching.store.MatchStore`, scores candidates and writes the rules' effects back.
On the workers (``fan_out`` set) a person is only indexed here, and one probe per blocking key
goes to the keyed topic, where that key's owner scores it (processors.match_key_stage,
hub.matching.fanout); without it (a rebuild, tests) the person is searched here at once. An
alert is always searched here at once as well, so that a backlog of probes never delays it.
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
from dataclasses import dataclass, replace
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
from hub.matching.fanout import Probe, ProbeKind, encode_probe, probes_for
from hub.matching.features import Features, prepare
from hub.matching.kinship import TableSet
from hub.matching.matcher import Hit, Matcher
from hub.matching.rules import (
    AlertChange,
    AlertState,
    AlertStatus,
    IndexedPerson,
    Notify,
    PairStatus,
    Review,
    Suppressed,
    alert_closed,
    alert_confirmed,
    alert_received,
    alert_updated,
    decided_status,
    judge_hit,
    merged_alert,
    new_alert,
    pair_id,
    parents_dna_received,
)
from hub.matching.store import (
    IndexEntry,
    MatchStore,
    MatchTxn,
    NameCounts,
    Outbox,
    OwnedQuery,
    Replacement,
    Side,
)
from hub.registry import operator_key_paths
from hub.response import ResponseRules, deadlines_for, dna_in_words, score_band
from hub.review import REVIEW_EVENT_TYPES
from hub.routing import MatchSummary, route
from hub.schema_catalog import SchemaCatalog
from hub.store import EventRecord, EventStore
from hub.topics import NOTIFICATIONS, notification_topic, topic_name
from processors.case_stage import CaseReader
from processors.disclose_stage import Discloser
from processors.pg_matching import PgMatchStore
from processors.pg_store import PgEventStore
from processors.review_stage import ReviewActs
from processors.route_stage import OutboxSender, Router, kinship_json
from processors.sampling_stage import ChildSampling
from processors.tip_stage import TipForwarder, search_terms
from processors.topic_admin import ensure_notification_topic
from processors.tracking import (
    InMessage,
    advance_partitions,
    claim_partitions,
    received_records,
)

log = logging.getLogger(__name__)

def is_outage(err: BaseException) -> bool:
    """Whether a failure is the store being unreachable (the batch waits and is retried)
    rather than something about one event (kept as failed while the next go on)."""
    return isinstance(err, StoreUnavailable | psycopg.OperationalError)


__all__ = [
    "MATCH_TYPES",
    "MatchResult",
    "MatchStage",
    "create_match_stage",
    "ensure_topic",
    "is_outage",
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
        "case-request",
        "dna-sample",
        *REVIEW_EVENT_TYPES,
    )
)
_FEATURE_CACHE = 50_000
# Events whose persons are indexed with the rest of a run of them (fanned out, see process).
_INDEXED_LATER = frozenset(("migrant-record", "rescue-notice"))


class _IndexFailed(Exception):
    """Indexing a run of records together failed: undo the batch, redo it event by event."""


@dataclass(frozen=True)
class _Pending:
    """A record's persons to index and its probes, held until the run of records ends."""

    replacement: Replacement
    probes: list[tuple[str, bytes | None, bytes]]


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
    sampling_requests: int = 0


def _area(body: Mapping[str, Any] | None, field: str) -> str | None:
    place = body.get(field) if body else None
    code = place.get("area_code") if isinstance(place, Mapping) else None
    return str(code) if code else None


class MatchStage:
    """Run batches of verified events through the matcher (see the module docstring)."""

    def __init__(
        self,
        events: EventStore,
        store: MatchStore,
        router: Router,
        matcher: Matcher | None = None,
        *,
        consumer: str = "match",
        rules: ResponseRules | None = None,
        catalog: SchemaCatalog | None = None,
        fan_out: str | None = None,
    ) -> None:
        self.events = events
        # With a keyed topic, persons are indexed here and searched by the owners of their
        # blocking keys (processors.match_key_stage); without one, searched here at once.
        self.fan_out = fan_out
        # With a catalog, events are decoded from the verified messages (checked against the
        # store by digest) instead of read back (processors.tracking.received_records).
        self.catalog = catalog
        self.store = store
        self.router = router
        self.matcher = matcher or Matcher()
        self.consumer = consumer
        self.rules = rules or ResponseRules()
        self.discloser = Discloser(events, router.operator, router.notification_topic)
        self.case_reader = CaseReader(router.operator, router.notification_topic, events)
        self._registered: dict[str, str | None] | None = None
        self._populations: dict[tuple[str, str, str], NameCounts] = {}
        # Fanned out: records whose persons are not indexed yet (see process).
        self._pending: list[_Pending] | None = None
        # Prepared features of indexed persons by (reference, event id): derived from immutable
        # events, so a cache only; the index itself stays in the store.
        self._features: OrderedDict[tuple[str, str], Features] = OrderedDict()
        self._handlers: dict[str, Callable[[MatchTxn, EventRecord, MatchResult], None]] = {
            "missing-person-alert": self._alert,
            "alert-update": self._alert_update,
            "parents-dna-profile": self._parents_dna,
            "alert-closed": self._alert_closed,
            "migrant-record": self._record,
            "rescue-notice": self._record,
            "match-decision": self._decision,
            "tip-report": self._tip,
            "details-request": self._details,
            "case-request": self._case_request,
            "dna-sample": self._dna_sample,
        }
        self.review = ReviewActs(self)
        for event_type in REVIEW_EVENT_TYPES:
            self._handlers[event_type] = self.review.apply
        self.tips = TipForwarder(router)
        # DNA sampling keeps households and requests in PostgreSQL tables of its own
        # (processors.sampling_stage); the in-memory store (tests) matches without it.
        self.sampling = (ChildSampling(router, events, merged_alert)
                         if isinstance(store, PgMatchStore) else None)

    def process(self, messages: Sequence[InMessage]) -> MatchResult:
        """One batch, one transaction; raises StoreUnavailable to be retried as a whole.

        Fanned out, the persons of a run of records are indexed together (one statement per
        table) once the run ends; should that write fail, the batch is undone and done again
        indexing each event's persons in its own savepoint, so that event alone is kept as
        failed.
        """
        found_records = received_records(self.events, self.catalog, messages)
        try:
            return self._run(messages, found_records, buffered=self.fan_out is not None)
        except _IndexFailed:
            return self._run(messages, found_records, buffered=False)
        finally:
            self._pending = None

    def _run(self, messages: Sequence[InMessage], found_records: Sequence[EventRecord | None],
             buffered: bool) -> MatchResult:
        result = MatchResult()
        self.begin_batch()
        self._pending = [] if buffered else None
        with self.store.transaction() as txn:
            if self.fan_out is None:
                # Searching in place (a rebuild, tests), two batches committing at once would
                # each search an index without the other; fanned out, probes are sent after the
                # commit, so no lock is needed (hub.matching.fanout).
                txn.lock()
            done = claim_partitions(txn, self.consumer, messages)
            if self.sampling is not None:
                self.sampling.begin_batch(txn, [r for r in found_records if r is not None])
            for msg, record in zip(messages, found_records, strict=True):
                if msg.offset <= done[(msg.topic, msg.partition)] or record is None:
                    # Unknown ids are recorded by the projection stage; nothing to match on here.
                    result.skipped += 1
                    continue
                handler = self._handlers.get(record.event_type)
                if handler is None:
                    continue
                if record.event_type not in _INDEXED_LATER:
                    # What this event reads or removes is in the index and the households,
                    # written outside its savepoint (its failure must not undo them).
                    self._flush(txn)
                result.events += 1
                # Name counts change as each event indexes its persons.
                self._populations.clear()
                held = len(self._pending or ())
                try:
                    with txn.savepoint():
                        handler(txn, record, result)
                except (MatchingInputError, RoutingError) as err:
                    self._drop_pending(held)
                    self._failed(txn, record, str(err), result)
                except Exception as err:
                    # Anything else this one event does (a value the store refuses, a bug) is
                    # undone by its savepoint and kept as failed: the next events go on.
                    if is_outage(err):
                        raise  # the whole batch waits and is retried
                    log.exception("match: %s %s failed", record.event_type, record.event_id)
                    self._drop_pending(held)
                    self._failed(txn, record, f"{type(err).__name__}: {err}", result)
            self._flush(txn)
            advance_partitions(txn, self.consumer, messages)
        return result

    def _drop_pending(self, held: int) -> None:
        if self._pending is not None:
            del self._pending[held:]

    def _flush(self, txn: MatchTxn) -> None:
        """Index the persons of the records held back, and queue their probes; write the
        households their records changed."""
        if self.sampling is not None:
            self.sampling.flush(txn)
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        try:
            txn.replace_batch([p.replacement for p in pending])
            txn.outbox_batch([m for p in pending for m in p.probes], Outbox.PROBES)
        except Exception as err:
            if is_outage(err):
                raise
            raise _IndexFailed from err

    def begin_batch(self) -> None:
        """Forget what is read once per batch (registrations, name counts)."""
        self._registered = None  # read again when the first hit of the batch needs it
        self._populations.clear()

    def _failed(
        self, txn: MatchTxn, record: EventRecord, reason: str, result: MatchResult
    ) -> None:
        result.failed += 1
        if self.sampling is not None:
            self.sampling.alerts_changed()
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

    def _load_populations(self, txn: MatchTxn, alerts: Sequence[Features]) -> None:
        """Name frequencies of these alerts' names (Chinese and Latin), read in one query."""
        keys = {k for k in map(_name_key, alerts) if k is not None and k not in self._populations}
        if not keys:
            return
        # The counts of these names only (a NamePopulation), so no full frequency table is loaded.
        counts = txn.name_counts(
            [(a, b) for script, a, b in keys if script == "han"],
            [(a, b) for script, a, b in keys if script == "latin"],
        )
        for key in keys:
            self._populations[key] = counts

    def _population(self, txn: MatchTxn, alert: Features) -> NameCounts | None:
        """Name frequencies for the alert's name, in the shape the matcher reads them."""
        key = _name_key(alert)
        if key is None:
            return None
        self._load_populations(txn, [alert])
        return self._populations[key]

    # --- alerts ----------------------------------------------------------------------------

    def _state(self, txn: MatchTxn, alert_id: str) -> AlertState:
        return txn.alert(alert_id) or new_alert(alert_id)

    def _alert(self, txn: MatchTxn, event: EventRecord, result: MatchResult) -> None:
        state = self._state(txn, _required(event, "alert_id"))
        change = alert_received(state, event.event_id, event.publisher_id, event.body)
        self._apply(txn, change, event.event_id, result)

    def _alert_update(self, txn: MatchTxn, event: EventRecord, result: MatchResult) -> None:
        state = self._state(txn, _required(event, "alert_id"))
        self._apply(txn, alert_updated(state, event.body), event.event_id, result)

    def _parents_dna(self, txn: MatchTxn, event: EventRecord, result: MatchResult) -> None:
        state = self._state(txn, _required(event, "alert_id"))
        self._apply(txn, parents_dna_received(state, event.body), event.event_id, result)

    def _alert_closed(self, txn: MatchTxn, event: EventRecord, result: MatchResult) -> None:
        state = self._state(txn, _required(event, "alert_id"))
        change = alert_closed(state, event.event_id, event.body.get("outcome"))
        self._apply(txn, change, event.event_id, result)

    def _apply(
        self, txn: MatchTxn, change: AlertChange, trigger: str, result: MatchResult
    ) -> None:
        """Write an alert's change; search with it when the change asks and it can be."""
        state = change.state
        txn.save_alert(state, change.reason)
        if change.unindex:
            txn.remove_persons(state.alert_id, Side.ALERT)
        if change.search and state.searchable and state.publisher_id is not None:
            self._search_alert(txn, state, state.publisher_id, trigger, result)

    def _search_alert(
        self, txn: MatchTxn, state: AlertState, publisher: str, trigger: str, result: MatchResult
    ) -> None:
        facts = facts_from_alert(merged_alert(state), state.parents_dna, state.alert_event_id)
        alert = prepare(facts)
        person = IndexedPerson(facts, publisher, None)
        txn.replace_persons(state.alert_id, Side.ALERT, [_entry(person, alert)])
        if self.sampling is not None:
            # Children listed before this alert arrived who fit it (hub.sampling).
            if self._registered is None:
                self._registered = txn.registered()
            result.sampling_requests += self.sampling.consider_alert(txn, state, self._registered)
        # Searched here at once against every person indexed before this commit, so a new
        # alert is answered even while the keys' owners work through a backlog of probes.
        self._score_alert(txn, state, alert, _candidates(txn, alert, Side.OTHER), trigger, result)
        if self.fan_out is not None:
            # Persons committed meanwhile are found by the alert's probes; a pair found here
            # and again there is one match, notified once (the pair lock, judge_hit).
            self._send_probes(txn, Side.ALERT, alert, trigger)

    def _score_alert(
        self,
        txn: MatchTxn,
        state: AlertState,
        alert: Features,
        others: Sequence[IndexedPerson],
        trigger: str,
        result: MatchResult,
    ) -> None:
        population = self._population(txn, alert)
        wanted = self.matcher.hit_filter(population)
        for other in others:
            person = self._prepared(other.facts)
            if not wanted.may_hit(alert, person):
                continue  # certainly no hit: not scored in full
            hit = self.matcher.to_hit(self.matcher.score_pair(alert, person, population))
            if hit is not None:
                self._hit(txn, state, hit, other, trigger, result)

    # --- records and rescue notices ----------------------------------------------------------

    def _record(self, txn: MatchTxn, event: EventRecord, result: MatchResult) -> None:
        if self.sampling is not None:
            event = self.sampling.with_samples(txn, event)
        persons: list[PersonFacts]
        if event.event_type == "migrant-record":
            persons = facts_from_migrant_record(event.body, event.event_id)
            area = _area(event.body, "current_address")
        else:
            persons = [facts_from_rescue(event.body, event.event_id)]
            area = _area(event.body, "rescue_place")
        prepared = [(IndexedPerson(p, event.publisher_id, area), prepare(p)) for p in persons]
        replacement = Replacement(persons[0].ref.business_id, Side.OTHER,
                                  [_entry(p, f) for p, f in prepared])
        if self._pending is not None:
            # Indexed with the rest of the run of records (see process).
            probes = [m for _, f in prepared for m in self._probes(txn, Side.OTHER, f,
                                                                   event.event_id)]
            self._pending.append(_Pending(replacement, probes))
        else:
            txn.replace_batch([replacement])
        for indexed, features in prepared:
            if self.fan_out is None:
                alerts = _candidates(txn, features, Side.ALERT)
                self._score_person(txn, indexed, features, alerts, event.event_id, result)
            elif self._pending is None:
                self._send_probes(txn, Side.OTHER, features, event.event_id)
        if event.event_type == "migrant-record" and self.sampling is not None:
            if self._registered is None:
                self._registered = txn.registered()
            result.sampling_requests += self.sampling.consider(txn, event, self._registered)

    def _dna_sample(self, txn: MatchTxn, event: EventRecord, result: MatchResult) -> None:
        if self.sampling is None:
            raise MatchingInputError("a dna-sample needs the PostgreSQL match store")
        record = self.sampling.take_sample(txn, event)
        if record is not None:
            self._record(txn, record, result)

    def _score_person(
        self,
        txn: MatchTxn,
        indexed: IndexedPerson,
        features: Features,
        candidates: Sequence[IndexedPerson],
        trigger: str,
        result: MatchResult,
    ) -> None:
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
            if hit is not None and state is not None and state.status is AlertStatus.OPEN:
                self._hit(txn, state, hit, indexed, trigger, result)

    # --- matching partitioned by blocking key (hub.matching.fanout) ------------------------

    def _send_probes(self, txn: MatchTxn, side: Side, person: Features, trigger: str) -> None:
        """Index only; the owners of the person's keys search for it once this commits."""
        txn.outbox_batch(self._probes(txn, side, person, trigger), Outbox.PROBES)

    def _probes(self, txn: MatchTxn, side: Side, person: Features,
                trigger: str) -> list[tuple[str, bytes | None, bytes]]:
        """The probe messages of a person, one per blocking key (hub.matching.fanout)."""
        if self.fan_out is None:
            return []
        keys = set(txn.blind(blocking_keys(person, stored=False)))
        return [(self.fan_out, probe.key.encode(), encode_probe(probe))
                for probe in probes_for(side, person.facts.ref.label(), keys, trigger)]

    def search_probe(self, txn: MatchTxn, probe: Probe, result: MatchResult) -> None:
        """Score one probe's candidates under its key (see hub.matching.fanout)."""
        self.search_probes(txn, [probe], result)

    def search_probes(self, txn: MatchTxn, probes: Sequence[Probe], result: MatchResult) -> None:
        """:meth:`search_probe` for each probe, in order, with the probes' persons, their
        candidates under their keys and the name counts each read in one query (a DNA probe's
        candidates in one of its own)."""
        found = txn.persons((p.side, p.ref) for p in probes)
        searched: list[tuple[Probe, IndexedPerson, Features]] = []
        queries: list[OwnedQuery] = []
        for probe in probes:
            indexed = found.get((probe.side, probe.ref))
            if indexed is None:
                continue  # replaced or taken out of matching since: its successor sent its own
            features = self._prepared(indexed.facts)
            searched.append((probe, indexed, features))
            if probe.kind is not ProbeKind.DNA:
                plain = txn.blind(k for k in blocking_keys(features, stored=False)
                                  if not k.startswith("dna:"))
                queries.append(OwnedQuery(probe.key, plain, _other(probe.side)))
        owned = iter(txn.owned_candidates_batch(queries))
        scored: list[tuple[Probe, IndexedPerson, Features, list[IndexedPerson]]] = []
        for probe, indexed, features in searched:
            if probe.kind is ProbeKind.DNA:
                keys = [k for k in blocking_keys(features, stored=False) if k.startswith("dna:")]
                candidates = txn.dna_candidates([*keys, *dna_group_keys(features)],
                                                _other(probe.side), DEFAULT_DNA_MIN_SHARE,
                                                DEFAULT_DNA_LIMIT)
            else:
                candidates = next(owned)
            scored.append((probe, indexed, features, candidates))
        self._load_populations(txn, [
            alert for probe, _, features, candidates in scored
            for alert in ([features] if probe.side is Side.ALERT
                          else [self._prepared(c.facts) for c in candidates])
        ])
        for probe, indexed, features, candidates in scored:
            if probe.side is Side.OTHER:
                self._score_person(txn, indexed, features, candidates, probe.trigger, result)
                continue
            state = txn.alert(indexed.facts.ref.business_id)
            if state is not None and state.searchable:
                self._score_alert(txn, state, features, candidates, probe.trigger, result)

    # --- hits, decisions, tips, details ----------------------------------------------------

    def _hit(
        self,
        txn: MatchTxn,
        state: AlertState,
        hit: Hit,
        other: IndexedPerson,
        trigger: str,
        result: MatchResult,
    ) -> None:
        effect = judge_hit(state, hit, txn.pair(pair_id(state, hit)))
        if isinstance(effect, Suppressed):
            result.suppressed += 1
        elif isinstance(effect, Review):
            txn.save_pair(effect.match_id, effect.pair, notified=False)
            result.reviewed += 1
        elif isinstance(effect, Notify):
            self._notify(txn, state, hit, other, trigger, effect)
            result.notified += 1
        # AlreadyNotified: the same evidence went out before (an alert searched again).

    def _notify(
        self,
        txn: MatchTxn,
        state: AlertState,
        hit: Hit,
        other: IndexedPerson,
        trigger: str,
        effect: Notify,
    ) -> None:
        """Route a NOTIFY hit, write its event and notifications, and record the pair."""
        if self._registered is None:
            self._registered = txn.registered()
        routing = route(effect.alert_publisher, other.area_code, self._registered)
        body = merged_alert(state)
        deadlines = deadlines_for(self.rules, body, datetime.now(UTC))
        kinship = kinship_json(hit.kinship)
        ref = hit.record_ref
        summary = MatchSummary(
            match_id=effect.match_id,
            alert_id=state.alert_id,
            alert_publisher=effect.alert_publisher,
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
        self.router.publish(txn, hit, summary, routing, effect.evidence, effect.alert_event_id,
                            deadlines)
        pair = replace(
            effect.pair, recipients=tuple(routing.recipients), routing_notes=tuple(routing.notes)
        )
        txn.save_pair(effect.match_id, pair, notified=True)

    def _tip(self, txn: MatchTxn, event: EventRecord, result: MatchResult) -> None:
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

    def _decision(self, txn: MatchTxn, event: EventRecord, result: MatchResult) -> None:
        match_id = _required(event, "match_id")
        decision = decided_status(event.event_id, _required(event, "decision"))
        # Stored decisions are allowed ones (hub.authority, applied by the verify stage): from
        # a notified unit, about the match's own alert. The projection applies the same events.
        alert_id = event.body.get("alert_id")
        txn.decide(match_id, alert_id, decision, event.publisher_id, event.body.get("decided_at"))
        if decision is PairStatus.CONFIRMED and alert_id:
            state = self._state(txn, str(alert_id))
            change = alert_confirmed(state, match_id, event.publisher_id)
            self._apply(txn, change, event.event_id, result)

    def _details(self, txn: MatchTxn, event: EventRecord, result: MatchResult) -> None:
        self.discloser.handle(txn, event)

    def _case_request(self, txn: MatchTxn, event: EventRecord, result: MatchResult) -> None:
        self.case_reader.handle(txn, event)


def _entry(person: IndexedPerson, features: Features) -> IndexEntry:
    """A person with the keys it is stored under and its pinyin for the name counts."""
    keys = blocking_keys(features, stored=True) | dna_group_keys(features)
    return IndexEntry(person, frozenset(keys), _pinyin(features), _latin(features))


def _candidates(txn: MatchTxn, person: Features, side: Side) -> list[IndexedPerson]:
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


def _other(side: Side) -> Side:
    return Side.OTHER if side is Side.ALERT else Side.ALERT


def _pinyin(person: Features) -> tuple[str, str] | None:
    name = person.name
    return (name.surname_py, name.given_py) if name is not None and name.han else None


def _latin(person: Features) -> tuple[str, str] | None:
    """A Latin-script name's family and first given name, as the matcher counts them."""
    name = person.name
    return (name.family, name.first) if name is not None and not name.han else None


def _name_key(person: Features) -> tuple[str, str, str] | None:
    """The name whose frequencies weigh a pair with this alert: (script, part, part)."""
    if (pinyin := _pinyin(person)) is not None:
        return ("han", *pinyin)
    if (latin := _latin(person)) is not None:
        return ("latin", *latin)
    return None


def _required(event: EventRecord, field: str) -> str:
    value = event.body.get(field)
    if value is None or value == "":
        raise MatchingInputError(f"{event.event_type} {event.event_id} field {field}: missing")
    return str(value)


def create_match_stage(
    settings: Settings, catalog: SchemaCatalog, *, keyed: bool = False
) -> tuple[MatchStage, OutboxSender] | None:
    """The stage and its sender for these settings; None when the operator's signing key is
    absent (matching publishes match-found events signed by the hub operator). Keyed, persons
    are searched by the owners of their blocking keys (the workers' way); otherwise at once
    (a rebuild with the workers stopped)."""
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
                       rules=settings.response_rules, catalog=catalog,
                       fan_out=topic_name(settings, "match-keys") if keyed else None)
    return stage, OutboxSender(store, settings.kafka_config(), ensure)


def ensure_topic(settings: Settings, topic: str) -> None:
    """Create a notification topic on first use (other topics are declared in hub/topics)."""
    prefix = settings.topic_prefix + NOTIFICATIONS
    if topic.startswith(prefix):
        ensure_notification_topic(settings, topic[len(prefix) :])
