"""Field-by-field comparison of two prepared persons into Fellegi-Sunter levels.

A level of None means "cannot be compared" (a fact is missing on one side) and weighs nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from rapidfuzz import fuzz

from hub.matching import idnumber
from hub.matching.facts import DnaOrigin, Sex
from hub.matching.features import Features, NameForms
from hub.matching.kinship import AlleleTable, KinshipResult, TableSet, identity, parentage
from hub.matching.names import jaro_winkler

# Field -> its levels, from strongest agreement to disagreement. The order is the contract with
# the weights file: level names are looked up there.
FIELDS: dict[str, tuple[str, ...]] = {
    "id_number": ("exact", "one_typo", "transposed", "different"),
    "surname": ("exact", "pinyin", "different"),
    "given_name": ("exact", "pinyin", "fuzzy", "different"),
    # Children go missing young and are renamed by whoever takes them: their names weigh apart.
    "child_surname": ("exact", "pinyin", "different"),
    "child_given_name": ("exact", "pinyin", "fuzzy", "different"),
    # A Han name against a Latin one (pinyin transcription), compared whole.
    "latin_name": ("exact", "jw_high", "jw_mid", "different"),
    # Latin names part by part, each part earning its own credit.
    "latin_family": ("exact", "jw_high", "jw_mid", "different"),
    "latin_given": ("exact", "jw_high", "jw_mid", "different"),
    "latin_middle": ("exact", "initial", "different"),
    # A one-word name (part unknown) says less than a full name: its own, weaker weights.
    "latin_one_word": ("exact", "jw_high", "different"),
    "other_names": ("exact", "pinyin", "none"),
    "foreign_document": ("exact", "one_typo", "different"),
    "birth": ("exact", "typo", "year", "range", "near", "different"),
    "sex": ("agree", "differ"),
    "province": ("home", "any", "none"),
    "marks": ("strong", "some", "none"),
    "address": ("exact", "high", "mid", "different"),
}

# Birth intervals this narrow (both sides, in days) count as a year-level agreement.
NARROW_DAYS = 400
# An estimated age this far off (in days) is still "near": ages of rescued children are guesses.
NEAR_DAYS = 2 * 366


@dataclass(frozen=True)
class PairComparison:
    """Levels per field and the DNA result if any; the values behind each level are spelled
    out only when asked for (`detail`): most compared pairs are never explained."""

    levels: dict[str, int | None]
    kinship: KinshipResult | None
    notes: tuple[str, ...]
    a: Features
    b: Features

    def level_name(self, field: str) -> str | None:
        level = self.levels.get(field)
        return None if level is None else FIELDS[field][level]

    def detail(self, field: str) -> str:
        """The compared values of one field, for the explanation."""
        if self.levels.get(field) is None:
            return ""
        return _DETAILS[field](self.a, self.b)


_ID_LEVELS = {name: i for i, name in enumerate(FIELDS["id_number"])}


def _id(a: Features, b: Features) -> int | None:
    if not a.id_number or not b.id_number:
        return None
    return _ID_LEVELS[idnumber.compare(a.id_number, b.id_number).value]


def _names(a: NameForms | None, b: NameForms | None) -> list[tuple[str, int]]:
    """(field, level) of every name field the two names are compared on."""
    if a is None or b is None:
        return []
    if a.han and b.han:
        out = []
        # A name recorded as a given name only has no surname to disagree with.
        if a.surname and b.surname:
            if a.surname == b.surname:
                lvl = 0
            elif a.surname_py == b.surname_py:
                lvl = 1
            else:
                lvl = 2
            out.append(("surname", lvl))
        if a.given and b.given:
            if a.given == b.given:
                lvl = 0
            elif a.given_py == b.given_py:
                lvl = 1
            elif a.given_fuzzy == b.given_fuzzy:
                lvl = 2
            else:
                lvl = 3
            out.append(("given_name", lvl))
        return out
    if not a.han and not b.han:
        return _latin_parts(a, b)
    # A Han name against a Latin one: compare sound-alike ASCII forms of the full names.
    ka, kb = _mixed_keys(a, b)
    if ka == kb:
        return [("latin_name", 0)]
    score = jaro_winkler(ka, kb)
    return [("latin_name", 1 if score >= 0.94 else 2 if score >= 0.86 else 3)]


def _mixed_keys(a: NameForms, b: NameForms) -> tuple[str, str]:
    """The ASCII forms a Han name and a Latin one are compared by, spaces dropped."""
    ka, kb = (a.full_py if a.han else a.given), (b.full_py if b.han else b.given)
    return ka.replace(" ", ""), kb.replace(" ", "")


def _jw_level(x: str, y: str) -> int:
    """exact / Jaro-Winkler >= 0.94 / >= 0.88 / lower, on words in written order (never sorted:
    sorting makes the prefix bonus depend on which word happens to come first)."""
    if x == y:
        return 0
    score = jaro_winkler(x, y)
    return 1 if score >= 0.94 else 2 if score >= 0.88 else 3


def _latin_parts(a: NameForms, b: NameForms) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    if a.one_word or b.one_word:
        # One word against a name: the best agreement with any of the other's words.
        single, other = (a, b) if a.one_word else (b, a)
        words = [w for w in (other.first, other.family, *other.middle) if w]
        if other.one_word:
            words = [other.given]
        if words:
            best = min(_jw_level(single.given, w) for w in words)
            out.append(("latin_one_word", min(best, 2)))
        return out
    fam = _jw_level(a.family, b.family) if a.family and b.family else None
    giv = _jw_level(a.first, b.first) if a.first and b.first else None
    if fam == 3 and giv == 3 and a.family and a.first and b.family and b.first:
        # Written in the other order (family name first): the crosswise parts agree.
        # (Also when only one part agrees crosswise: "harrison capurso" / "capurso ruby".)
        fam_x, giv_x = _jw_level(a.family, b.first), _jw_level(a.first, b.family)
        if min(fam_x, giv_x) < 3:
            fam, giv = fam_x, giv_x
    if fam is not None:
        out.append(("latin_family", fam))
    if giv is not None:
        out.append(("latin_given", giv))
    if a.middle and b.middle:
        if set(a.middle) & set(b.middle):
            mid = 0
        elif {w[0] for w in a.middle} & {w[0] for w in b.middle}:
            mid = 1
        else:
            mid = 2
        out.append(("latin_middle", mid))
    return out


def _document_pair(a: Features, b: Features) -> tuple[int | None, str]:
    """The level of the best-agreeing pair of foreign documents, and that pair."""
    if not a.foreign_documents or not b.foreign_documents:
        return None, ""
    best, shown = 2, ""
    for x in a.foreign_documents:
        for y in b.foreign_documents:
            cx, _, nx = x.rpartition(":")
            cy, _, ny = y.rpartition(":")
            if cx and cy and cx != cy:
                continue  # the same number issued by two countries is two documents
            if nx == ny:
                return 0, f"{x} = {y}"
            if best > 1 and idnumber_typo(nx, ny):
                best, shown = 1, f"{x} ~ {y}"
    return best, shown


def _documents(a: Features, b: Features) -> int | None:
    return _document_pair(a, b)[0]


def idnumber_typo(x: str, y: str) -> bool:
    """One character mistyped, or two adjacent characters swapped."""
    if len(x) != len(y):
        return False
    diff = [i for i, (p, q) in enumerate(zip(x, y, strict=True)) if p != q]
    if len(diff) == 1:
        return True
    return len(diff) == 2 and diff[1] == diff[0] + 1 and x[diff[0]] == y[diff[1]] and (
        x[diff[1]] == y[diff[0]]
    )


def _address(a: Features, b: Features) -> int | None:
    if not a.address or not b.address:
        return None
    if a.address == b.address:
        return 0
    # Words in any order, a few mistyped: token-set similarity (rapidfuzz, 0..100).
    score = fuzz.token_set_ratio(a.address, b.address)
    return 1 if score >= 90 else 2 if score >= 70 else 3


def _alias_pair(a: Features, b: Features) -> tuple[int | None, str]:
    """Level of the best agreement of an alias with any name of the other side, and the pair."""
    if not a.aliases and not b.aliases:
        return None, ""
    # Each side's aliases are tried against every name the other side is known by.
    pairs = [(x, y) for x in a.aliases for y in _all_names(b)]
    pairs += [(y, x) for x in _all_names(a) for y in b.aliases]  # alias first in every pair
    if not pairs:
        return None, ""
    best, shown = 2, ""
    for x, y in pairs:
        # Nicknames are compared whole ("强强" is not surname 强 + given 强); a two-character
        # alias may also be the other side's given name (former name 丽娟, name 王丽娟).
        if x.text == y.text or (len(x.text) >= 2 and x.text == y.given):
            return 0, f"{x.text} = {y.text}"
        if x.full_py == y.full_py or (len(x.text) >= 2 and x.full_py == y.given_py):
            best, shown = 1, f"{x.text} ~ {y.text} ({x.full_py})"
    return best, shown


def _aliases(a: Features, b: Features) -> int | None:
    return _alias_pair(a, b)[0]


def _all_names(f: Features) -> list[NameForms]:
    return ([f.name] if f.name else []) + list(f.aliases)


def _birth(a: Features, b: Features) -> int | None:
    alo, ahi, blo, bhi = a.birth_lo, a.birth_hi, b.birth_lo, b.birth_hi
    if alo is None or blo is None or ahi is None or bhi is None:
        return None
    if alo == ahi == blo == bhi or _same_number_other_age(a, b):
        return 0
    x, y = a.birth_digits, b.birth_digits
    # One digit mistyped, two swapped, or day and month read the other way round.
    if x and y and (idnumber_typo(x, y) or _day_month_swapped(x, y)):
        return 1
    gap = max(alo - bhi, blo - ahi, 0)
    if gap == 0:
        wide = max(ahi - alo, bhi - blo)
        return 2 if wide <= NARROW_DAYS else 3
    return 4 if gap <= NEAR_DAYS else 5


def _same_number_other_age(a: Features, b: Features) -> bool:
    """The same identity number on both sides carries one birth date: an age stated against a
    side's own number (an estimate written beside a copied number) is no second fact against
    the pair."""
    return (a.id_birth_conflict or b.id_birth_conflict) and bool(a.id_number) and (
        a.id_number == b.id_number
    )


def _day_month_swapped(x: str, y: str) -> bool:
    return x[:4] == y[:4] and x[4:6] == y[6:] and x[6:] == y[4:6]


def _span(lo: int, hi: int) -> str:
    a, b = dt.date.fromordinal(lo), dt.date.fromordinal(hi)
    return a.isoformat() if lo == hi else f"{a.isoformat()}..{b.isoformat()}"


def _province(a: Features, b: Features) -> int | None:
    if not a.provinces or not b.provinces:
        return None
    if a.home_province and a.home_province == b.home_province:
        return 0
    return 1 if a.provinces & b.provinces else 2


def _marks(a: Features, b: Features) -> int | None:
    if not a.marks or not b.marks:
        return None
    common = a.marks & b.marks
    if len(common) >= 2 or any(":" in t or "-" in t for t in common):
        return 0
    return 1 if common else 2


def _sex(a: Features, b: Features) -> int | None:
    if a.sex is Sex.UNKNOWN or b.sex is Sex.UNKNOWN:
        return None
    return 0 if a.sex is b.sex else 1


# Fields compared one to one (names are compared apart, several fields): the cheap ones that
# decide most pairs first, then those a pair can only be lifted by when both sides have the fact.
_CORE: tuple[tuple[str, Callable[[Features, Features], int | None]], ...] = (
    ("id_number", _id),
    ("birth", _birth),
    ("sex", _sex),
    ("province", _province),
)
_REST: tuple[tuple[str, Callable[[Features, Features], int | None]], ...] = (
    ("other_names", _aliases),
    ("foreign_document", _documents),
    ("marks", _marks),
    ("address", _address),
)
CHILD_NAMES = {"surname": "child_surname", "given_name": "child_given_name"}
# What the hit filter's fast path reads (matcher.HitFilter).
id_level, name_levels, birth_level, province_level = _id, _names, _birth, _province


def core_levels(a: Features, b: Features) -> dict[str, int | None]:
    """Every field of FIELDS, with the levels of names, number, birth, sex and province filled
    in and the others None (see rest_levels)."""
    levels: dict[str, int | None] = dict.fromkeys(FIELDS)
    child = a.missing_as_child or b.missing_as_child
    for field, level in _names(a.name, b.name):
        levels[CHILD_NAMES.get(field, field) if child else field] = level
    for field, fn in _CORE:
        levels[field] = fn(a, b)
    return levels


def rest_present(a: Features, b: Features) -> list[str]:
    """The fields rest_levels can compare for this pair (both sides have the fact)."""
    out = []
    if (a.aliases and (b.name or b.aliases)) or (b.aliases and (a.name or a.aliases)):
        out.append("other_names")
    if a.foreign_documents and b.foreign_documents:
        out.append("foreign_document")
    if a.marks and b.marks:
        out.append("marks")
    if a.address and b.address:
        out.append("address")
    return out


def rest_levels(a: Features, b: Features, levels: dict[str, int | None]) -> None:
    """Fill in the levels of aliases, foreign documents, marks and address."""
    for field, fn in _REST:
        levels[field] = fn(a, b)


def compare_levels(a: Features, b: Features) -> dict[str, int | None]:
    """The level of every field of FIELDS (None where a fact is missing on either side)."""
    levels = core_levels(a, b)
    rest_levels(a, b, levels)
    return levels


# -- what each level was decided on, for explanations ------------------------------------------


def _name_detail(a: Features, b: Features) -> str:
    return f"{a.name.text} / {b.name.text}" if a.name and b.name else ""


def _surname_detail(a: Features, b: Features) -> str:
    x, y = a.name, b.name
    if x is None or y is None:
        return ""
    if x.surname == y.surname:
        return f"{x.surname} = {y.surname}"
    if x.surname_py == y.surname_py:
        return f"{x.surname} ~ {y.surname} ({x.surname_py})"
    return f"{x.surname} / {y.surname}"


def _given_detail(a: Features, b: Features) -> str:
    x, y = a.name, b.name
    return f"{x.given} / {y.given} ({x.given_py} / {y.given_py})" if x and y else ""


def _latin_name_detail(a: Features, b: Features) -> str:
    if a.name is None or b.name is None:
        return ""
    ka, kb = _mixed_keys(a.name, b.name)
    shown = _name_detail(a, b)
    return shown if ka == kb else f"{shown} (Jaro-Winkler {jaro_winkler(ka, kb):.2f})"


def _part_detail(part: str) -> Callable[[Features, Features], str]:
    def detail(a: Features, b: Features) -> str:
        if a.name is None or b.name is None:
            return ""
        if part == "middle":
            return f"{' '.join(a.name.middle)} / {' '.join(b.name.middle)}"
        return f"{getattr(a.name, part)} / {getattr(b.name, part)}"

    return detail


def _id_detail(a: Features, b: Features) -> str:
    return f"{a.id_number} / {b.id_number}"


def _birth_detail(a: Features, b: Features) -> str:
    assert a.birth_lo is not None and a.birth_hi is not None  # only asked of compared births
    assert b.birth_lo is not None and b.birth_hi is not None
    shown = f"{_span(a.birth_lo, a.birth_hi)} / {_span(b.birth_lo, b.birth_hi)}"
    level = _birth(a, b)
    if level == 0 and _same_number_other_age(a, b):
        return f"{shown}, the same identity number's birth date"
    if level == 1:
        return f"{shown}, a typing error apart"
    if level in (4, 5):
        gap = max(a.birth_lo - b.birth_hi, b.birth_lo - a.birth_hi, 0)
        return f"{shown}, {gap} days apart"
    return shown


def _province_detail(a: Features, b: Features) -> str:
    level = _province(a, b)
    if level == 0:
        return f"home {a.home_province}"
    if level == 1:
        return "shared " + ",".join(sorted(a.provinces & b.provinces))
    return f"{','.join(sorted(a.provinces))} / {','.join(sorted(b.provinces))}"


def _marks_detail(a: Features, b: Features) -> str:
    common = a.marks & b.marks
    return "shared " + ",".join(sorted(common)) if common else ""


def _address_detail(a: Features, b: Features) -> str:
    if a.address == b.address:
        return f"{a.address} = {b.address}"
    score = fuzz.token_set_ratio(a.address or "", b.address or "")
    return f"{a.address} / {b.address} (similarity {score:.0f})"


_DETAILS: dict[str, Callable[[Features, Features], str]] = {
    "id_number": _id_detail,
    "surname": _surname_detail,
    "given_name": _given_detail,
    "child_surname": _surname_detail,
    "child_given_name": _given_detail,
    "latin_name": _latin_name_detail,
    "latin_family": _part_detail("family"),
    "latin_given": _part_detail("first"),
    "latin_middle": _part_detail("middle"),
    "latin_one_word": _name_detail,
    "other_names": lambda a, b: _alias_pair(a, b)[1],
    "foreign_document": lambda a, b: _document_pair(a, b)[1],
    "birth": _birth_detail,
    "sex": lambda a, b: f"{a.sex.value} / {b.sex.value}",
    "province": _province_detail,
    "marks": _marks_detail,
    "address": _address_detail,
}


def _kit(origin: DnaOrigin | None) -> str | None:
    return origin.kit if origin is not None and origin.kit_known else None


def kinship_of(tables: TableSet | AlleleTable, a: Features, b: Features) -> KinshipResult | None:
    """Parentage when one side has parents' profiles and the other its own; else identity.

    The table is the one for the parents' lab and kit (the family's population is what the
    alternative "born to random people of that population" is about), else the child's.
    """
    tables = tables if isinstance(tables, TableSet) else TableSet.single(tables)
    for parents, child in ((a, b), (b, a)):
        if child.profile and (parents.father or parents.mother):
            origin = parents.parents_dna_origin or child.dna_origin
            return parentage(
                tables.choose(origin),
                child.profile,
                parents.father or None,
                parents.mother or None,
                (_kit(child.dna_origin), _kit(parents.parents_dna_origin)),
            )
    if a.profile and b.profile:
        table = tables.choose(a.dna_origin or b.dna_origin)
        return identity(table, a.profile, b.profile, (_kit(a.dna_origin), _kit(b.dna_origin)))
    return None


def compare(a: Features, b: Features, table: TableSet | AlleleTable) -> PairComparison:
    """Compare two persons on every field."""
    notes: list[str] = []
    for side in (a, b):
        if side.id_birth_conflict:
            notes.append(
                f"{side.facts.ref.label()}: identity number's birth date differs from stated"
            )
        if side.id_parsed is not None and not side.id_parsed.check_ok:
            notes.append(f"{side.facts.ref.label()}: identity number fails its check digit")
    return PairComparison(compare_levels(a, b), kinship_of(table, a, b), tuple(notes), a, b)
