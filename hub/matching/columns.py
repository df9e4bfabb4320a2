"""Indexed persons' comparison facts as numeric columns, and a vectorised upper bound on a
pair's score over them.

Most candidates of a search share one weak key and nothing else; scoring them one by one in
Python cost about 30 us each. Here the fields that decide most pairs (identity number, names,
birth, sex, province) are compared for all candidates of a search at once with numpy, fields
that cannot be vectorised cheaply (Latin names, aliases, documents, marks, address) count their
best possible weight, and only candidates whose bound can reach review go on to the exact
filter and full scoring (`matcher.HitFilter`, `Matcher.score_pair`). The bound is never below
the exact score, so the hits are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from hub.matching.comparison import NARROW_DAYS, NEAR_DAYS
from hub.matching.facts import Sex, SourceKind
from hub.matching.features import Features

_ID_WIDTH = 18
_DIGITS = 8
# The last of the 128 province bits, shared by every province past the 127th.
OVERFLOW_BIT = 127
_SEX_CODES = {Sex.UNKNOWN: 0, Sex.MALE: 1, Sex.FEMALE: 2}
# Name script: none, Han, Latin (a Latin name is bounded, not compared, here).
_NO_NAME, _HAN, _LATIN = 0, 1, 2
# Integer columns, one row per slot; -1 in a code column is a probe value never indexed.
_INT_COLUMNS = (
    "name_script", "surname", "surname_py", "given", "given_py", "given_fuzzy", "id_code",
    "home", "birth_lo", "birth_hi", "sex",
)
_FLAG_COLUMNS = (
    "used", "alert", "profile", "parents", "child", "id18", "born", "digits", "odd_digits",
    "placed", "aliases", "documents", "marks", "address",
)
_INT = {name: i for i, name in enumerate(_INT_COLUMNS)}
_FLAG = {name: i for i, name in enumerate(_FLAG_COLUMNS)}

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]
CharArray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class BoundWeights:
    """The weights one search bounds its candidates with (see `Matcher.bound_weights`).

    Name weights are indexed [child][level]; `rest` holds the most each field can add, with
    "latin" the most a pair of names in Latin script (or one of each) can.
    """

    id_number: tuple[float, ...]
    surname: tuple[tuple[float, ...], tuple[float, ...]]
    given_name: tuple[tuple[float, ...], tuple[float, ...]]
    birth: tuple[float, ...]
    sex: tuple[float, ...]
    province: tuple[float, ...]
    rest: Mapping[str, float]
    base: float
    review: float


class _Rows:
    """The candidates' rows of one search, gathered once (one copy per matrix)."""

    def __init__(self, columns: PersonColumns, slots: IntArray) -> None:
        # take() copies rows several times faster than fancy indexing does.
        self._ints = columns.int_matrix.take(slots, axis=0)
        self._flags = columns.flag_matrix.take(slots, axis=0)
        chars = columns.char_matrix.take(slots, axis=0)
        self.id_chars = chars[:, :_ID_WIDTH]
        self.birth_digits = chars[:, _ID_WIDTH:]
        self.provinces = columns.provinces.take(slots, axis=0)

    def int(self, name: str) -> IntArray:
        return self._ints[:, _INT[name]]

    def flag(self, name: str) -> BoolArray:
        return self._flags[:, _FLAG[name]]


