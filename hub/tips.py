"""Tips from the public searched against open alerts, and to whom a tip goes.

A tip (tip-report) says what someone saw: a person (sex, an estimated age, an accent, maybe a
name), a place and a time. It fits an alert when nothing in it contradicts the alert (sex, age
now, a sighting before the disappearance or farther than anyone could have travelled since) and
at least one thing points at that alert in particular: the tip names it or the child, the place
lies within the alert's push radius at that time (hub.alert_push), or the accent agrees with the
child's home province. Sex and age alone fit too many children to say anything. Each fit comes
with the lines that explain it. The tip goes to the police of the place seen, and to the issuing
unit of every alert it fits (at most MAX_FITS, best first); a tip that fits nothing still goes to
the police of the place seen. Pure functions; the match stage records and sends.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from hub.alert_push import push_radius_km
from hub.areas import AreaCoordinates, great_circle_km
from hub.dates import parse_day, parse_time, whole_years
from hub.routing import local_police

MAX_FITS = 5
AGE_TOLERANCE_YEARS = 1  # an onlooker's estimate of a child's age is rough
TRAVEL_KM_PER_HOUR = 80.0  # by road, without rest: farther than that is not the same child
TRAVEL_SLACK_KM = 100.0
_NAMESPACE = uuid.UUID("0b8f3c52-6a4e-5d1f-8c3b-7e2a9d4f1c60")
# A province's name without its suffix is how people name an accent: 四川口音, 河南话.
_SUFFIXES = ("维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")


@dataclass(frozen=True)
class TipFit:
    """An open alert a tip fits, with its weight and the lines that say why."""

    alert_id: str
    issued_by: str | None
    weight: int
    lines: tuple[str, ...]


def age_range_on(person: Mapping[str, Any], on: date) -> tuple[int, int] | None:
    """The person's age in whole years on a day, as a (low, high) range; None if unknown."""
    birth = person.get("birth")
    if not isinstance(birth, Mapping):
        return None
    born = parse_day(birth.get("date"))
    precision = birth.get("precision")
    if born is not None and precision == "DAY":
        age = whole_years(born, on)
        return age, age
    if born is not None and precision in ("MONTH", "YEAR"):
        last = date(born.year, 12, 31) if precision == "YEAR" else born + timedelta(days=30)
        return whole_years(last, on), whole_years(born, on)
    lo, hi = birth.get("age_min"), birth.get("age_max")
    if isinstance(lo, int) or isinstance(hi, int):
        assessed = parse_day(birth.get("age_assessed_on")) or on
        grown = max(0, whole_years(assessed, on))
        low = (lo if isinstance(lo, int) else hi) + grown  # type: ignore[operator]
        high = (hi if isinstance(hi, int) else lo) + grown  # type: ignore[operator]
        return min(low, high), max(low, high)
    return None


@cache
def _province_names() -> tuple[tuple[str, str], ...]:
    """(province code, the name people use for it) for every province of the shipped table."""
    names = []
    for code, name in AreaCoordinates.shipped().names().items():
        if code.endswith("0000"):
            stem = name
            for suffix in _SUFFIXES:
                if stem.endswith(suffix) and len(stem) > len(suffix) + 1:
                    stem = stem[: -len(suffix)]
                    break
            names.append((code, stem))
    return tuple(sorted(names))


def province_of_accent(text: str | None) -> str | None:
    """The province an accent or dialect names (四川口音 -> 510000); None if none or several."""
    if not text:
        return None
    found = {code for code, stem in _province_names() if stem in text}
    return found.pop() if len(found) == 1 else None


def _home_province(alert: Mapping[str, Any]) -> str | None:
    for field in ("household_registration", "residence", "last_seen_place"):
        place = alert.get(field)
        code = place.get("area_code") if isinstance(place, Mapping) else None
        if isinstance(code, str) and len(code) == 6 and code.isdigit():
            return code[:2] + "0000"
    return None


def _names(person: Mapping[str, Any]) -> set[str]:
    names = {person.get("name")} | set(person.get("former_names") or ())
    names |= set(person.get("aliases") or ())
    return {str(n).strip() for n in names if n and str(n).strip()}


