"""What a report is computed from: one small fact per alert, hit, rescued person and tip.

The adapter (processors.pg_reports) reads them from the projections; everything after that is
pure, so a unit test can feed facts it made itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hub.dates import whole_years

# Case types as the joint office counts them, and the alert's case_type symbols in each.
CASE_TYPES: tuple[str, ...] = ("trafficking", "runaway", "lost", "other")
CASE_TYPE_LABELS: dict[str, str] = {
    "trafficking": "疑似拐卖 suspected trafficking",
    "runaway": "离家出走 runaway",
    "lost": "走失 lost",
    "other": "其他 other",
}
_CASE_TYPE_OF: dict[str, str] = {
    "SUSPECTED_TRAFFICKING": "trafficking",
    "ABDUCTION": "trafficking",
    "RUNAWAY": "runaway",
    "LOST": "lost",
}
GROUPS: tuple[str, ...] = ("woman", "child", "unknown")
GROUP_LABELS: dict[str, str] = {
    "woman": "妇女 women",
    "child": "儿童 children",
    "unknown": "其他或年龄不明 other / age unknown",
}
# Alert outcomes that count as "closed as found"; a cancelled alert found nobody.
FOUND_OUTCOMES = frozenset({"FOUND_ALIVE", "FOUND_DECEASED", "RETURNED_HOME"})
# Placements that stand in for a guardian (DOMAIN.md: welfare institution or foster family).
GUARDIAN_PLACEMENTS = frozenset({"WELFARE_INSTITUTION", "FOSTER_FAMILY"})
ASSISTANCE_KINDS: tuple[str, ...] = (
    "MEDICAL",
    "PSYCHOLOGICAL",
    "LEGAL",
    "SCHOOLING",
    "VOCATIONAL_TRAINING",
    "LIVING_SUPPORT",
    "OTHER",
)
ASSISTANCE_LABELS: dict[str, str] = {
    "MEDICAL": "医疗 medical",
    "PSYCHOLOGICAL": "心理 psychological",
    "LEGAL": "法律 legal",
    "SCHOOLING": "就学 schooling",
    "VOCATIONAL_TRAINING": "职业培训 training",
    "LIVING_SUPPORT": "生活救助 living aid",
    "OTHER": "其他 other",
}


def case_type_of(symbol: str | None) -> str:
    """The report's case type of an alert's case_type symbol (UNKNOWN and anything new: other)."""
    return _CASE_TYPE_OF.get(symbol or "", "other")


def province_of(unit: str | None) -> str:
    """The GB/T 2260 province code of a participant id or area code ('510104' -> '510000')."""
    if not unit or len(unit) < 2 or not unit[:2].isdigit():
        return "unknown"
    return unit[:2] + "0000"


def _age_on(birth: Mapping[str, Any] | None, on: dt.date) -> tuple[int, int] | None:
    """The youngest and oldest age the birth record allows on a day, or None when unknown."""
    if not birth:
        return None
    day = birth.get("date")
    if day:
        born = dt.date.fromisoformat(str(day)[:10])
        precision = birth.get("precision")
        # A YEAR or MONTH date is the first day of the period: the person may be younger.
        latest = born
        if precision == "YEAR":
            latest = dt.date(born.year, 12, 31)
        elif precision == "MONTH":
            latest = (born.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return whole_years(latest, on), whole_years(born, on)
    low, high = birth.get("age_min"), birth.get("age_max")
    if low is None and high is None:
        return None
    assessed = birth.get("age_assessed_on")
    drift = 0
    if assessed:
        drift = max(0, whole_years(dt.date.fromisoformat(str(assessed)[:10]), on))
    low_n = int(low if low is not None else high or 0) + drift
    high_n = int(high if high is not None else low or 0) + drift
    return low_n, high_n


def person_group(person: Mapping[str, Any] | None, on: dt.date) -> str:
    """'child' when under 18 on that day, 'woman' for a female adult, 'unknown' otherwise.

    An age range straddling 18 is a child only if its oldest bound is under 18: a report must
    not count as a child someone who may be an adult, nor the reverse.
    """
    person = person or {}
    ages = _age_on(person.get("birth"), on)
    if ages is None:
        return "unknown"
    youngest, oldest = ages
    if oldest < 18:
        return "child"
    if youngest >= 18 and person.get("sex") == "FEMALE":
        return "woman"
    return "unknown"


@dataclass(frozen=True)
class Period:
    """Days from first to last, both included (UTC)."""

    first: dt.date
    last: dt.date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(
                f"a period ends on or after its start, not {self.first} to {self.last}"
            )

    def holds(self, moment: dt.datetime | dt.date | None) -> bool:
        if moment is None:
            return False
        day = moment.astimezone(dt.UTC).date() if isinstance(moment, dt.datetime) else moment
        return self.first <= day <= self.last

    def by_end(self, moment: dt.datetime | dt.date | None) -> bool:
        """Whether something happened no later than the period's last day."""
        if moment is None:
            return False
        day = moment.astimezone(dt.UTC).date() if isinstance(moment, dt.datetime) else moment
        return day <= self.last

    def months(self) -> list[str]:
        out, year, month = [], self.first.year, self.first.month
        while (year, month) <= (self.last.year, self.last.month):
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out

    def text(self) -> str:
        return f"{self.first.isoformat()} to {self.last.isoformat()}"


