"""Who may change what: the one rule for changes to alerts and decisions on matches.

The verify stage applies it to every verified event before storing it, so the event store, the
projections and the matcher only ever hold changes that were allowed: they cannot disagree.

- An alert belongs to the unit that first issued it. Only that unit, or the hub operator (whose
  every act is a signed event in the log), may update it, close it or attach the parents' DNA;
  nobody else may issue an alert under the same id.
- A decision is accepted only for a match the hub found, from a unit the hub notified of it,
  and about the alert that match is about.
- An acknowledgement (match-ack) or a request for the personal details behind a hit
  (details-request) is accepted only for a match the hub found, from a unit the hub notified
  of it: the hub discloses details to nobody else.

A change naming an alert or match the hub has not received yet is refused as UNKNOWN_SUBJECT,
which the verify stage tries again once that alert or match arrives.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from hub.envelope import Envelope
from hub.identity import HUB_OPERATOR_ID
from hub.reasons import RejectReason
from hub.store import SUBJECT_FIELDS
from hub.verify import Rejected

ALERT_CHANGES = frozenset({"alert-update", "alert-closed", "parents-dna-profile"})
# Acts of a notified unit on a match, besides deciding it.
MATCH_ACTS = frozenset({"match-ack", "details-request"})


@dataclass(frozen=True)
class MatchSubject:
    """What the hub said about one match: the alert it is about and every unit it notified."""

    alert_id: str
    recipients: frozenset[str]


class Subjects(Protocol):
    """The alerts and matches the hub has accepted so far."""

    def alert_issuer(self, alert_id: str) -> str | None:
        """The participant that first issued this alert, or None if it is unknown."""

    def match(self, match_id: str) -> MatchSubject | None:
        """This match as found by the hub (every match-found event of it), or None."""


def subject_of(event_type: str, payload: Mapping[str, Any]) -> str | None:
    """The id of the alert or match an event of this type creates (None for other types)."""
    field = SUBJECT_FIELDS.get(event_type)
    return None if field is None else str(payload[field])


def named_subject(event_type: str, payload: Mapping[str, Any]) -> str | None:
    """The id of the alert or match a change of this type names (None for other types)."""
    if event_type == "match-decision" or event_type in MATCH_ACTS:
        return str(payload["match_id"])
    if event_type in ALERT_CHANGES:
        return str(payload["alert_id"])
    return None


def refusal(env: Envelope, payload: Mapping[str, Any], subjects: Subjects) -> Rejected | None:
    """Why this verified event may not change what it names, or None when it may."""
    kind, publisher = env.event_type, env.publisher_id
    if kind == "missing-person-alert":
        alert_id = str(payload["alert_id"])
        issuer = subjects.alert_issuer(alert_id)
        if issuer is not None and issuer != publisher:
            return Rejected(RejectReason.NOT_ENTITLED,
                            f"alert {alert_id} was issued by {issuer}; another unit may not "
                            "issue an alert under its id", env)
    elif kind in ALERT_CHANGES:
        alert_id = str(named_subject(kind, payload))
        issuer = subjects.alert_issuer(alert_id)
        if issuer is None:
            return Rejected(RejectReason.UNKNOWN_SUBJECT,
                            f"{kind} names alert {alert_id}, which the hub has not received", env)
        if publisher not in (issuer, HUB_OPERATOR_ID):
            return Rejected(RejectReason.NOT_ENTITLED,
                            f"alert {alert_id} was issued by {issuer}; only that unit or the "
                            f"hub operator may send {kind} for it", env)
    elif kind == "match-decision":
        return _decision_refusal(env, payload, subjects)
    elif kind in MATCH_ACTS:
        return _recipient_refusal(env, payload, subjects)
    return None


def _recipient_refusal(
    env: Envelope, payload: Mapping[str, Any], subjects: Subjects
) -> Rejected | None:
    match_id = str(named_subject(env.event_type, payload))
    match = subjects.match(match_id)
    if match is None:
        return Rejected(RejectReason.UNKNOWN_SUBJECT,
                        f"{env.event_type} names match {match_id}, which the hub has not found",
                        env)
    if env.publisher_id not in match.recipients:
        return Rejected(RejectReason.NOT_ENTITLED,
                        f"{env.publisher_id} was not notified of match {match_id}; only a "
                        f"notified unit may send {env.event_type} for it", env)
    return None


def _decision_refusal(
    env: Envelope, payload: Mapping[str, Any], subjects: Subjects
) -> Rejected | None:
    match_id = str(named_subject(env.event_type, payload))
    match = subjects.match(match_id)
    if match is None:
        return Rejected(RejectReason.UNKNOWN_SUBJECT,
                        f"decision on match {match_id}, which the hub has not found", env)
    if env.publisher_id not in match.recipients:
        told = ", ".join(sorted(match.recipients)) or "nobody"
        return Rejected(RejectReason.NOT_ENTITLED,
                        f"{env.publisher_id} was not notified of match {match_id} (notified: "
                        f"{told}); only they may decide on it", env)
    if str(payload.get("alert_id")) != match.alert_id:
        return Rejected(RejectReason.NOT_ENTITLED,
                        f"match {match_id} is about alert {match.alert_id}, not "
                        f"{payload.get('alert_id')}", env)
    return None

