"""The streaming matcher's rules as pure functions: an alert's state, which pairs to notify,
and the evidence a notification stands on.

Each function takes what the store holds and returns what should change (an effect); the match
stage (processors.match_stage) reads the store, calls these and writes the effects back, so the
rules are tested without a database.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from hub.errors import MatchingInputError
from hub.matching.facts import PersonFacts
from hub.matching.matcher import Decision, Hit
from hub.routing import match_id_for

__all__ = [
    "DECISIONS",
    "AlertChange",
    "AlertState",
    "AlertStatus",
    "AlreadyNotified",
    "IndexedPerson",
    "KnownPair",
    "Notify",
    "PairEffect",
    "PairRecord",
    "PairStatus",
    "Review",
    "Suppressed",
    "alert_closed",
    "alert_confirmed",
    "alert_received",
    "alert_updated",
    "decided_status",
    "evidence_for",
    "judge_hit",
    "merged_alert",
    "new_alert",
    "pair_id",
    "parents_dna_received",
]

# Fields an alert-update replaces when it carries them.
_UPDATABLE = (
    "person",
    "last_seen_place",
    "last_seen_at",
    "circumstances",
    "urgency",
    "action_on_hit",
)


class AlertStatus(enum.StrEnum):
    """Whether an alert still takes part in matching."""

    OPEN = "open"
    CLOSED = "closed"
    CONFIRMED = "confirmed"


class PairStatus(enum.StrEnum):
    """Where a pair stands: found (notified or for review) or decided by the police."""

    NOTIFIED = "NOTIFIED"
    REVIEW = "REVIEW"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    NEED_INFO = "NEED_INFO"
    DISMISSED = "DISMISSED"  # taken off the review queue by an operator (hub.review)


# A pair the police confirmed or rejected is never notified again, whatever follows.
_DECIDED = frozenset((PairStatus.CONFIRMED, PairStatus.REJECTED))
_KEPT_AT_REVIEW = frozenset((PairStatus.NOTIFIED, PairStatus.DISMISSED))
# What a police decision sets; a refreshed pair keeps it over what matching found.
DECISIONS = frozenset((PairStatus.CONFIRMED, PairStatus.REJECTED, PairStatus.NEED_INFO))


@dataclass(frozen=True)
class IndexedPerson:
    """A person in the index with where the facts came from."""

    facts: PersonFacts
    publisher_id: str
    area_code: str | None


@dataclass(frozen=True)
class AlertState:
    """An alert as the matcher knows it (body may be None until the alert itself arrives)."""

    alert_id: str
    alert_event_id: str | None
    publisher_id: str | None
    body: dict[str, Any] | None
    updates: tuple[dict[str, Any], ...]
    parents_dna: dict[str, Any] | None
    status: AlertStatus

    @property
    def searchable(self) -> bool:
        """Open and with the alert itself arrived: its person can be searched for."""
        return (
            self.status is AlertStatus.OPEN
            and self.body is not None
            and self.publisher_id is not None
        )


def new_alert(alert_id: str) -> AlertState:
    """An alert nothing is known of yet (an update or DNA may arrive before the alert)."""
    return AlertState(alert_id, None, None, None, (), None, AlertStatus.OPEN)


@dataclass(frozen=True)
class AlertChange:
    """What an event does to an alert: its new state, the reason to record with a status
    change, and whether its person is searched again or taken out of matching."""

    state: AlertState
    reason: str | None = None
    search: bool = False
    unindex: bool = False


def merged_alert(state: AlertState) -> dict[str, Any]:
    """The alert body with its updates applied in arrival order."""
    body = dict(state.body or {})
    for update in state.updates:
        for field in _UPDATABLE:
            if update.get(field) is not None:
                body[field] = update[field]
    return body


def alert_received(
    state: AlertState, event_id: str, publisher_id: str, body: Mapping[str, Any]
) -> AlertChange:
    """A missing-person alert (or its redelivery): keep it and search with it."""
    changed = replace(state, body=dict(body), alert_event_id=event_id, publisher_id=publisher_id)
    return AlertChange(changed, search=True)


def alert_updated(state: AlertState, update: Mapping[str, Any]) -> AlertChange:
    """An alert-update replaces an earlier one with the same update id, then applies last."""
    kept = tuple(u for u in state.updates if u.get("update_id") != update.get("update_id"))
    return AlertChange(replace(state, updates=(*kept, dict(update))), search=True)


def parents_dna_received(state: AlertState, profile: Mapping[str, Any]) -> AlertChange:
    """The parents' DNA profile of the missing child: searched with from now on."""
    return AlertChange(replace(state, parents_dna=dict(profile)), search=True)


def alert_closed(state: AlertState, event_id: str, outcome: Any) -> AlertChange:
    """The publisher closed the alert: out of matching."""
    return AlertChange(
        replace(state, status=AlertStatus.CLOSED),
        reason=f"alert-closed {event_id}: {outcome}",
        unindex=True,
    )


