"""A rescued person's case file, who may read it, and what is sent (pure).

The case file of a rescue notice (its ``rescue_id`` is the case id) is the notice, the
follow-ups civil affairs published on it (assistance, placement, school, reunion), the hits the
hub found on it and the decisions taken on them. A unit reads it with a signed ``case-request``;
the hub decides with :func:`entitlement` from the events stored before that request, audits the
decision, and seals the file to the unit's encryption key (hub.sealing, purpose "case-file").

Who may read it: civil affairs and the police of the province of rescue, and the unit that
issued the notice; civil affairs and the police of a province of origin (the province of the
unit that issued an alert) once a hit between that alert and this person is confirmed. Nobody
else: not other departments, not other provinces, not before the confirmation.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hub.reasons import RequestRefusal

__all__ = [
    "CASE_FILE_KIND",
    "READING_DEPARTMENTS",
    "CaseMatch",
    "CaseSource",
    "Entitlement",
    "case_file",
    "case_file_bytes",
    "case_file_lines",
    "case_file_notice",
    "case_refusal_notice",
    "entitlement",
]

CASE_FILE_KIND = "CASE_FILE"
READING_DEPARTMENTS = ("civil-affairs", "police")
# The raw DNA profile stays out of the file: it serves matching, not the people who act.
_LEFT_OUT = ("str_profile",)


@dataclass(frozen=True)
class CaseMatch:
    """One hit the hub found on the case, with the decisions taken on it in log order."""

    match_id: str
    found: Mapping[str, Any]  # the latest match-found body of this match
    alert_publisher: str | None
    alert_jurisdiction: str | None
    decisions: Sequence[Mapping[str, Any]] = ()

    @property
    def confirmed_by(self) -> str | None:
        """The unit whose decision confirmed the match, if the latest decision is CONFIRMED."""
        if self.decisions and self.decisions[-1].get("decision") == "CONFIRMED":
            return str(self.decisions[-1].get("deciding_unit") or "")
        return None


@dataclass(frozen=True)
class CaseSource:
    """Everything the log held about one case up to a moment (processors.pg_cases)."""

    case_id: str
    notice: Mapping[str, Any] | None
    notice_publisher: str | None
    follow_ups: Sequence[Mapping[str, Any]] = ()
    matches: Sequence[CaseMatch] = field(default_factory=tuple)

    @property
    def rescue_province(self) -> str | None:
        place = (self.notice or {}).get("rescue_place")
        code = place.get("area_code") if isinstance(place, Mapping) else None
        return str(code)[:2] if code else None


@dataclass(frozen=True)
class Entitlement:
    """Whether the requester may read the case file, and why (said in the audit)."""

    granted: bool
    why: str


def _province_of(participant: str, jurisdiction: str | None) -> str:
    return (jurisdiction or participant.partition("-")[0])[:2]


def entitlement(source: CaseSource, requester: str, jurisdiction: str | None) -> Entitlement:
    """May `requester` (registered with `jurisdiction`) read this case file, and why."""
    case = source.case_id
    if source.notice is None:
        return Entitlement(False, f"no rescue notice with case id {case} is held by the hub")
    if requester == source.notice_publisher:
        return Entitlement(True, f"{requester} issued the rescue notice of case {case}")
    department = requester.partition("-")[2]
    if department not in READING_DEPARTMENTS:
        return Entitlement(False, f"{requester}: only civil affairs and police read case files")
    province = _province_of(requester, jurisdiction)
    rescued_in = source.rescue_province
    if rescued_in is not None and province == rescued_in:
        return Entitlement(True, f"{requester} is {department} of the province of rescue "
                                 f"{rescued_in}0000")
    for match in source.matches:
        confirmed_by = match.confirmed_by
        origin = (_province_of(match.alert_publisher, match.alert_jurisdiction)
                  if match.alert_publisher else None)
        if confirmed_by is not None and origin == province:
            return Entitlement(True, f"{requester} is {department} of the province of origin "
                                     f"{origin}0000: match {match.match_id} with alert "
                                     f"{match.found.get('alert_id')} confirmed by "
                                     f"{confirmed_by}")
    pending = [m.match_id for m in source.matches if m.alert_publisher
               and _province_of(m.alert_publisher, m.alert_jurisdiction) == province]
    if pending:
        return Entitlement(False, f"{requester}: case {case} was rescued in {rescued_in}0000; "
                                  f"the match with your province ({', '.join(pending)}) is "
                                  "not confirmed yet")
    return Entitlement(False, f"{requester}: case {case} was rescued in {rescued_in}0000 and no "
                              "confirmed match links it to your province")


def case_file(source: CaseSource, requester: str, request_event_id: str) -> dict[str, Any]:
    """The case file as JSON-ready data, as it stood when the request was made."""
    notice = {k: v for k, v in (source.notice or {}).items() if k not in _LEFT_OUT}
    if (source.notice or {}).get("str_profile"):
        notice["dna_profile_on_file"] = True
    return {
        "case_id": source.case_id,
        "requested_by": requester,
        "request_event_id": request_event_id,
        "rescue_notice": notice,
        "issued_by": source.notice_publisher,
        "follow_ups": [dict(f) for f in source.follow_ups],
        "matches": [
            {
                "match_id": m.match_id,
                "alert_id": m.found.get("alert_id"),
                "alert_issued_by": m.alert_publisher,
                "score": m.found.get("score"),
                "explanation": list(m.found.get("explanation") or []),
                "notified": list(m.found.get("recipients") or []),
                "decisions": [dict(d) for d in m.decisions],
            }
            for m in source.matches
        ],
    }


def case_file_bytes(content: Mapping[str, Any]) -> bytes:
    """The plaintext that is sealed: compact UTF-8 JSON."""
    return json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str).encode("utf-8")


def case_file_notice(
    case_id: str, recipient: str, request_event_id: str, sealed: Mapping[str, str]
) -> dict[str, Any]:
    """The notice body that carries the sealed case file to the unit that asked."""
    return {
        "notification_id": str(uuid.uuid5(uuid.UUID(request_event_id), "case-file")),
        "kind": CASE_FILE_KIND,
        "recipient": recipient,
        "case_id": case_id,
        "request_event_id": request_event_id,
        "sealed": dict(sealed),
    }


def case_refusal_notice(case_id: str, recipient: str, request_event_id: str, why: str
                        ) -> dict[str, Any]:
    """The notice telling the unit that asked why it may not read the case file."""
    return {
        "notification_id": str(uuid.uuid5(uuid.UUID(request_event_id), "case-file-refused")),
        "kind": "EVENT_REFUSED",
        "recipient": recipient,
        "event_id": request_event_id,
        "event_type": "case-request",
        "case_id": case_id,
        "reason": str(RequestRefusal.CASE_FILE_REFUSED),
        "detail": why,
    }


def _person_line(person: Mapping[str, Any]) -> str:
    birth = person.get("birth") or {}
    if birth.get("date"):
        born = f"born {birth['date']} ({birth.get('precision') or 'DAY'})"
    elif birth.get("age_min") is not None or birth.get("age_max") is not None:
        born = (f"aged {birth.get('age_min', '?')}-{birth.get('age_max', '?')} when assessed"
                f" {birth.get('age_assessed_on') or ''}").rstrip()
    else:
        born = "birth unknown"
    parts = [str(person.get("name") or "(no name given)"), str(person.get("sex") or "?"), born]
    if person.get("id_number"):
        parts.append(f"id {person['id_number']}")
    return ", ".join(parts)


def _place(value: Any) -> str:
    if not isinstance(value, Mapping):
        return str(value or "-")
    return f"{value.get('text') or ''} ({value.get('area_code') or '?'})".strip()


def case_file_lines(content: Mapping[str, Any]) -> list[str]:
    """The opened case file as lines for a terminal."""
    notice = content.get("rescue_notice") or {}
    lines = [f"case file {content.get('case_id')} (rescue notice by {content.get('issued_by')})"]
    person = notice.get("person")
    if isinstance(person, Mapping):
        lines.append(f"  person: {_person_line(person)}")
    lines.append(f"  rescued: {notice.get('rescued_at') or '-'} at "
                 f"{_place(notice.get('rescue_place'))}")
    if notice.get("trafficked_from"):
        lines.append(f"  trafficked from: {_place(notice.get('trafficked_from'))}")
    if notice.get("placement"):
        placement = notice["placement"]
        lines.append(f"  placement: {placement.get('kind')} {placement.get('institution', '')}"
                     if isinstance(placement, Mapping) else f"  placement: {placement}")
    for label in ("health", "own_account"):
        if notice.get(label):
            value = notice[label]
            text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
            lines.append(f"  {label.replace('_', ' ')}: {text}")
    if notice.get("dna_profile_on_file"):
        lines.append("  DNA profile: on file (not included)")
    follow_ups = content.get("follow_ups") or []
    lines.append(f"  follow-ups ({len(follow_ups)}):")
    for f in follow_ups:
        placement = f.get("placement") or {}
        where = (f" placement {placement.get('kind')} {placement.get('institution', '')}"
                 if placement else "")
        assistance = ", ".join(f.get("assistance") or []) or "none"
        note = f"; note: {f['note']}" if f.get("note") else ""
        lines.append(f"    {f.get('followed_up_on')} {f.get('follow_up_id')} by "
                     f"{f.get('issuing_unit')}: assistance {assistance};{where} reunion "
                     f"{f.get('family_reunion')}; case {f.get('status')}{note}")
    matches = content.get("matches") or []
    lines.append(f"  matches ({len(matches)}):")
    for m in matches:
        lines.append(f"    {m.get('match_id')} alert {m.get('alert_id')} of "
                     f"{m.get('alert_issued_by')}, score {m.get('score')}")
        for d in m.get("decisions") or []:
            note = f": {d['note']}" if d.get("note") else ""
            lines.append(f"      {d.get('decided_at')} {d.get('decision')} by "
                         f"{d.get('deciding_unit')}{note}")
    return lines
