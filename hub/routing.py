"""Who is told about a match, and what the notification may say (pure; no Kafka, no database).

Recipients of a hit at or above the notify threshold:

1. the police unit that issued the alert (the alert event's publisher, authenticated by its
   signature, rather than the free-text ``issuing_unit`` field);
2. the police of the province where the other person was found, registered or rescued: the
   participant ``<PP>0000-police`` when it is registered, otherwise the registered police
   participant with the broadest jurisdiction that contains the area code.

The same unit is never named twice, and a hit whose place no registered police covers still
reaches the issuing unit, with a routing note saying so.

Minimum-data rule for notifications (design: no second harm to rescued people; personal details
follow only after a unit confirms it needs them):

- a notification names the match, the alert and the counterpart by reference only (alert id,
  record or rescue id, child index, who holds the file and the area code of the place), never a
  name, identity number, address, physical description, dialect or the person's own account;
- explanation lines keep the field, its agreement level and its weight but drop the compared
  values (the part in parentheses), and any identity number left in a line is masked;
- DNA evidence is carried as the conclusion, CPI, loci compared and inconsistent loci;
- the urgency and the action on hit come from the alert, so the unit knows how fast to act;
- the evidence strength is given in words (a score band, the DNA conclusion), with the reply
  deadline and the commands to acknowledge (`hub-connector ack`) and to ask for the personal
  details (`hub-connector details`), which the hub then seals to the asking unit alone.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.areas import covers
from hub.errors import RoutingError

__all__ = [
    "MatchSummary",
    "Routing",
    "mask_id_numbers",
    "match_id_for",
    "minimal_line",
    "notification",
    "notification_id_for",
    "province_police",
    "route",
]

POLICE = "police"
_AREA = re.compile(r"^\d{6}$")
_ID_NUMBER = re.compile(r"(?<![0-9])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9Xx])")
_DETAIL = re.compile(r"\s*\([^()]*\)")
# A fixed namespace so that every worker and every rebuild derives the same ids.
_MATCH_NAMESPACE = uuid.UUID("6f1d8a52-33c4-5b0e-9a7e-0c2d41b5e9a1")


def match_id_for(alert_id: str, counterpart_ref: str) -> str:
    """The stable id of the pair (alert, counterpart person): re-processing finds the same id."""
    return str(uuid.uuid5(_MATCH_NAMESPACE, f"{alert_id}\x1f{counterpart_ref}"))


def notification_id_for(match_id: str, recipient: str, trigger_event_id: str) -> str:
    """One notification per recipient and per event that produced the hit."""
    return str(uuid.uuid5(uuid.UUID(match_id), f"{recipient}\x1f{trigger_event_id}"))


def _area(area_code: str, what: str) -> str:
    if _AREA.match(area_code) is None:
        raise RoutingError(f"{what}: {area_code!r} is not a 6-digit area code")
    return area_code


def province_police(area_code: str) -> str:
    """The provincial police participant id for an area code (510104 -> 510000-police)."""
    return f"{_area(area_code, 'area code')[:2]}0000-{POLICE}"


def _breadth(jurisdiction: str) -> int:
    return 0 if jurisdiction.endswith("0000") else 1 if jurisdiction.endswith("00") else 2


@dataclass(frozen=True)
class Routing:
    """The recipients in notification order (issuing unit first) and why anyone is missing."""

    recipients: tuple[str, ...]
    roles: Mapping[str, str]
    notes: tuple[str, ...] = ()


def route(
    alert_publisher: str, found_area: str | None, registered: Mapping[str, str | None]
) -> Routing:
    """Recipients of a hit; `registered` maps each registered participant id to its jurisdiction."""
    if not alert_publisher.endswith(f"-{POLICE}"):
        raise RoutingError(f"alert publisher {alert_publisher!r} is not a police participant")
    recipients = [alert_publisher]
    roles = {alert_publisher: "ISSUING_UNIT"}
    notes: list[str] = []
    local = local_police(found_area, registered, notes)
    if local is not None:
        if local in roles:
            roles[local] = "ISSUING_UNIT+LOCAL_POLICE"
        else:
            recipients.append(local)
            roles[local] = "LOCAL_POLICE"
    return Routing(tuple(recipients), roles, tuple(notes))


def local_police(
    found_area: str | None, registered: Mapping[str, str | None], notes: list[str]
) -> str | None:
    """The police unit for a place: its province's, else the narrowest registered unit that
    covers it; None (with a note saying why) when no registered police covers it."""
    if not found_area:
        notes.append("counterpart has no area code: only the issuing unit is notified")
        return None
    if _AREA.match(found_area) is None:
        notes.append(f"counterpart area code {found_area!r} is malformed: issuing unit only")
        return None
    provincial = province_police(found_area)
    if provincial in registered:
        return provincial
    covering = sorted(
        (
            (_breadth(j), pid)
            for pid, juris in registered.items()
            if pid.endswith(f"-{POLICE}")
            for j in [juris or pid.split("-", 1)[0]]
            if covers(j, found_area)
        ),
    )
    if covering:
        notes.append(f"{provincial} is not registered: {covering[0][1]} covers {found_area}")
        return covering[0][1]
    notes.append(f"no registered police covers {found_area}: only the issuing unit is notified")
    return None


def mask_id_numbers(text: str) -> str:
    """Replace every 18-character identity number by its area code and asterisks."""
    return _ID_NUMBER.sub(lambda m: m.group(1) + "*" * 12, text)


def minimal_line(line: str) -> str:
    """An explanation line without the compared values: field, level and weight only."""
    previous = None
    while previous != line:  # nested parentheses go from the inside out
        previous, line = line, _DETAIL.sub("", line)
    return mask_id_numbers(line)


@dataclass(frozen=True)
class MatchSummary:
    """What a notification is made from: references, evidence and the alert's urgency."""

    match_id: str
    alert_id: str
    alert_publisher: str
    counterpart_kind: str
    counterpart_id: str
    counterpart_publisher: str
    score: float
    explanation: Sequence[str]
    trigger_event_id: str
    child_index: int | None = None
    found_area: str | None = None
    urgency: str | None = None
    action_on_hit: str | None = None
    kinship: Mapping[str, Any] | None = None
    found_at: str | None = None
    extra_notes: Sequence[str] = field(default=())
    score_band: str | None = None
    dna_in_words: str | None = None
    reply_by: str | None = None
    decide_by: str | None = None


