"""Field-by-field comparison of two prepared persons into Fellegi-Sunter levels.

A level of None means "cannot be compared" (a fact is missing on one side) and weighs nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

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
_NARROW_DAYS = 400
# An estimated age this far off (in days) is still "near": ages of rescued children are guesses.
_NEAR_DAYS = 2 * 366


Detail = Callable[[], str]


def _none() -> str:
    return ""


@dataclass(frozen=True)
class PairComparison:
    """Levels per field, human-readable details per field, and the DNA result if any.

    Details are formatted only when asked for: most compared pairs are never explained.
    """

    levels: dict[str, int | None]
    detail_makers: dict[str, Detail]
    kinship: KinshipResult | None
    notes: tuple[str, ...]

    def level_name(self, field: str) -> str | None:
        level = self.levels.get(field)
        return None if level is None else FIELDS[field][level]


def _id(a: Features, b: Features) -> tuple[int | None, Detail]:
    if not a.id_number or not b.id_number:
        return None, _none
    level = idnumber.compare(a.id_number, b.id_number)
    return FIELDS["id_number"].index(level.value), lambda: f"{a.id_number} / {b.id_number}"


def _names(a: NameForms | None, b: NameForms | None) -> dict[str, tuple[int | None, Detail]]:
    out: dict[str, tuple[int | None, Detail]] = {}
    if a is None or b is None:
        return out

    def detail() -> str:
        return f"{a.text} / {b.text}"

    if a.han and b.han:
        # A name recorded as a given name only has no surname to disagree with.
        if a.surname and b.surname:
            if a.surname == b.surname:
                out["surname"] = (0, lambda: f"{a.surname} = {b.surname}")
            elif a.surname_py == b.surname_py:
                out["surname"] = (1, lambda: f"{a.surname} ~ {b.surname} ({a.surname_py})")
            else:
                out["surname"] = (2, lambda: f"{a.surname} / {b.surname}")
        if a.given and b.given:
            if a.given == b.given:
                lvl = 0
            elif a.given_py == b.given_py:
                lvl = 1
            elif a.given_fuzzy == b.given_fuzzy:
                lvl = 2
            else:
                lvl = 3
            out["given_name"] = (
                lvl,
                lambda: f"{a.given} / {b.given} ({a.given_py} / {b.given_py})",
            )
        return out
    if not a.han and not b.han:
        out.update(_latin_parts(a, b))
        return out
    # A Han name against a Latin one: compare sound-alike ASCII forms of the full names.
    ka, kb = (a.full_py if a.han else a.given), (b.full_py if b.han else b.given)
    if ka == kb or ka.replace(" ", "") == kb.replace(" ", ""):
        out["latin_name"] = (0, detail)
        return out
    score = jaro_winkler(ka.replace(" ", ""), kb.replace(" ", ""))
    lvl = 1 if score >= 0.94 else 2 if score >= 0.86 else 3
    out["latin_name"] = (lvl, lambda: f"{detail()} (Jaro-Winkler {score:.2f})")
    return out


def _jw_level(x: str, y: str) -> int:
    """exact / Jaro-Winkler >= 0.94 / >= 0.88 / lower, on words in written order (never sorted:
    sorting makes the prefix bonus depend on which word happens to come first)."""
    if x == y:
        return 0
    score = jaro_winkler(x, y)
    return 1 if score >= 0.94 else 2 if score >= 0.88 else 3


def _latin_parts(a: NameForms, b: NameForms) -> dict[str, tuple[int | None, Detail]]:
    out: dict[str, tuple[int | None, Detail]] = {}
    if a.one_word or b.one_word:
        # One word against a name: the best agreement with any of the other's words.
        single, other = (a, b) if a.one_word else (b, a)
        words = [w for w in (other.first, other.family, *other.middle) if w]
        if other.one_word:
            words = [other.given]
        if words:
            best = min(_jw_level(single.given, w) for w in words)
            out["latin_one_word"] = (min(best, 2), lambda: f"{a.text} / {b.text}")
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
        out["latin_family"] = (fam, lambda: f"{a.family} / {b.family}")
    if giv is not None:
        out["latin_given"] = (giv, lambda: f"{a.first} / {b.first}")
    if a.middle and b.middle:
        if set(a.middle) & set(b.middle):
            mid = 0
        elif {w[0] for w in a.middle} & {w[0] for w in b.middle}:
            mid = 1
        else:
            mid = 2
        out["latin_middle"] = (mid, lambda: f"{' '.join(a.middle)} / {' '.join(b.middle)}")
    return out


def _documents(a: Features, b: Features) -> tuple[int | None, Detail]:
    if not a.foreign_documents or not b.foreign_documents:
        return None, _none
    best = 2
    shown = ""
    for x in a.foreign_documents:
        for y in b.foreign_documents:
            cx, _, nx = x.rpartition(":")
            cy, _, ny = y.rpartition(":")
            if cx and cy and cx != cy:
                continue  # the same number issued by two countries is two documents
            if nx == ny:
                return 0, partial("{} = {}".format, x, y)
            if best > 1 and idnumber_typo(nx, ny):
                best, shown = 1, f"{x} ~ {y}"
    return best, (lambda: shown) if shown else _none


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


def _address(a: Features, b: Features) -> tuple[int | None, Detail]:
    if not a.address or not b.address:
        return None, _none
    if a.address == b.address:
        return 0, lambda: f"{a.address} = {b.address}"
    # Words in any order, a few mistyped: token-set similarity (rapidfuzz, 0..100).
    score = fuzz.token_set_ratio(a.address, b.address)
    lvl = 1 if score >= 90 else 2 if score >= 70 else 3
    return lvl, lambda: f"{a.address} / {b.address} (similarity {score:.0f})"


def _aliases(a: Features, b: Features) -> tuple[int | None, Detail]:
    if not a.aliases and not b.aliases:
        return None, _none
    # Each side's aliases are tried against every name the other side is known by.
    pairs = [(x, y) for x in a.aliases for y in _all_names(b)]
    pairs += [(y, x) for x in _all_names(a) for y in b.aliases]  # alias first in every pair
    if not pairs:
        return None, _none
    best = 2
    detail: Detail = _none
    for x, y in pairs:
        # Nicknames are compared whole ("强强" is not surname 强 + given 强); a two-character
        # alias may also be the other side's given name (former name 丽娟, name 王丽娟).
        if x.text == y.text or (len(x.text) >= 2 and x.text == y.given):
            return 0, partial("{} = {}".format, x.text, y.text)
        if x.full_py == y.full_py or (len(x.text) >= 2 and x.full_py == y.given_py):
            best, detail = 1, partial("{} ~ {} ({})".format, x.text, y.text, x.full_py)
    return best, detail


def _all_names(f: Features) -> list[NameForms]:
    return ([f.name] if f.name else []) + list(f.aliases)


def _birth(a: Features, b: Features) -> tuple[int | None, Detail]:
    if a.birth_lo is None or b.birth_lo is None or a.birth_hi is None or b.birth_hi is None:
        return None, _none
    alo, ahi, blo, bhi = a.birth_lo, a.birth_hi, b.birth_lo, b.birth_hi

    def detail() -> str:
        return f"{_span(alo, ahi)} / {_span(blo, bhi)}"

    if a.birth_lo == a.birth_hi == b.birth_lo == b.birth_hi:
        return 0, detail
    x, y = a.birth_digits, b.birth_digits
    # One digit mistyped, two swapped, or day and month read the other way round.
    swapped = x[:4] == y[:4] and x[4:6] == y[6:] and x[6:] == y[4:6]
    if x and y and (idnumber_typo(x, y) or swapped):
        return 1, lambda: f"{detail()}, a typing error apart"
    gap = max(a.birth_lo - b.birth_hi, b.birth_lo - a.birth_hi, 0)
    if gap == 0:
        wide = max(a.birth_hi - a.birth_lo, b.birth_hi - b.birth_lo)
        return (2 if wide <= _NARROW_DAYS else 3), detail
    if gap <= _NEAR_DAYS:
        return 4, lambda: f"{detail()}, {gap} days apart"
    return 5, lambda: f"{detail()}, {gap} days apart"


def _span(lo: int, hi: int) -> str:
    a, b = dt.date.fromordinal(lo), dt.date.fromordinal(hi)
    return a.isoformat() if lo == hi else f"{a.isoformat()}..{b.isoformat()}"


def _province(a: Features, b: Features) -> tuple[int | None, Detail]:
    if not a.provinces or not b.provinces:
        return None, _none
    if a.home_province and a.home_province == b.home_province:
        return 0, lambda: f"home {a.home_province}"
    common = a.provinces & b.provinces
    if common:
        return 1, lambda: "shared " + ",".join(sorted(common))
    return 2, lambda: f"{','.join(sorted(a.provinces))} / {','.join(sorted(b.provinces))}"


def _marks(a: Features, b: Features) -> tuple[int | None, Detail]:
    if not a.marks or not b.marks:
        return None, _none
    common = a.marks & b.marks
    located = [t for t in common if ":" in t or "-" in t]
    if located or len(common) >= 2:
        return 0, lambda: "shared " + ",".join(sorted(common))
    if common:
        return 1, lambda: "shared " + ",".join(sorted(common))
    return 2, lambda: ""


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
    names = _names(a.name, b.name)
    if a.missing_as_child or b.missing_as_child:
        names = {
            ("child_" + k if k in ("surname", "given_name") else k): v for k, v in names.items()
        }
    results: dict[str, tuple[int | None, Detail]] = {
        "id_number": _id(a, b),
        **names,
        "other_names": _aliases(a, b),
        "foreign_document": _documents(a, b),
        "birth": _birth(a, b),
        "province": _province(a, b),
        "marks": _marks(a, b),
        "address": _address(a, b),
    }
    if a.sex is not Sex.UNKNOWN and b.sex is not Sex.UNKNOWN:
        results["sex"] = (0 if a.sex is b.sex else 1, lambda: f"{a.sex.value} / {b.sex.value}")
    levels: dict[str, int | None] = dict.fromkeys(FIELDS)
    details: dict[str, Detail] = {}
    for field, (level, detail) in results.items():
        levels[field] = level
        if level is not None:
            details[field] = detail
    notes: list[str] = []
    for side in (a, b):
        if side.id_birth_conflict:
            notes.append(
                f"{side.facts.ref.label()}: identity number's birth date differs from stated"
            )
        if side.id_parsed is not None and not side.id_parsed.check_ok:
            notes.append(f"{side.facts.ref.label()}: identity number fails its check digit")
    return PairComparison(levels, details, kinship_of(table, a, b), tuple(notes))
