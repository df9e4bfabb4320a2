"""Small builders of PersonFacts for the matching tests."""

from __future__ import annotations

import datetime as dt
import itertools

from hub.matching.facts import (
    BirthInfo,
    DatePrecision,
    PersonFacts,
    PersonRef,
    Sex,
    SourceKind,
    StrProfile,
)

_ids = itertools.count(1)


def person(
    source: SourceKind = SourceKind.RECORD,
    name: str | None = None,
    sex: Sex = Sex.FEMALE,
    born: dt.date | None = None,
    ages: tuple[int, int] | None = None,
    observed: dt.date = dt.date(2020, 6, 1),
    id_number: str | None = None,
    province: str | None = None,
    seen: tuple[str, ...] = (),
    other_names: tuple[str, ...] = (),
    marks: str | None = None,
    child_index: int | None = None,
    profile: StrProfile | None = None,
    father: StrProfile | None = None,
    mother: StrProfile | None = None,
    precision: DatePrecision = DatePrecision.DAY,
) -> PersonFacts:
    """A person with only the given facts; everything else missing."""
    birth = None
    if ages is not None:
        birth = BirthInfo(DatePrecision.AGE_RANGE, None, ages[0], ages[1])
    elif born is not None:
        birth = BirthInfo(precision, born)
    n = next(_ids)
    prefix = {SourceKind.ALERT: "A", SourceKind.RECORD: "R", SourceKind.RESCUE: "S"}[source]
    return PersonFacts(
        ref=PersonRef(source, f"ev-{n}", f"{prefix}-{n}", child_index),
        name=name,
        other_names=other_names,
        sex=sex,
        birth=birth,
        observed_at=observed,
        id_number=id_number,
        home_province=province,
        seen_provinces=seen,
        marks=marks,
        str_profile=profile,
        father_profile=father,
        mother_profile=mother,
    )