def notification(summary: MatchSummary, recipient: str, role: str) -> dict[str, Any]:
    """The JSON object sent to one recipient's notification topic (see the module rule)."""
    return {
        "notification_id": notification_id_for(
            summary.match_id, recipient, summary.trigger_event_id
        ),
        "kind": "MATCH_HIT",
        "recipient": recipient,
        "role": role,
        "match_id": summary.match_id,
        "alert_id": summary.alert_id,
        "alert_issued_by": summary.alert_publisher,
        "urgency": summary.urgency,
        "action_on_hit": summary.action_on_hit,
        "counterpart": {
            "kind": summary.counterpart_kind,
            "id": summary.counterpart_id,
            "child_index": summary.child_index,
            "held_by": summary.counterpart_publisher,
            "area_code": summary.found_area,
        },
        "score": summary.score,
        "explanation": [minimal_line(line) for line in summary.explanation],
        "dna": dict(summary.kinship) if summary.kinship is not None else None,
        "found_at": summary.found_at,
        "notes": list(summary.extra_notes),
        "decide_with": f"hub-connector decide {summary.match_id} confirm|reject|need-info",
        "evidence": {"score_band": summary.score_band, "dna": summary.dna_in_words},
        "reply_by": summary.reply_by,
        "decide_by": summary.decide_by,
        "ack_with": f"hub-connector ack {summary.match_id}",
        "details_with": f'hub-connector details {summary.match_id} --reason "..."',
    }
