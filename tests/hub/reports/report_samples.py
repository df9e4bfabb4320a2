"""Generated events with known outcomes for the report tests, and the truth they were made from.

The truth is kept as plain records (province, case type, group, what happened and when), so a
test can count each figure from it with a loop of its own, not through the report's code.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from hub.store import EventRecord

PROVINCES = ("510000", "520000", "530000")
SYMBOLS = {
    "trafficking": ("SUSPECTED_TRAFFICKING", "ABDUCTION"),
    "runaway": ("RUNAWAY",),
    "lost": ("LOST",),
    "other": ("UNKNOWN",),
}
ASSIST = ("MEDICAL", "PSYCHOLOGICAL", "LEGAL", "VOCATIONAL_TRAINING")
BASELINE = (dt.date(2020, 1, 1), dt.date(2020, 12, 31))
CURRENT = (dt.date(2024, 1, 1), dt.date(2024, 12, 31))
# A planted cell: exactly three rescued children in Guangxi in the current period.
SMALL_PROVINCE = "450000"


@dataclass
class TrueAlert:
    alert_id: str
    province: str
    case_type: str
    group: str
    reported: dt.datetime
    found_at: dt.datetime | None = None
    hits: list[tuple[dt.datetime, dt.datetime | None]] = field(default_factory=list)


@dataclass
class TrueRescue:
    rescue_id: str
    province: str
    group: str
    rescued: dt.datetime
    assistance: set[str] = field(default_factory=set)
    reunited: bool = False
    no_guardian: bool = False
    placed: bool = False


@dataclass
class Truth:
    alerts: list[TrueAlert] = field(default_factory=list)
    rescues: list[TrueRescue] = field(default_factory=list)
    tips: list[tuple[str, dt.datetime, bool]] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)


def _at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.UTC)


class _Maker:
    def __init__(self, truth: Truth) -> None:
        self.truth = truth
        self.sequence = 0

    def event(self, event_type: str, publisher: str, at: dt.datetime, body: dict[str, Any]) -> str:
        self.sequence += 1
        event_id = str(uuid.uuid4())
        self.truth.events.append(
            EventRecord(event_id, event_type, 1, "ab" * 32, publisher, "0f" * 16, self.sequence,
                        at, at, b"p", b"s" * 64, b"w", body)
        )
        return event_id


def _person(rng: random.Random, group: str, on: dt.date) -> dict[str, Any]:
    if group == "child":
        age, sex = rng.randint(1, 15), rng.choice(("MALE", "FEMALE"))
        birth = {"precision": "DAY", "date": (on - dt.timedelta(days=365 * age + 40)).isoformat()}
    elif group == "woman":
        age, sex = rng.randint(19, 40), "FEMALE"
        birth = {"precision": "AGE_RANGE", "date": None, "age_min": age, "age_max": age + 2,
                 "age_assessed_on": on.isoformat()}
    else:
        sex, birth = "MALE", {"precision": "UNKNOWN", "date": None}
    return {"name": "某某", "sex": sex, "birth": birth}


def _day_in(rng: random.Random, period: tuple[dt.date, dt.date]) -> dt.date:
    return dt.date.fromordinal(rng.randint(period[0].toordinal(), period[1].toordinal()))


def generate(seed: int = 15, alerts: int = 160, rescues: int = 70, tips: int = 40) -> Truth:
    """Alerts, closures, hits, decisions, rescues, follow-ups and tips in two periods."""
    rng = random.Random(seed)
    truth = Truth()
    make = _Maker(truth)
    rescue_events: list[tuple[str, str, str]] = []  # (rescue id, event id, province)
    for n in range(rescues):
        period = BASELINE if n % 3 == 0 else CURRENT
        province = rng.choice(PROVINCES)
        group = rng.choice(("child", "child", "woman", "unknown"))
        day = _day_in(rng, period)
        _rescue(rng, make, f"S-{n}", province, group, day, period, rescue_events)
    for n in range(3):  # the planted small cell
        _rescue(rng, make, f"S-small-{n}", SMALL_PROVINCE, "child", _day_in(rng, CURRENT),
                CURRENT, rescue_events)
    for n in range(alerts):
        period = BASELINE if n % 2 == 0 else CURRENT
        province = rng.choice(PROVINCES)
        case_type = rng.choice(("trafficking", "trafficking", "runaway", "lost", "other"))
        group = rng.choice(("child", "woman", "unknown"))
        reported = _at(_day_in(rng, period), 8)
        alert = TrueAlert(f"A-{n}", province, case_type, group, reported)
        police = f"{province}-police"
        alert_event = make.event("missing-person-alert", police, reported, {
            "alert_id": alert.alert_id,
            "case_type": rng.choice(SYMBOLS[case_type]),
            "person": _person(rng, group, reported.date()),
            "last_seen_place": {"area_code": province[:4] + "01", "text": ""},
            "last_seen_at": (reported - dt.timedelta(hours=20)).isoformat(),
            "reported_at": reported.isoformat(),
            "issuing_unit": police,
            "jurisdiction": province,
            "reason": "MISSING_MINOR", "urgency": "URGENT", "action_on_hit": "OTHER",
        })
        for _ in range(rng.choice((0, 0, 1, 1, 2))):
            found = reported + dt.timedelta(days=rng.choice((0.5, 3, 12, 45, 200)))
            confirmed = found + dt.timedelta(days=2) if rng.random() < 0.5 else None
            rescue_id, rescue_event, _ = rng.choice(rescue_events)
            match_id = str(uuid.uuid4())
            make.event("match-found", "hub-operator", found, {
                "match_id": match_id, "alert_id": alert.alert_id, "alert_event_id": alert_event,
                "counterpart_kind": "MIGRANT_RECORD", "counterpart_id": rescue_id,
                "counterpart_event_id": rescue_event, "score": 12.0, "explanation": ["x"],
                "recipients": [police],
            })
            if confirmed is not None:
                make.event("match-decision", police, confirmed, {
                    "match_id": match_id, "alert_id": alert.alert_id, "decision": "CONFIRMED",
                    "note": "", "deciding_unit": police, "decided_at": confirmed.isoformat(),
                })
            alert.hits.append((found, confirmed))
        if rng.random() < 0.55:
            closed = reported + dt.timedelta(days=rng.randint(1, 300))
            outcome = rng.choice(("FOUND_ALIVE", "RETURNED_HOME", "CANCELLED_FALSE_REPORT"))
            make.event("alert-closed", police, closed, {
                "alert_id": alert.alert_id, "outcome": outcome, "found_at": closed.isoformat(),
                "note": "", "issuing_unit": police,
            })
            if outcome != "CANCELLED_FALSE_REPORT":
                alert.found_at = closed
        truth.alerts.append(alert)
    for n in range(tips):
        province = rng.choice(PROVINCES)
        received = _at(_day_in(rng, BASELINE if n % 2 else CURRENT))
        forwarded = rng.random() < 0.4
        make.event("tip-report", f"{province}-police", received, {
            "tip_id": f"T-{n}", "received_at": received.isoformat(), "channel": "PHONE",
            "text": "", "related_alert_id": "A-1" if forwarded else None,
            "place": {"area_code": province[:4] + "01", "text": ""},
        })
        truth.tips.append((province, received, forwarded))
    rng.shuffle(truth.events)  # arrival order must not matter
    return truth


def _rescue(rng: random.Random, make: _Maker, rescue_id: str, province: str, group: str,
            day: dt.date, period: tuple[dt.date, dt.date],
            rescue_events: list[tuple[str, str, str]]) -> None:
    unit = f"{province}-civil-affairs"
    rescued = _at(day, 9)
    truth = TrueRescue(rescue_id, province, group, rescued)
    event_id = make.event("rescue-notice", unit, rescued, {
        "rescue_id": rescue_id,
        "person": _person(rng, group, day),
        "rescued_at": rescued.isoformat(),
        "rescue_place": {"area_code": province[:4] + "02", "text": ""},
        "placement": {"kind": "RESCUE_STATION", "institution": "救助站",
                      "area_code": province, "since": day.isoformat()},
        "str_profile": None,
        "issuing_unit": unit,
    })
    rescue_events.append((rescue_id, event_id, province))
    steps = rng.randint(0, 3)
    for k in range(steps):
        on = day + dt.timedelta(days=10 * (k + 1))
        inside = on <= period[1]
        assistance = rng.sample(ASSIST, rng.randint(0, 2))
        last = k == steps - 1
        reunion = rng.choice(("SEARCHING", "REUNITED", "NOT_POSSIBLE")) if last else "SEARCHING"
        placement = None
        if reunion == "NOT_POSSIBLE" and rng.random() < 0.7:
            placement = {"kind": "WELFARE_INSTITUTION", "institution": "福利院",
                         "area_code": province, "since": on.isoformat()}
        make.event("case-follow-up", unit, _at(on), {
            "rescue_id": rescue_id, "follow_up_id": f"{rescue_id}-F{k}",
            "followed_up_on": on.isoformat(), "placement": placement,
            "assistance": assistance, "family_reunion": reunion, "status": "IN_PROGRESS",
            "note": "", "issuing_unit": unit,
        })
        if not inside:
            continue  # after the period's end: must not count
        truth.assistance |= set(assistance)
        truth.reunited |= reunion == "REUNITED"
        if last and group == "child" and reunion == "NOT_POSSIBLE":
            truth.no_guardian = True
            truth.placed = placement is not None
    make.truth.rescues.append(truth)