def alert_confirmed(state: AlertState, match_id: str, by: str) -> AlertChange:
    """The police confirmed one of the alert's matches: the child is found, out of matching."""
    return AlertChange(
        replace(state, status=AlertStatus.CONFIRMED),
        reason=f"match {match_id} confirmed by {by}",
        unindex=True,
    )


@dataclass(frozen=True)
class KnownPair:
    """What the store holds of a pair: its status, the evidence last notified, the recipients."""

    status: PairStatus
    evidence: str | None
    recipients: tuple[str, ...]


@dataclass(frozen=True)
class PairRecord:
    """One pair as matching writes it. Recipients, routing notes and evidence are None on a
    review, so that a pair notified earlier keeps who was told and on what evidence."""

    alert_id: str
    counterpart_ref: str
    counterpart_kind: str
    counterpart_id: str
    child_index: int | None
    score: float
    level: Decision
    explanation: tuple[str, ...]
    alert_event_id: str | None
    counterpart_event_id: str
    status: PairStatus
    recipients: tuple[str, ...] | None = None
    routing_notes: tuple[str, ...] | None = None
    evidence: str | None = None


@dataclass(frozen=True)
class Suppressed:
    """The police decided on this pair already: nothing is written, no one is told."""

    match_id: str


@dataclass(frozen=True)
class AlreadyNotified:
    """The same evidence was notified already (e.g. an alert searched again): nothing to do."""

    match_id: str


@dataclass(frozen=True)
class Review:
    """Between the thresholds: the pair goes on (or stays on) the operators' review list."""

    match_id: str
    pair: PairRecord


@dataclass(frozen=True)
class Notify:
    """At or above the notify threshold on new evidence: route, publish and record the pair.
    The stage completes `pair` with the recipients and routing notes once routed."""

    match_id: str
    pair: PairRecord
    evidence: str
    alert_publisher: str
    alert_event_id: str


PairEffect = Suppressed | AlreadyNotified | Review | Notify


def evidence_for(state: AlertState, hit: Hit) -> str:
    """The versions a notification stands on: the alert event, its last update, the parents'
    DNA profile and the counterpart's event. New evidence notifies again; the same does not."""
    alert_version = (state.updates[-1].get("update_id") if state.updates else None) or ""
    dna_version = (state.parents_dna or {}).get("profile_id") or ""
    return f"{state.alert_event_id}|{alert_version}|{dna_version}|{hit.record_ref.event_id}"


def pair_id(state: AlertState, hit: Hit) -> str:
    """The match id of the pair a hit of this alert makes (hub.routing.match_id_for)."""
    return match_id_for(state.alert_id, hit.record_ref.label())


def judge_hit(state: AlertState, hit: Hit, known: KnownPair | None) -> PairEffect:
    """What a hit of this alert does, given what the store knows of the pair (see
    :func:`pair_id`)."""
    ref = hit.record_ref
    match_id = pair_id(state, hit)
    status = known.status if known else None
    if status in _DECIDED:
        return Suppressed(match_id)
    pair = PairRecord(
        alert_id=state.alert_id,
        counterpart_ref=ref.label(),
        counterpart_kind=ref.source.value,
        counterpart_id=ref.business_id,
        child_index=ref.child_index,
        score=hit.score,
        level=hit.decision,
        explanation=tuple(hit.explanation),
        alert_event_id=state.alert_event_id,
        counterpart_event_id=ref.event_id,
        status=PairStatus.REVIEW,
    )
    if hit.decision is Decision.REVIEW:
        # A pair notified before and now scoring lower stays notified; one an operator
        # dismissed from the review queue stays dismissed while it scores at review level.
        stays = status if status in _KEPT_AT_REVIEW else PairStatus.REVIEW
        return Review(match_id, replace(pair, status=stays))
    evidence = evidence_for(state, hit)
    if known is not None and status is PairStatus.NOTIFIED and known.evidence == evidence:
        return AlreadyNotified(match_id)
    if state.publisher_id is None or state.alert_event_id is None:
        # Only an alert whose own event arrived is indexed, so this is a store out of step.
        raise MatchingInputError(f"alert {state.alert_id}: a hit before the alert itself")
    return Notify(
        match_id,
        replace(pair, status=PairStatus.NOTIFIED, evidence=evidence),
        evidence,
        state.publisher_id,
        state.alert_event_id,
    )



def decided_status(event_id: str, decision: str) -> PairStatus:
    """The pair status a police decision sets; anything but a decision is bad input."""
    if decision not in DECISIONS:
        raise MatchingInputError(f"match-decision {event_id} field decision: {decision!r} "
                                 "is not CONFIRMED, REJECTED or NEED_INFO")
    return PairStatus(decision)