def fit_tip(
    tip: Mapping[str, Any],
    alert_id: str,
    alert: Mapping[str, Any],
    issued_by: str | None,
    areas: AreaCoordinates,
) -> TipFit | None:
    """How the tip fits this open alert (updates applied), or None if it does not."""
    lines: list[str] = []
    pointers = 0
    if tip.get("related_alert_id") == alert_id:
        lines.append("the tip names this alert")
        pointers += 2
    raw_subject, raw_person = tip.get("subject"), alert.get("person")
    subject: Mapping[str, Any] = raw_subject if isinstance(raw_subject, Mapping) else {}
    person: Mapping[str, Any] = raw_person if isinstance(raw_person, Mapping) else {}
    seen_at = parse_time(tip.get("seen_at")) or parse_time(tip.get("received_at"))
    last_seen = parse_time(alert.get("last_seen_at"))
    agreements = 0

    sex, theirs = subject.get("sex"), person.get("sex")
    if sex in ("MALE", "FEMALE") and theirs in ("MALE", "FEMALE"):
        if sex != theirs:
            return None
        lines.append(f"sex {sex} agrees")
        agreements += 1

    if seen_at is not None and last_seen is not None:
        if seen_at < last_seen:
            return None  # seen before the disappearance: not a sighting of the missing child
        tip_age = age_range_on(subject, seen_at.date())
        child_age = age_range_on(person, seen_at.date())
        if tip_age is not None and child_age is not None:
            if (tip_age[0] > child_age[1] + AGE_TOLERANCE_YEARS
                    or tip_age[1] < child_age[0] - AGE_TOLERANCE_YEARS):
                return None
            lines.append(f"estimated age {_span(tip_age)} fits the child's {_span(child_age)} then")
            agreements += 1
        place = _place(areas, tip.get("place"))
        origin = _place(areas, alert.get("last_seen_place"))
        if place is not None and origin is not None:
            distance = great_circle_km(origin, place)
            elapsed = seen_at - last_seen
            hours = elapsed.total_seconds() / 3600
            if distance > TRAVEL_SLACK_KM + TRAVEL_KM_PER_HOUR * hours:
                return None
            radius = push_radius_km(elapsed)
            where = f"seen {distance:.0f} km from the last sighting, {_elapsed(elapsed)} later"
            if distance <= radius:
                lines.append(f"{where}: within the {radius} km search radius")
                pointers += 1
            else:
                lines.append(f"{where}: reachable in that time")

    names = _names(subject) & _names(person)
    if names:
        lines.append(f"name {sorted(names)[0]} agrees")
        pointers += 2

    spoken = subject.get("dialect") or tip.get("language")
    accent = province_of_accent(str(spoken)) if spoken else None
    home = _home_province(alert)
    if accent is not None and home is not None:
        if accent == home:
            lines.append(f"accent {spoken} agrees with the home province {home}")
            pointers += 1
        else:
            lines.append(f"accent {spoken}, home province {home}: accents mislead, not decisive")

    if pointers == 0:
        return None
    return TipFit(alert_id, issued_by, pointers * 2 + agreements, tuple(lines))


def best_fits(fits: Sequence[TipFit]) -> list[TipFit]:
    """The fits a tip is forwarded with: heaviest first, at most MAX_FITS."""
    return sorted(fits, key=lambda f: (-f.weight, f.alert_id))[:MAX_FITS]


def _place(areas: AreaCoordinates, raw: Any) -> Any:
    code = raw.get("area_code") if isinstance(raw, Mapping) else None
    if not isinstance(code, str) or len(code) != 6 or not code.isdigit() or code[0] == "0":
        return None
    return areas.place(code)


def _span(age: tuple[int, int]) -> str:
    return str(age[0]) if age[0] == age[1] else f"{age[0]}-{age[1]}"


def _elapsed(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.0f} days"


def tip_notification_id(tip_event_id: str, recipient: str) -> str:
    """One forward per tip event and recipient."""
    return str(uuid.uuid5(_NAMESPACE, f"{tip_event_id}\x1f{recipient}"))


def tip_notification(
    tip_event_id: str, tip: Mapping[str, Any], received_by: str, recipient: str, role: str,
    fits: Sequence[TipFit],
) -> dict[str, Any]:
    """What one recipient is sent: the tip without the tipster's contact, and the fits that
    concern it (the place's police see every fit, an issuing unit those of its alerts)."""
    place = tip.get("place") if isinstance(tip.get("place"), Mapping) else None
    shown = [f for f in fits if role.startswith("PLACE_POLICE") or f.issued_by == recipient]
    return {
        "notification_id": tip_notification_id(tip_event_id, recipient),
        "kind": "TIP_FORWARDED",
        "recipient": recipient,
        "role": role,
        "tip_id": tip.get("tip_id"),
        "received_by": received_by,
        "received_at": tip.get("received_at"),
        "channel": tip.get("channel"),
        "text": tip.get("text"),
        "place": dict(place) if place else None,
        "seen_at": tip.get("seen_at"),
        "subject": dict(tip["subject"]) if isinstance(tip.get("subject"), Mapping) else None,
        # The tipster is reached through the unit that received the tip, never directly.
        "contact_through": received_by,
        "fits": [{"alert_id": f.alert_id, "alert_issued_by": f.issued_by,
                  "explanation": list(f.lines)} for f in shown],
    }


def tip_recipients(
    tip: Mapping[str, Any], received_by: str, fits: Sequence[TipFit],
    registered: Mapping[str, str | None],
) -> tuple[list[tuple[str, str]], list[str]]:
    """(recipient, role) pairs in sending order, and notes on whom the tip could not reach.

    The receiving unit is sent the tip back only when it learns something: a fit.
    """
    notes: list[str] = []
    place = tip.get("place")
    code = place.get("area_code") if isinstance(place, Mapping) else None
    roles: dict[str, str] = {}
    local = local_police(str(code) if code else None, registered, notes)
    if local is not None:
        roles[local] = "PLACE_POLICE"
    for fit in fits:
        unit = fit.issued_by
        if unit is None or unit not in registered:
            notes.append(f"alert {fit.alert_id}: its issuing unit is not registered")
            continue
        roles[unit] = "PLACE_POLICE+ALERT_ISSUER" if roles.get(unit, "").startswith(
            "PLACE_POLICE") else "ALERT_ISSUER"
    if local == received_by and not fits:
        del roles[local]
    return list(roles.items()), notes
