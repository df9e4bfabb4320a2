"""Urgent child alerts pushed to the police around the place last seen, in widening rings.

The rule (DOMAIN.md, after the national "团圆" platform): an alert's push radius grows with the
time since disappearance, 100 km in the first hour, 200 km by two hours, 300 km by three and
500 km after. Every police unit whose area lies within the radius receives the alert once, with
its distance; the unit whose jurisdiction contains the place is at distance 0. The issuing unit
already has the alert and is never pushed to. These are pure functions over the alert as the
matcher keeps it (JSON, updates applied); the sweep that sends is processors.push_stage.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from hub.areas import AreaCoordinates, covers, great_circle_km
from hub.dates import parse_day, parse_time, whole_years
from hub.routing import POLICE

# (time since disappearance below which, radius in km); past the last step, FINAL_RADIUS_KM.
RINGS: tuple[tuple[timedelta, int], ...] = (
    (timedelta(hours=1), 100),
    (timedelta(hours=2), 200),
    (timedelta(hours=3), 300),
)
FINAL_RADIUS_KM = 500
PUSHED_URGENCIES = frozenset({"URGENT", "IMMEDIATE"})
ADULT_AGE = 18
_NAMESPACE = uuid.UUID("6f1d0c7e-3b7a-5c1e-9a8d-2e4f6b1c9d07")
# What a police unit needs to look for the child; never identity numbers, addresses or the
# reporter's details.
_LOOKOUT_FIELDS = (
    "name", "sex", "birth", "height_cm", "description", "marks", "dialect", "clothing",
    "belongings", "photo_ref",
)


def push_radius_km(elapsed: timedelta) -> int:
    """The push radius after `elapsed` since the person was last seen."""
    for below, radius in RINGS:
        if elapsed < below:
            return radius
    return FINAL_RADIUS_KM


@dataclass(frozen=True)
class PushTarget:
    """One police unit to receive the alert now, and how far its area lies from the place."""

    unit: str
    distance_km: float
    located_by: str


@dataclass(frozen=True)
class PushPlan:
    """What one sweep does for one alert: the radius now, whom to push to, and why not more."""

    alert_id: str
    radius_km: int | None
    targets: tuple[PushTarget, ...]
    notes: tuple[str, ...] = ()

    @property
    def settled(self) -> bool:
        """Nothing more will come of this alert unless it changes: not pushable, or at the
        final radius with everyone in range told."""
        return self.radius_km is None or self.radius_km >= FINAL_RADIUS_KM


def child_at(person: Mapping[str, Any], seen_at: datetime) -> bool | None:
    """Whether the person was under 18 when last seen; None when the alert cannot say."""
    birth = person.get("birth")
    if not isinstance(birth, Mapping):
        return None
    born = parse_day(birth.get("date"))
    if born is not None:
        return whole_years(born, seen_at.date()) < ADULT_AGE
    age_max = birth.get("age_max")
    if isinstance(age_max, int):
        assessed = parse_day(birth.get("age_assessed_on")) or seen_at.date()
        return age_max + max(0, seen_at.year - assessed.year) < ADULT_AGE
    return None


def why_not_pushed(alert: Mapping[str, Any]) -> str | None:
    """None when the alert is an urgent child alert with a place and time; else the reason."""
    if alert.get("urgency") not in PUSHED_URGENCIES:
        return f"urgency {alert.get('urgency')}: only URGENT and IMMEDIATE alerts are pushed"
    seen_at = parse_time(alert.get("last_seen_at"))
    if seen_at is None:
        return "no time last seen"
    place = alert.get("last_seen_place")
    if not isinstance(place, Mapping) or not place.get("area_code"):
        return "no area code for the place last seen"
    person = alert.get("person")
    child = child_at(person, seen_at) if isinstance(person, Mapping) else None
    if child is None:
        return "age unknown: only children are pushed"
    if not child:
        return "not a child when last seen"
    return None


def plan_push(
    alert_id: str,
    alert: Mapping[str, Any],
    issued_by: str | None,
    registered: Mapping[str, str | None],
    already_told: Sequence[str],
    now: datetime,
    areas: AreaCoordinates,
) -> PushPlan:
    """Whom to push the alert to now; `registered` maps participant ids to jurisdictions."""
    reason = why_not_pushed(alert)
    if reason is not None:
        return PushPlan(alert_id, None, (), (reason,))
    seen_at = parse_time(alert["last_seen_at"])
    assert seen_at is not None  # why_not_pushed checked it
    code = str(alert["last_seen_place"]["area_code"])
    origin = areas.place(code)
    if origin is None:
        return PushPlan(alert_id, None, (), (f"area code {code} is not in the coordinates table",))
    radius = push_radius_km(now - seen_at)
    told = set(already_told)
    targets: list[PushTarget] = []
    notes: list[str] = []
    for unit, jurisdiction in sorted(registered.items()):
        if unit == issued_by or unit in told or not unit.endswith(f"-{POLICE}"):
            continue
        area = jurisdiction or unit.split("-", 1)[0]
        if covers(area, code):
            targets.append(PushTarget(unit, 0.0, area))
            continue
        seat = areas.place(area) if area.isdigit() and len(area) == 6 else None
        if seat is None:
            notes.append(f"{unit}: jurisdiction {area!r} has no known position")
            continue
        distance = great_circle_km(origin, seat)
        if distance <= radius:
            targets.append(PushTarget(unit, round(distance, 1), seat.located_by))
    targets.sort(key=lambda t: (t.distance_km, t.unit))
    return PushPlan(alert_id, radius, tuple(targets), tuple(notes))


def push_notification_id(alert_id: str, unit: str) -> str:
    """One push per alert and unit, whatever sweep sends it."""
    return str(uuid.uuid5(_NAMESPACE, f"{alert_id}\x1f{unit}"))


def push_notification(
    alert_id: str, alert: Mapping[str, Any], issued_by: str | None, target: PushTarget,
    radius_km: int,
) -> dict[str, Any]:
    """The JSON body of one push (signed and sent by processors.push_stage)."""
    raw_person = alert.get("person")
    person: Mapping[str, Any] = raw_person if isinstance(raw_person, Mapping) else {}
    place = alert.get("last_seen_place") or {}
    return {
        "notification_id": push_notification_id(alert_id, target.unit),
        "kind": "ALERT_PUSH",
        "recipient": target.unit,
        "alert_id": alert_id,
        "alert_issued_by": issued_by,
        "urgency": alert.get("urgency"),
        "distance_km": target.distance_km,
        "radius_km": radius_km,
        "last_seen_place": {"area_code": place.get("area_code"), "text": place.get("text")},
        "last_seen_at": alert.get("last_seen_at"),
        "person": {k: person[k] for k in _LOOKOUT_FIELDS if person.get(k) not in (None, [], "")},
        "action_on_hit": alert.get("action_on_hit"),
    }
