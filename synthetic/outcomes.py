"""What happened after the generated documents: alerts closed, rescued persons followed up
(assistance, placement, reunion) and tips from the public. Pure, seeded, no I/O.

Drawn from a random source of its own, so the documents (and the matching labels) of a seed stay
exactly what they were without these outcomes.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from hub.matching.labelled import Payload, latest_records
from synthetic.generator import Dataset, today

_ASSISTANCE = ("MEDICAL", "PSYCHOLOGICAL", "LEGAL", "SCHOOLING", "VOCATIONAL_TRAINING",
               "LIVING_SUPPORT")


@dataclass
class Outcomes:
    """What happened after the data set's alerts and rescues: closures, follow-ups, tips."""
    closures: list[Payload] = field(default_factory=list)  # alert-closed
    follow_ups: list[Payload] = field(default_factory=list)  # case-follow-up
    tips: list[Payload] = field(default_factory=list)  # tip-report


def _instant(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    moment = dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _cap(moment: dt.datetime) -> dt.datetime:
    end = dt.datetime(today().year, today().month, today().day, 12, tzinfo=dt.UTC)
    return min(moment, end)


def _found_on(data: Dataset) -> dict[str, dt.datetime]:
    """When each labelled alert's person turned up (rescued, or registered as a migrant)."""
    rescued = {r["rescue_id"]: _instant(r["rescued_at"]) for r in data.rescues}
    registered = {
        r["record_id"]: _instant(f"{r.get('moved_in_on') or r.get('registered_on')}T09:00:00")
        for r in latest_records(data.records)  # the registration that lists the child
        if r.get("moved_in_on") or r.get("registered_on")
    }
    out = {}
    for alert_id, other, _ in data.labels:
        moment = rescued.get(other) or registered.get(other)
        if moment is not None:
            out[alert_id] = moment
    return out


def outcomes(data: Dataset, seed: int) -> Outcomes:
    """Closures, follow-ups and tips for a generated data set."""
    rng = random.Random(f"outcomes-{seed}")
    out = Outcomes()
    found = _found_on(data)
    for alert in data.alerts:
        reported = _instant(alert["reported_at"])
        kind = alert.get("case_type")
        when: dt.datetime | None = None
        outcome = "FOUND_ALIVE"
        if alert["alert_id"] in found and rng.random() < 0.7:
            when = max(found[alert["alert_id"]], reported) + dt.timedelta(days=rng.randint(1, 30))
        elif kind in ("RUNAWAY", "LOST") and rng.random() < 0.8:
            when, outcome = reported + dt.timedelta(days=rng.randint(1, 60)), "RETURNED_HOME"
        elif rng.random() < 0.06:
            when, outcome = reported + dt.timedelta(days=rng.randint(5, 90)), "CANCELLED_OTHER"
        if when is not None:
            out.closures.append({
                "alert_id": alert["alert_id"],
                "outcome": outcome,
                "found_place": None,
                "found_at": _cap(when),
                "match_id": None,
                "note": "",
                "issuing_unit": alert["issuing_unit"],
            })
        if rng.random() < 0.2:
            out.tips.append(_tip(rng, len(out.tips), alert, reported, related=True))
    for _ in range(len(data.alerts) // 5):
        alert = rng.choice(data.alerts)
        out.tips.append(_tip(rng, len(out.tips), alert, _instant(alert["reported_at"]), False))
    labelled = {other for _, other, _ in data.labels}
    for rescue in data.rescues:
        out.follow_ups += _follow_ups(rng, rescue, rescue["rescue_id"] in labelled)
    return out


def _tip(rng: random.Random, n: int, alert: Payload, reported: dt.datetime,
         related: bool) -> Payload:
    return {
        "tip_id": f"T-{alert['alert_id']}-{n}",
        "received_at": _cap(reported + dt.timedelta(days=rng.randint(1, 40), hours=3)),
        "channel": rng.choice(("PHONE", "ONLINE", "IN_PERSON")),
        "text": "群众反映见到疑似走失人员",
        "place": alert.get("last_seen_place"),
        "seen_at": None,
        "related_alert_id": alert["alert_id"] if related else None,
        "subject": None,
        "anonymous": True,
        "tipster_contact": None,
        "issuing_unit": alert["issuing_unit"],
        "language": None,
    }


def _follow_ups(rng: random.Random, rescue: Payload, has_family: bool) -> list[Payload]:
    rescued = _instant(rescue["rescued_at"]).date()
    child = rescue["placement"]["kind"] == "WELFARE_INSTITUTION" and rng.random() < 0.8
    steps = rng.choice((0, 1, 1, 2, 3))
    if has_family:
        last = "REUNITED" if rng.random() < 0.75 else "FAMILY_FOUND"
    elif child and rng.random() < 0.45:
        last = "NOT_POSSIBLE"
    else:
        last = "SEARCHING"
    out = []
    for k in range(steps):
        on = min(rescued + dt.timedelta(days=30 * (k + 1)), today())
        final = k == steps - 1
        reunion = last if final else "SEARCHING"
        placement = None
        if final and reunion == "REUNITED":
            placement = {"kind": "RETURNED_TO_FAMILY", "institution": "家庭",
                         "area_code": rescue["placement"]["area_code"], "contact": None,
                         "since": on}
        elif final and reunion == "NOT_POSSIBLE" and rng.random() < 0.85:
            placement = {"kind": rng.choice(("WELFARE_INSTITUTION", "FOSTER_FAMILY")),
                         "institution": "儿童福利院", "area_code": rescue["placement"]["area_code"],
                         "contact": None, "since": on}
        kinds = rng.sample(_ASSISTANCE, rng.choice((0, 1, 1, 2, 3)))
        out.append({
            "rescue_id": rescue["rescue_id"],
            "follow_up_id": f"{rescue['rescue_id']}-F{k + 1}",
            "followed_up_on": on,
            "placement": placement,
            "assistance": kinds,
            "family_reunion": reunion,
            "status": "CLOSED" if final and reunion == "REUNITED" else "IN_PROGRESS",
            "note": "",
            "issuing_unit": rescue["issuing_unit"],
        })
    return out
