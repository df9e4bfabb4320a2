"""Reply deadlines, what is overdue, and who an overdue hit is escalated to (pure rules).

Every notified unit owes an acknowledgement (``match-ack``) by the hit's reply deadline, and the
match owes a decision (``match-decision`` CONFIRMED or REJECTED, from any notified unit) by its
decision deadline. Both deadlines are computed when the hit is routed and carried in the
``match-found`` event, so a rebuild from the log finds the same ones whatever the settings are
by then. An urgent missing child gets the short deadlines (SIRENE-style: one hour to reply),
everyone else the long ones; the four durations are settings (hub.config).

A duty not met by its deadline is escalated once, by a ``match-escalated`` event signed by the
hub operator, to the provincial police headquarters of the overdue unit's province. The
headquarters is the registered participant ``<PP>0000-police`` whose jurisdiction is the province
code ``<PP>0000`` (the registry's own area data: participant id and jurisdiction). When that
headquarters is not registered, or is itself the overdue unit, the escalation goes to the hub
operator, whose console shows it.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub.identity import HUB_OPERATOR_ID

__all__ = [
    "Deadlines",
    "Duty",
    "DutyState",
    "ResponseRules",
    "deadlines_for",
    "dna_in_words",
    "escalation_event_id",
    "escalation_target",
    "is_overdue",
    "is_urgent_child",
    "score_band",
]

_ESCALATION_NAMESPACE = uuid.UUID("0c8f3e4a-5d21-5b7f-8a63-2e9d7b1c4f05")
_URGENT = frozenset({"URGENT", "IMMEDIATE"})
_MINOR = "MISSING_MINOR"


class Duty(enum.StrEnum):
    """What a hit asks for by a deadline."""

    ACK = "ACK"
    DECISION = "DECISION"


@dataclass(frozen=True)
class ResponseRules:
    """How long units have to acknowledge and to decide, in seconds."""

    ack_urgent_child_s: int = 3600
    ack_other_s: int = 12 * 3600
    decide_urgent_child_s: int = 12 * 3600
    decide_other_s: int = 72 * 3600

    def __post_init__(self) -> None:
        for name in ("ack_urgent_child_s", "ack_other_s", "decide_urgent_child_s",
                     "decide_other_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be a positive number of seconds")


@dataclass(frozen=True)
class Deadlines:
    """When a hit must be acknowledged and decided."""

    reply_by: datetime
    decide_by: datetime


def is_urgent_child(alert: Mapping[str, Any]) -> bool:
    """An alert for a missing minor marked URGENT or IMMEDIATE, or any IMMEDIATE alert."""
    urgency = alert.get("urgency")
    return urgency == "IMMEDIATE" or (urgency in _URGENT and alert.get("reason") == _MINOR)


def deadlines_for(rules: ResponseRules, alert: Mapping[str, Any], notified_at: datetime
                  ) -> Deadlines:
    """The reply and decision deadlines of a hit on this alert notified at `notified_at`."""
    if is_urgent_child(alert):
        ack, decide = rules.ack_urgent_child_s, rules.decide_urgent_child_s
    else:
        ack, decide = rules.ack_other_s, rules.decide_other_s
    return Deadlines(notified_at + timedelta(seconds=ack),
                     notified_at + timedelta(seconds=decide))


@dataclass(frozen=True)
class DutyState:
    """One duty as the log says it stands."""

    due_at: datetime | None
    done_at: datetime | None = None
    escalated: bool = False


def is_overdue(duty: DutyState, now: datetime) -> bool:
    """Due, not done and not yet escalated: the sweep escalates it now.

    A duty met after its deadline but before the sweep ran is not escalated: the unit did reply.
    """
    return (duty.due_at is not None and duty.due_at <= now and duty.done_at is None
            and not duty.escalated)


def escalation_target(unit: str, registered: Mapping[str, str | None]) -> str:
    """The provincial police headquarters over `unit`, or the hub operator (module docstring)."""
    province = f"{unit[:2]}0000"
    headquarters = f"{province}-police"
    if headquarters == unit or headquarters not in registered:
        return HUB_OPERATOR_ID
    # A participant named like the headquarters but covering less is not the headquarters.
    jurisdiction = registered[headquarters]
    return headquarters if jurisdiction in (None, province) else HUB_OPERATOR_ID


def escalation_event_id(match_id: str, duty: Duty, unit: str) -> uuid.UUID:
    """One id per (match, duty, unit): a second escalation of the same duty is a duplicate."""
    return uuid.uuid5(_ESCALATION_NAMESPACE, f"{match_id}\x1f{duty.value}\x1f{unit}")


def score_band(score: float, notify_threshold: float) -> str:
    """The evidence strength in words: STRONG at twice the notify threshold, else PROBABLE."""
    return "STRONG" if score >= 2 * notify_threshold else "PROBABLE"


_DNA_WORDS = {
    "SUPPORTED": "DNA supports the relationship",
    "INCONCLUSIVE": "DNA inconclusive: more markers needed",
    "NOT_SUPPORTED": "DNA does not support the relationship",
    "EXCLUDED": "DNA excludes the relationship",
}


def dna_in_words(dna: Mapping[str, Any] | None) -> str:
    """The DNA conclusion as a unit reads it (no profile, no allele)."""
    if not dna:
        return "no DNA compared"
    conclusion = str(dna.get("conclusion") or "")
    words = _DNA_WORDS.get(conclusion, f"DNA conclusion {conclusion or 'unknown'}")
    kind = dna.get("kind")
    return f"{words} ({kind}, {dna.get('loci_compared')} loci)" if kind else words
