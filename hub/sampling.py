"""DNA-sampling requests for children of unknown origin in migrant households (来历不明儿童).

Police sample a child for the anti-trafficking DNA database when its origin does not fit
(DOMAIN.md): no identity number, a guardian who is not a parent, or a child who turns up in a
household only after a child of that age and sex went missing elsewhere. The sample, not the
name, finds a renamed child, so the hub asks for one when a migrant record lists a child that

- fits an open alert on sex and age (birth years a year apart at most), and was not listed in
  that household before the disappearance (then it cannot be that child), and
- has at least one reason of :class:`SamplingReason`.

The rule runs both ways: when a record arrives (its children against the open alerts) and when
an alert arrives or changes (`child_fits`: the children already listed against it), so an alert
published after the household's record asks for the child too. One request per child and
household, never repeated: a household's children are told apart by
sex and birth years (a renamed child keeps both), so a record published again, or re-registered
with a new name for the child, asks for nothing new. Pure functions; the match stage's
adapter (processors.sampling_stage) keeps the households and sends.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from hub.dates import parse_day, parse_time
from hub.tips import AGE_TOLERANCE_YEARS, age_range_on

__all__ = [
    "ListedChild",
    "OpenAlert",
    "SamplingReason",
    "SamplingRequest",
    "birth_years",
    "child_fits",
    "entry_listing",
    "first_listed",
    "fitting_alerts",
    "listed_child",
    "listing_day",
    "open_alert",
    "request_id_for",
    "sampling_notification",
    "sampling_request",
]

# The guardian is the child's parent: the child is the household's son or daughter.
_PARENTS = frozenset({"MOTHER", "FATHER"})
_SEXES = frozenset({"MALE", "FEMALE"})
_NAMESPACE = uuid.UUID("5d0c7a3e-2b41-5f8e-9a6d-31c4e8b0f2a7")
MAX_ALERTS_NAMED = 20  # a request names the alerts it fits, heaviest evidence first, this many


class SamplingReason(enum.StrEnum):
    """Why a child's origin does not fit (GB/T 4761 relations, DOMAIN.md)."""

    NO_ID_NUMBER = "NO_ID_NUMBER"
    NOT_SON_OR_DAUGHTER = "NOT_SON_OR_DAUGHTER"
    APPEARED_AFTER_DISAPPEARANCE = "APPEARED_AFTER_DISAPPEARANCE"


@dataclass(frozen=True)
class ListedChild:
    """A child as a household's records list it: who (sex, birth years) and since when."""

    sex: str
    years: tuple[int, int]
    first_listed_on: date

    def same_child(self, sex: str, years: tuple[int, int]) -> bool:
        """The same child again: sex agrees (or is unknown) and the birth years overlap."""
        sexes_agree = "UNKNOWN" in (sex, self.sex) or sex == self.sex
        return sexes_agree and years[0] <= self.years[1] and self.years[0] <= years[1]


@dataclass(frozen=True)
class SamplingRequest:
    """One request: which child of which record, why, and the open alerts it fits."""

    request_id: str
    record_id: str
    child_index: int
    reasons: tuple[SamplingReason, ...]
    alert_ids: tuple[str, ...]  # the latest disappearances, at most MAX_ALERTS_NAMED
    alerts_fitting: int


def birth_years(person: Mapping[str, Any], on: date) -> tuple[int, int] | None:
    """The years the person may have been born in, from its birth fields; None if unknown."""
    ages = age_range_on(person, on)
    if ages is None:
        return None
    return on.year - ages[1] - 1, on.year - ages[0]


def listed_child(entry: Mapping[str, Any], on: date) -> tuple[str, tuple[int, int]] | None:
    """(sex, birth years) of an accompanying child listed on a day; None without an age."""
    child = entry.get("child")
    if not isinstance(child, Mapping):
        return None
    years = birth_years(child, on)
    return None if years is None else (str(child.get("sex") or "UNKNOWN"), years)


def request_id_for(record_id: str, sex: str, years: tuple[int, int]) -> str:
    """The same child of the same household always gets the same request id."""
    return str(uuid.uuid5(_NAMESPACE, f"{record_id}\x1f{sex}\x1f{years[0]}-{years[1]}"))


def _reasons_of(entry: Mapping[str, Any]) -> list[SamplingReason]:
    child = entry.get("child")
    reasons = []
    if not isinstance(child, Mapping) or not str(child.get("id_number") or "").strip():
        reasons.append(SamplingReason.NO_ID_NUMBER)
    if entry.get("guardian_relation") not in _PARENTS:
        reasons.append(SamplingReason.NOT_SON_OR_DAUGHTER)
    return reasons


@dataclass(frozen=True)
class OpenAlert:
    """What the rule reads of an open alert: its person's sex and birth years, and the day
    the person went missing."""

    alert_id: str
    sex: str
    years: tuple[int, int]
    lost_on: date


def open_alert(alert_id: str, body: Mapping[str, Any]) -> OpenAlert | None:
    """The rule's view of an alert (updates applied); None when it has no time or age."""
    person = body.get("person")
    lost = parse_time(body.get("last_seen_at"))
    if not isinstance(person, Mapping) or lost is None:
        return None
    reported = parse_time(body.get("reported_at")) or lost
    years = birth_years(person, reported.date())
    if years is None:
        return None
    return OpenAlert(alert_id, str(person.get("sex") or "UNKNOWN"), years, lost.date())


