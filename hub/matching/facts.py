"""The comparable facts of one person, from an alert, a migrant record or a rescue notice."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from hub.errors import MatchingInputError


class SourceKind(StrEnum):
    """Where a person's facts came from."""

    ALERT = "ALERT"
    RECORD = "RECORD"
    RESCUE = "RESCUE"


class Sex(StrEnum):
    """Sex as recorded; UNKNOWN compares as missing."""

    MALE = "M"
    FEMALE = "F"
    UNKNOWN = "U"


class NameKind(StrEnum):
    """What the recorded `name` is: a full name, a given name only, or a nickname."""

    FULL = "FULL"
    GIVEN_ONLY = "GIVEN_ONLY"
    NICKNAME = "NICKNAME"


class DatePrecision(StrEnum):
    """How much of a birth date is known."""

    DAY = "DAY"
    MONTH = "MONTH"
    YEAR = "YEAR"
    AGE_RANGE = "AGE_RANGE"


# A locus name mapped to the two alleles found there; alleles are strings ("9.3").
StrProfile = dict[str, tuple[str, str]]


@dataclass(frozen=True)
class DnaOrigin:
    """Who typed a profile and how: kit, lab and (schema v2) the lab's reference population."""

    kit: str | None = None
    lab: str | None = None
    population: str | None = None

    @property
    def kit_known(self) -> bool:
        return bool(self.kit) and (self.kit or "").strip().lower() not in ("unknown", "")


@dataclass(frozen=True)
class BirthInfo:
    """A birth date at some precision, or an age range stated on `observed_at`."""

    precision: DatePrecision
    date: dt.date | None = None
    min_age: int | None = None
    max_age: int | None = None

    def __post_init__(self) -> None:
        if self.precision is DatePrecision.AGE_RANGE:
            if self.min_age is None or self.max_age is None:
                raise MatchingInputError("birth: an age range needs min_age and max_age")
            if not 0 <= self.min_age <= self.max_age <= 130:
                raise MatchingInputError(
                    f"birth: age range {self.min_age}-{self.max_age} is not a valid range"
                )
        elif self.date is None:
            raise MatchingInputError(f"birth: precision {self.precision.value} needs a date")

    def interval(self, observed_at: dt.date | None) -> tuple[dt.date, dt.date] | None:
        """Earliest and latest possible birth dates, or None when they cannot be placed."""
        if self.precision is DatePrecision.DAY and self.date is not None:
            return self.date, self.date
        if self.precision is DatePrecision.MONTH and self.date is not None:
            start = self.date.replace(day=1)
            nxt = dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
            return start, nxt - dt.timedelta(days=1)
        if self.precision is DatePrecision.YEAR and self.date is not None:
            return dt.date(self.date.year, 1, 1), dt.date(self.date.year, 12, 31)
        if observed_at is None or self.min_age is None or self.max_age is None:
            return None
        # Someone aged n on the observation day was born between n+1 years and n years before it.
        earliest = _years_before(observed_at, self.max_age + 1) + dt.timedelta(days=1)
        latest = _years_before(observed_at, self.min_age)
        return earliest, latest


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year - years, day=28)


@dataclass(frozen=True)
class PersonRef:
    """Which event and which person in it: a business id plus a child index for children."""

    source: SourceKind
    event_id: str
    business_id: str
    child_index: int | None = None

    def label(self) -> str:
        """A short printable reference such as `RECORD:R-12#1`."""
        suffix = "" if self.child_index is None else f"#{self.child_index}"
        return f"{self.source.value}:{self.business_id}{suffix}"


@dataclass(frozen=True)
class PersonFacts:
    """Everything the matcher compares about one person; absent facts are None or empty."""

    ref: PersonRef
    name: str | None = None
    other_names: tuple[str, ...] = ()
    surname: str | None = None
    given_name: str | None = None
    name_kind: NameKind = NameKind.FULL
    # Latin-script names as a document writes them in parts (passport: surname, given names).
    family_name: str | None = None
    given_names: str | None = None
    # Foreign documents (passport, travel document), normalised "COUNTRY:NUMBER" or "NUMBER".
    foreign_documents: tuple[str, ...] = ()
    # Address text of places that carry no area code (foreign or unknown), compared as text.
    address_text: str | None = None
    sex: Sex = Sex.UNKNOWN
    birth: BirthInfo | None = None
    observed_at: dt.date | None = None
    id_number: str | None = None
    home_province: str | None = None
    seen_provinces: tuple[str, ...] = ()
    marks: str | None = None
    str_profile: StrProfile | None = None
    father_profile: StrProfile | None = None
    mother_profile: StrProfile | None = None
    # Kit, lab and population of the own profile and of the parents' submission.
    dna_origin: DnaOrigin | None = None
    parents_dna_origin: DnaOrigin | None = None

    @property
    def source(self) -> SourceKind:
        return self.ref.source
