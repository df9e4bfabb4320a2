"""What the second step of disclosure sends: the personal details behind one hit (pure).

The first step (hub.routing) tells a unit that there is a hit and how strong it is, without any
personal data. A notified unit that needs to act asks for the details with a signed
``details-request``; the hub checks it (hub.authority), audits it, and sends the result of
:func:`match_details` sealed to that unit's encryption key (hub.sealing). The details name both
sides of the pair, as both notified units act on the same person: the sought person of the
alert with its last sighting, and the person of the record or rescue notice with where they
were found. A rescued person's own account is not sent: it stays with civil affairs' case file.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "DETAILS_KIND",
    "details_bytes",
    "details_notice",
    "disclosure_refusal",
    "match_details",
]

DETAILS_KIND = "MATCH_DETAILS"
_ALERT_FIELDS = ("alert_id", "case_number", "person", "residence", "household_registration",
                 "last_seen_place", "last_seen_at", "circumstances", "possible_destination",
                 "issuing_unit", "officer_contact")
_RECORD_FIELDS = ("record_id", "person", "current_address", "household_registration",
                  "moved_in_on", "registering_station", "phone")
_RESCUE_FIELDS = ("rescue_id", "person", "rescued_at", "rescue_place", "trafficked_from",
                  "placement", "issuing_unit")


def _pick(body: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    return {n: body[n] for n in names if body.get(n) is not None}


def disclosure_refusal(
    match_id: str, requester: str, recipients: Sequence[str], status: str | None
) -> str | None:
    """Why the details of this match may not go to `requester`, or None when they may.

    Only a notified unit gets them, and nobody once the match was rejected: the people in it
    are then strangers to each other, and their details would be disclosed for nothing.
    """
    if requester not in recipients:
        return f"{requester} was not notified of match {match_id}"
    if status == "REJECTED":
        return f"match {match_id} was rejected: its details are no longer disclosed"
    return None


def match_details(
    match_id: str,
    alert: Mapping[str, Any],
    counterpart_kind: str,
    counterpart: Mapping[str, Any],
    child_index: int | None,
    explanation: Sequence[str],
) -> dict[str, Any]:
    """The details of a hit as JSON-ready data (bodies are the stored, JSON-able payloads)."""
    if counterpart_kind == "RESCUE":
        other = _pick(counterpart, _RESCUE_FIELDS)
    else:
        other = _pick(counterpart, _RECORD_FIELDS)
        children = counterpart.get("children") or []
        if child_index is not None and 0 <= child_index < len(children):
            # The child matched; the registrant is the adult the child was found with.
            entry = children[child_index]
            other["accompanying_adult"] = other.pop("person", None)
            other["person"] = entry.get("child") if isinstance(entry, Mapping) else entry
            if isinstance(entry, Mapping) and entry.get("guardian_relation"):
                other["guardian_relation"] = entry["guardian_relation"]
    return {
        "match_id": match_id,
        "alert": _pick(alert, _ALERT_FIELDS),
        "counterpart": {"kind": counterpart_kind, "child_index": child_index, **other},
        "explanation": list(explanation),
    }


def details_notice(
    match_id: str, recipient: str, request_event_id: str, sealed: Mapping[str, str]
) -> dict[str, Any]:
    """The notice body that carries sealed details to the one unit that asked."""
    return {
        "notification_id": str(uuid.uuid5(uuid.UUID(request_event_id), "details")),
        "kind": DETAILS_KIND,
        "recipient": recipient,
        "match_id": match_id,
        "request_event_id": request_event_id,
        "sealed": dict(sealed),
    }


def details_bytes(details: Mapping[str, Any]) -> bytes:
    """The plaintext that is sealed: compact UTF-8 JSON."""
    return json.dumps(details, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")
