"""Per-person features computed once (pinyin, birth interval, tokens) so pairs compare fast."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hub.matching import idnumber
from hub.matching.facts import DnaOrigin, NameKind, PersonFacts, Sex, SourceKind, StrProfile
from hub.matching.kinship import normalise_profile
from hub.matching.marks import mark_tokens
from hub.matching.names import (
    clean_name,
    fuzzy_pinyin,
    is_han,
    latin_key,
    latin_tokens,
    pinyin,
    split_han_name,
    surname_pinyin,
)


@dataclass(frozen=True, slots=True)
class NameForms:
    """One name in the forms it is compared by."""

    text: str
    han: bool
    surname: str
    given: str
    surname_py: str
    given_py: str
    given_fuzzy: str
    full_py: str
    # Latin script, part by part in written order: family name, first given name, middle names.
    # `one_word`: a single word whose part is unknown (a name or a surname), compared apart.
    family: str = ""
    first: str = ""
    middle: tuple[str, ...] = ()
    one_word: bool = False


def name_forms(
    raw: str | None,
    surname: str | None = None,
    given: str | None = None,
    kind: NameKind = NameKind.FULL,
    family_name: str | None = None,
    given_names: str | None = None,
) -> NameForms | None:
    """All comparison forms of a name; an explicit surname/given split wins over the guess.

    A name recorded as a given name only has no surname (it is never split into one).
    """
    text = clean_name(raw)
    if text is None and (family_name or given_names):
        text = clean_name(" ".join(p for p in (given_names, family_name) if p))
    if text is None:
        return None
    if is_han(text):
        if kind is NameKind.GIVEN_ONLY:
            sur, giv = "", text
        elif surname and given is not None:
            sur, giv = surname, given
        else:
            sur, giv = split_han_name(text)
        return NameForms(
            text=text,
            han=True,
            surname=sur,
            given=giv,
            surname_py=surname_pinyin(sur) if sur else "",
            given_py=pinyin(giv) if giv else "",
            given_fuzzy=fuzzy_pinyin(giv) if giv else "",
            full_py=(surname_pinyin(sur) if sur else "") + (pinyin(giv) if giv else ""),
        )
    key = latin_key(text)
    family, first, middle, one_word = _latin_parts(text, kind, family_name, given_names)
    return NameForms(
        text, False, "", key, "", key, key, key.replace(" ", ""), family, first, middle, one_word
    )


def _latin_parts(
    text: str, kind: NameKind, family_name: str | None, given_names: str | None
) -> tuple[str, str, tuple[str, ...], bool]:
    """Family, first given, middle names: from the document's parts, else by written order."""
    if family_name is not None or given_names is not None:
        # Parts as the document gives them; a missing part stays unknown, not guessed.
        given = latin_tokens(given_names or "")
        return (
            " ".join(latin_tokens(family_name or "")),
            given[0] if given else "",
            tuple(given[1:]),
            False,
        )
    tokens = latin_tokens(text)
    if not tokens:
        return "", "", (), False
    if kind is NameKind.GIVEN_ONLY:
        return "", tokens[0], tuple(tokens[1:]), False
    if len(tokens) == 1:
        return "", "", (), True
    # Written order "given [middle ...] family", the order of the documents this reads.
    return tokens[-1], tokens[0], tuple(tokens[1:-1]), False


@dataclass(frozen=True, slots=True)
class Features:
    """What the comparison functions read; built by `prepare`."""

    facts: PersonFacts
    name: NameForms | None
    aliases: tuple[NameForms, ...]
    foreign_documents: frozenset[str]
    address: str | None
    id_number: str | None
    id_parsed: idnumber.ParsedId | None
    sex: Sex
    birth_lo: int | None
    birth_hi: int | None
    # A day-precise birth date as YYYYMMDD digits (for typing errors), else "".
    birth_digits: str
    id_birth_conflict: bool
    home_province: str | None
    provinces: frozenset[str]
    marks: frozenset[str]
    profile: StrProfile
    father: StrProfile
    mother: StrProfile
    missing_as_child: bool
    dna_origin: DnaOrigin | None = None
    parents_dna_origin: DnaOrigin | None = None


def province_of(area: str | None) -> str | None:
    """The province code ("320000") of any 6-digit area code, None if it is not one."""
    if area is None:
        return None
    code = area.strip()[:6]
    if len(code) < 2 or not code[:2].isdigit():
        return None
    return code[:2] + "0000"


def prepare(facts: PersonFacts) -> Features:
    """Compute every comparison form of a person once."""
    name = name_forms(
        facts.name,
        facts.surname,
        facts.given_name,
        facts.name_kind,
        facts.family_name,
        facts.given_names,
    )
    aliases = tuple(f for f in (name_forms(n) for n in facts.other_names) if f is not None)
    number = idnumber.normalise(facts.id_number)
    parsed = idnumber.parse(number) if number else None
    interval = facts.birth.interval(facts.observed_at) if facts.birth else None
    id_birth = parsed.birth if parsed else None
    conflict = False
    if interval is None and id_birth is not None:
        interval = (id_birth, id_birth)
    elif interval is not None and id_birth is not None:
        conflict = (
            not interval[0] - dt.timedelta(days=1) <= id_birth <= interval[1] + dt.timedelta(days=1)
        )
    sex = facts.sex
    if sex is Sex.UNKNOWN and parsed is not None:
        sex = parsed.sex
    home = province_of(facts.home_province) or (province_of(parsed.area) if parsed else None)
    provinces = {p for p in (province_of(a) for a in facts.seen_provinces) if p}
    if home:
        provinces.add(home)
    return Features(
        facts=facts,
        name=name,
        aliases=aliases,
        foreign_documents=frozenset(facts.foreign_documents),
        address=address_key(facts.address_text),
        id_number=number,
        id_parsed=parsed,
        sex=sex,
        birth_lo=interval[0].toordinal() if interval else None,
        birth_digits=interval[0].strftime("%Y%m%d") if interval and interval[0] == interval[1]
        else "",
        birth_hi=interval[1].toordinal() if interval else None,
        id_birth_conflict=conflict,
        home_province=home,
        provinces=frozenset(provinces),
        marks=mark_tokens(facts.marks),
        profile=normalise_profile(facts.str_profile),
        father=normalise_profile(facts.father_profile),
        mother=normalise_profile(facts.mother_profile),
        missing_as_child=_missing_as_child(facts, interval),
        dna_origin=facts.dna_origin,
        parents_dna_origin=facts.parents_dna_origin,
    )


def address_key(text: str | None) -> str | None:
    """An address as lower-case ASCII words in written order, for text comparison."""
    if not text:
        return None
    return " ".join(latin_tokens(text)) or None


# Someone missing before this age is compared on the children's name fields.
CHILD_AGE = 14


def _missing_as_child(facts: PersonFacts, interval: tuple[dt.date, dt.date] | None) -> bool:
    """An alert for someone young when last seen: the person whose name may have been changed."""
    if facts.source is not SourceKind.ALERT or interval is None or facts.observed_at is None:
        return False
    return (facts.observed_at - interval[1]).days < CHILD_AGE * 365.25