class PersonColumns:
    """One row per indexed person (its slot), grown by doubling; freed slots are reused."""

    def __init__(self, capacity: int = 1024) -> None:
        self._codes: dict[str, int] = {"": 0}
        self._province_bits: dict[str, int] = {}
        self._free: list[int] = []
        self._size = 0
        self._capacity = capacity
        self.int_matrix = np.zeros((capacity, len(_INT_COLUMNS)), dtype=np.int64)
        self.flag_matrix = np.zeros((capacity, len(_FLAG_COLUMNS)), dtype=np.bool_)
        self.char_matrix = np.zeros((capacity, _ID_WIDTH + _DIGITS), dtype=np.uint8)
        self.provinces = np.zeros((capacity, 2), dtype=np.uint64)

    def _grow(self) -> None:
        capacity = 2 * self._capacity

        def grown(old: npt.NDArray[Any]) -> npt.NDArray[Any]:
            new = np.zeros((capacity, old.shape[1]), dtype=old.dtype)
            new[: self._capacity] = old
            return new

        self.int_matrix = grown(self.int_matrix)
        self.flag_matrix = grown(self.flag_matrix)
        self.char_matrix = grown(self.char_matrix)
        self.provinces = grown(self.provinces)
        self._capacity = capacity

    def nbytes(self) -> int:
        """Bytes the columns take (the code table of strings not counted)."""
        matrices = (self.int_matrix, self.flag_matrix, self.char_matrix, self.provinces)
        return sum(m.nbytes for m in matrices)

    def add(self, person: Features) -> int:
        """Store a person's facts; returns its slot."""
        if self._free:
            slot = self._free.pop()
        else:
            if self._size == self._capacity:
                self._grow()
            slot = self._size
            self._size += 1
        row = encode(person, self._intern, self._province_bit)
        self.int_matrix[slot] = [getattr(row, name) for name in _INT_COLUMNS]
        self.flag_matrix[slot] = [getattr(row, name) for name in _FLAG_COLUMNS]
        self.char_matrix[slot] = row.id_chars + row.birth_digits
        self.provinces[slot] = row.provinces
        return slot

    def remove(self, slot: int) -> None:
        self.flag_matrix[slot, _FLAG["used"]] = False
        self._free.append(slot)

    def _intern(self, text: str) -> int:
        code = self._codes.get(text)
        if code is None:
            code = len(self._codes)
            self._codes[text] = code
        return code

    def _province_bit(self, province: str) -> int:
        # Provinces get bits in order of appearance; past the last bit (only bad data has that
        # many) they share it, and a pair sharing only that bit is bounded as maybe sharing.
        index = self._province_bits.get(province)
        if index is None:
            index = min(len(self._province_bits), OVERFLOW_BIT)
            self._province_bits[province] = index
        return index

    def probe_row(self, person: Features) -> PersonRow:
        """A person's facts coded against the stored ones, without storing it."""
        return encode(
            person, lambda text: self._codes.get(text, -1), lambda p: self._province_bits.get(p, -1)
        )


@dataclass(frozen=True)
class PersonRow:
    """One person's facts as the columns hold them."""

    used: bool
    alert: bool
    profile: bool
    parents: bool
    child: bool
    name_script: int
    surname: int
    surname_py: int
    given: int
    given_py: int
    given_fuzzy: int
    id_code: int
    id18: bool
    id_chars: tuple[int, ...]
    born: bool
    birth_lo: int
    birth_hi: int
    digits: bool
    odd_digits: bool
    birth_digits: tuple[int, ...]
    sex: int
    home: int
    placed: bool
    provinces: tuple[int, int]
    aliases: bool
    documents: bool
    marks: bool
    address: bool


def encode(person: Features, code: Callable[[str], int], bit: Callable[[str], int]) -> PersonRow:
    """The person's comparison facts as numbers; `code` turns a string into its code, `bit`
    a province into its bit (-1: none)."""
    name = person.name
    script = _NO_NAME if name is None else _HAN if name.han else _LATIN
    han = name if name is not None and name.han else None
    number = person.id_number or ""
    id18 = len(number) == _ID_WIDTH and number.isascii()
    digits = person.birth_digits
    odd_digits = bool(digits) and not (len(digits) == _DIGITS and digits.isascii())
    digits = "" if odd_digits else digits
    born = person.birth_lo is not None and person.birth_hi is not None
    low = high = 0
    for province in person.provinces:
        index = bit(province)
        if 0 <= index < 64:
            low |= 1 << index
        elif index >= 64:
            high |= 1 << (index - 64)
    return PersonRow(
        used=True,
        alert=person.facts.source is SourceKind.ALERT,
        profile=bool(person.profile),
        parents=bool(person.father or person.mother),
        child=person.missing_as_child,
        name_script=script,
        surname=code(han.surname) if han else 0,
        surname_py=code(han.surname_py) if han else 0,
        given=code(han.given) if han else 0,
        given_py=code(han.given_py) if han else 0,
        given_fuzzy=code(han.given_fuzzy) if han else 0,
        id_code=code(number) if number else 0,
        id18=id18,
        id_chars=tuple(number.encode("ascii")) if id18 else (0,) * _ID_WIDTH,
        born=born,
        birth_lo=person.birth_lo or 0,
        birth_hi=person.birth_hi or 0,
        digits=bool(digits),
        odd_digits=odd_digits,
        birth_digits=tuple(digits.encode("ascii")) if digits else (0,) * _DIGITS,
        sex=_SEX_CODES[person.sex],
        home=code(person.home_province) if person.home_province else 0,
        placed=bool(person.provinces),
        provinces=(low, high),
        aliases=bool(person.aliases),
        documents=bool(person.foreign_documents),
        marks=bool(person.marks),
        address=bool(person.address),
    )