def fitting_alerts(
    entry: Mapping[str, Any], listed_on: date, alerts: Iterable[OpenAlert]
) -> list[OpenAlert]:
    """The open alerts the child fits on sex and birth years (an age a year off either way),
    among those that went missing before the child was first listed here."""
    seen = listed_child(entry, listed_on)
    if seen is None:
        return []
    sex, years = seen
    low, high = years[0] - AGE_TOLERANCE_YEARS, years[1] + AGE_TOLERANCE_YEARS
    return [
        a for a in alerts
        if a.lost_on <= listed_on
        and not (sex in _SEXES and a.sex in _SEXES and sex != a.sex)
        and a.years[0] <= high and low <= a.years[1]
    ]


def child_fits(alert: OpenAlert, child: ListedChild) -> bool:
    """The alert could be this child: sex and birth years fit (a year off either way), and the
    child was first listed here on or after the disappearance (the other direction of
    `fitting_alerts`, for an alert that arrives after the household's record)."""
    sex = child.sex
    low, high = child.years[0] - AGE_TOLERANCE_YEARS, child.years[1] + AGE_TOLERANCE_YEARS
    return (
        alert.lost_on <= child.first_listed_on
        and not (sex in _SEXES and alert.sex in _SEXES and sex != alert.sex)
        and alert.years[0] <= high and low <= alert.years[1]
    )


def entry_listing(
    record: Mapping[str, Any], child: ListedChild
) -> tuple[int, Mapping[str, Any]] | None:
    """(index, entry) of the record's children that lists this child; None if none does."""
    day = listing_day(record)
    if day is None:
        return None
    for index, entry in enumerate(record.get("children") or []):
        seen = listed_child(entry, day)
        if seen is not None and child.same_child(*seen):
            return index, entry
    return None


def sampling_request(
    record_id: str,
    child_index: int,
    entry: Mapping[str, Any],
    listed: ListedChild,
    household_since: date,
    alerts: Iterable[OpenAlert],
) -> SamplingRequest | None:
    """The request for one listed child, or None when it fits no open alert or its origin fits.

    `listed` is the child as the household first listed it; `household_since` the day the
    household was first registered (the child appeared after a disappearance only when the
    household was known before it without the child).
    """
    fits = fitting_alerts(entry, listed.first_listed_on, alerts)
    if not fits:
        return None
    reasons = _reasons_of(entry)
    if household_since < listed.first_listed_on and any(
        household_since <= a.lost_on for a in fits
    ):
        reasons.append(SamplingReason.APPEARED_AFTER_DISAPPEARANCE)
    if not reasons:
        return None
    # Latest disappearances first: the child's arrival is closest to them.
    named = [a.alert_id for a in sorted(fits, key=lambda a: (a.lost_on, a.alert_id),
                                        reverse=True)]
    return SamplingRequest(
        request_id_for(record_id, listed.sex, listed.years),
        record_id,
        child_index,
        tuple(reasons),
        tuple(named[:MAX_ALERTS_NAMED]),
        len(named),
    )


def sampling_notification(
    request: SamplingRequest,
    record: Mapping[str, Any],
    recipient: str,
    sampling_event_id: str,
) -> dict[str, Any]:
    """What the police of the place of residence are sent: the child to sample, where it
    lives, why, and how to answer (a dna-sample event naming the request)."""
    children: Sequence[Any] = record.get("children") or []
    entry = children[request.child_index] if request.child_index < len(children) else {}
    child = entry.get("child") if isinstance(entry, Mapping) else None
    child = child if isinstance(child, Mapping) else {}
    person = record.get("person") if isinstance(record.get("person"), Mapping) else {}
    address = record.get("current_address")
    return {
        "notification_id": str(uuid.uuid5(_NAMESPACE, f"{request.request_id}\x1f{recipient}")),
        "kind": "DNA_SAMPLING_REQUEST",
        "recipient": recipient,
        "request_id": request.request_id,
        "request_event_id": sampling_event_id,
        "record_id": request.record_id,
        "child_index": request.child_index,
        "child": {
            "name": child.get("name"),
            "sex": child.get("sex"),
            "birth": child.get("birth"),
        },
        "guardian": {
            "name": person.get("name") if isinstance(person, Mapping) else None,
            "relation": entry.get("guardian_relation") if isinstance(entry, Mapping) else None,
        },
        "address": dict(address) if isinstance(address, Mapping) else None,
        "registering_station": record.get("registering_station"),
        "reasons": [r.value for r in request.reasons],
        # References only: the alerts' contents stay with their issuing units (as in Prüm).
        "alerts_fitting": request.alerts_fitting,
        "alert_ids": list(request.alert_ids),
        "answer_with": "dna-sample naming this request_id",
    }


def first_listed(
    known: Sequence[ListedChild], sex: str, years: tuple[int, int], on: date
) -> tuple[ListedChild, bool]:
    """The child as first listed in the household, and whether this listing is its first."""
    for child in known:
        if child.same_child(sex, years):
            return child, False
    return ListedChild(sex, years, on), True


def listing_day(record: Mapping[str, Any]) -> date | None:
    """The day a record lists its children: its registration day (else the move-in day)."""
    return parse_day(record.get("registered_on")) or parse_day(record.get("moved_in_on"))