@dataclass(frozen=True)
class AlertFact:
    """One missing-person alert: where and when it was reported, and how it ended."""
    alert_id: str
    province: str
    case_type: str  # one of CASE_TYPES
    group: str  # one of GROUPS
    reported_at: dt.datetime
    outcome: str | None = None
    closed_at: dt.datetime | None = None


@dataclass(frozen=True)
class HitFact:
    """One match on an alert: when it was found, whether it was notified, when it was confirmed."""
    match_id: str
    alert_id: str
    found_at: dt.datetime
    notified: bool
    counterpart_kind: str | None = None
    counterpart_id: str | None = None
    confirmed_at: dt.datetime | None = None  # the first CONFIRMED decision


@dataclass(frozen=True)
class FollowUpFact:
    """One follow-up of a rescued person: the assistance, reunion and placement it records."""
    on: dt.date
    assistance: frozenset[str] = frozenset()
    family_reunion: str | None = None
    placement_kind: str | None = None


@dataclass(frozen=True)
class RescueFact:
    """One rescue notice with its placement and the follow-ups published since."""
    rescue_id: str
    province: str
    group: str
    rescued_at: dt.datetime
    placement_kind: str | None = None  # the notice's own placement
    follow_ups: tuple[FollowUpFact, ...] = ()


@dataclass(frozen=True)
class TipFact:
    """One tip from the public and whether the hub forwarded it to police."""
    tip_id: str
    province: str
    received_at: dt.datetime
    forwarded: bool


@dataclass(frozen=True)
class ExchangeFacts:
    """Per-day counts from the event store and the quarantine, and notification delays."""

    events: Mapping[tuple[str, dt.date], int] = field(default_factory=dict)  # (publisher, day)
    # (reason, publisher or "unknown", day)
    rejected: Mapping[tuple[str, str, dt.date], int] = field(default_factory=dict)
    delays: tuple[tuple[dt.date, float], ...] = ()  # (day of the hit, seconds)
    # Acknowledgements owed by a notified unit that were not made by their reply deadline
    # (made late, or not at all by the time the report is made): (unit, day due) -> hits.
    overdue: Mapping[tuple[str, dt.date], int] = field(default_factory=dict)


@dataclass(frozen=True)
class Facts:
    """Everything a report counts, read from the projections; no personal data."""
    alerts: tuple[AlertFact, ...] = ()
    hits: tuple[HitFact, ...] = ()
    rescues: tuple[RescueFact, ...] = ()
    tips: tuple[TipFact, ...] = ()
    exchange: ExchangeFacts = field(default_factory=ExchangeFacts)