def passing(
    columns: PersonColumns, slots: IntArray, probe: PersonRow, weights: BoundWeights,
    alert_side: bool,
) -> BoolArray:
    """Which candidates (slots) may make a hit with the probe: the pair has DNA to weigh, or
    its score's upper bound reaches review. False for pairs not of an alert and another."""
    if probe.alert != alert_side or not len(slots):
        return np.zeros(len(slots), dtype=np.bool_)
    rows = _Rows(columns, slots)
    wanted = rows.flag("used") & (rows.flag("alert") != alert_side)
    # DNA is weighed in full: the bound knows nothing of it.
    dna = (rows.flag("profile") & (probe.profile or probe.parents)) | (
        rows.flag("parents") & probe.profile
    )
    reaches: BoolArray = _upper_bounds(rows, probe, weights) >= weights.review
    keep: BoolArray = wanted & (dna | reaches)
    return keep


def upper_bounds(
    columns: PersonColumns, slots: IntArray, probe: PersonRow, weights: BoundWeights
) -> FloatArray:
    """Per candidate, a score the pair's full score (without DNA) cannot exceed."""
    return _upper_bounds(_Rows(columns, slots), probe, weights)


def _upper_bounds(rows: _Rows, probe: PersonRow, weights: BoundWeights) -> FloatArray:
    score = _name_weights(rows, probe, weights) + weights.base
    if probe.id_code:
        score += _id_weights(rows, probe, weights)
    if probe.born:
        birth = _birth_weights(rows, probe, weights)
        if probe.id_code:
            # The same identity number carries one birth date, whatever age was stated beside it
            # (comparison._same_number_other_age): counted as exact.
            same = (rows.int("id_code") == probe.id_code) & rows.flag("born")
            birth = np.where(same, weights.birth[0], birth)
        score += birth
    if probe.sex:
        sex = rows.int("sex")
        score += np.where(sex == 0, 0.0, np.where(sex == probe.sex, *weights.sex))
    if probe.placed:
        score += _province_weights(rows, probe, weights)
    score += _rest_bound(rows, probe, weights)
    return score


def _typo(mismatch: BoolArray, mine: CharArray, theirs: CharArray) -> tuple[BoolArray, BoolArray]:
    """Per row: one character differs; two adjacent characters are swapped (as
    `comparison.idnumber_typo` and `idnumber.compare` tell them)."""
    count = mismatch.sum(axis=1)
    one = count == 1
    swapped = np.zeros(len(count), dtype=np.bool_)
    two = np.flatnonzero(count == 2)
    if len(two):
        first = mismatch[two].argmax(axis=1)
        second = np.minimum(first + 1, mismatch.shape[1] - 1)
        pick = np.arange(len(two))
        theirs = theirs[two]
        swapped[two] = (
            mismatch[two, second]
            & (second == first + 1)
            & (mine[first] == theirs[pick, second])
            & (mine[second] == theirs[pick, first])
        )
    return one, swapped


def _id_weights(rows: _Rows, probe: PersonRow, weights: BoundWeights) -> FloatArray:
    codes = rows.int("id_code")
    exact, typo, swapped, different = weights.id_number
    out = np.where(codes == 0, 0.0, different)
    if probe.id18:
        mine = np.array(probe.id_chars, dtype=np.uint8)
        both = rows.flag("id18")
        one, swap = _typo((rows.id_chars != mine) & both[:, None], mine, rows.id_chars)
        out = np.where(one, typo, np.where(swap, swapped, out))
        # Numbers of other lengths are not compared here: the most a near number can weigh.
        odd = (codes != 0) & ~both
    else:
        odd = codes != 0
    out = np.where(odd, max(typo, swapped, different), out)
    return np.where(codes == probe.id_code, exact, out)


def _name_weights(rows: _Rows, probe: PersonRow, weights: BoundWeights) -> FloatArray:
    script = rows.int("name_script")
    if probe.name_script == _NO_NAME:
        return np.zeros(len(script))
    latin = weights.rest["latin"]
    if probe.name_script == _LATIN:
        return np.where(script == _NO_NAME, 0.0, latin)
    out = np.where(script == _LATIN, latin, 0.0)
    han = script == _HAN
    child = (rows.flag("child") | probe.child).astype(np.int64)
    if probe.surname:
        surname = rows.int("surname")
        level = np.where(
            surname == probe.surname, 0, np.where(rows.int("surname_py") == probe.surname_py, 1, 2)
        )
        out += np.where(han & (surname != 0), np.array(weights.surname)[child, level], 0.0)
    if probe.given:
        given = rows.int("given")
        level = np.where(
            given == probe.given,
            0,
            np.where(
                rows.int("given_py") == probe.given_py,
                1,
                np.where(rows.int("given_fuzzy") == probe.given_fuzzy, 2, 3),
            ),
        )
        out += np.where(han & (given != 0), np.array(weights.given_name)[child, level], 0.0)
    return out


def _birth_weights(rows: _Rows, probe: PersonRow, weights: BoundWeights) -> FloatArray:
    lo, hi = rows.int("birth_lo"), rows.int("birth_hi")
    plo, phi = probe.birth_lo, probe.birth_hi
    gap = np.maximum(np.maximum(plo - hi, lo - phi), 0)
    wide = np.maximum(phi - plo, hi - lo)
    level = np.where(
        gap == 0, np.where(wide <= NARROW_DAYS, 2, 3), np.where(gap <= NEAR_DAYS, 4, 5)
    )
    if probe.digits:
        mine = np.array(probe.birth_digits, dtype=np.uint8)
        both = rows.flag("digits")
        theirs = rows.birth_digits
        one, swap = _typo((theirs != mine) & both[:, None], mine, theirs)
        # Day and month read the other way round.
        flipped = (
            (theirs[:, :4] == mine[:4]).all(axis=1)
            & (theirs[:, 4:6] == mine[6:]).all(axis=1)
            & (theirs[:, 6:] == mine[4:6]).all(axis=1)
        )
        level = np.where(both & (one | swap | flipped), 1, level)
    if plo == phi:
        level = np.where((lo == plo) & (hi == plo), 0, level)
    table = np.array(weights.birth)
    out = table[level]
    # Digits of another length (a year before 1000) are not compared here: maybe a typo.
    odd = rows.flag("odd_digits")
    if probe.odd_digits or odd.any():
        maybe = (odd & (probe.digits or probe.odd_digits)) | (
            probe.odd_digits & (odd | rows.flag("digits"))
        )
        out = np.where(maybe & (level != 0), np.maximum(out, table[1]), out)
    return np.where(rows.flag("born"), out, 0.0)


def _province_weights(rows: _Rows, probe: PersonRow, weights: BoundWeights) -> FloatArray:
    home, shared, none = weights.province
    low = rows.provinces[:, 0] & np.uint64(probe.provinces[0])
    high = rows.provinces[:, 1] & np.uint64(probe.provinces[1])
    overflow = np.uint64(1 << (OVERFLOW_BIT - 64))
    # Sharing only the overflow bit may be sharing nothing: the better of the two.
    unsure = (low == 0) & (high == overflow)
    out = np.where((low != 0) | (high != 0), np.where(unsure, max(shared, none), shared), none)
    if probe.home:
        out = np.where(rows.int("home") == probe.home, home, out)
    return np.where(rows.flag("placed"), out, 0.0)


def _rest_bound(rows: _Rows, probe: PersonRow, weights: BoundWeights) -> FloatArray:
    """The most aliases, documents, marks and address could add, where both sides have them."""
    best = weights.rest
    named = rows.int("name_script") != _NO_NAME
    aliases = rows.flag("aliases")
    probe_named = probe.name_script != _NO_NAME
    alias_pair = (aliases & (probe_named or probe.aliases)) | (probe.aliases & (named | aliases))
    out = np.where(alias_pair, best["other_names"], 0.0)
    for field, flag, mine in (
        ("foreign_document", "documents", probe.documents),
        ("marks", "marks", probe.marks),
        ("address", "address", probe.address),
    ):
        if mine:
            out += np.where(rows.flag(flag), best[field], 0.0)
    return out
