"""Resident identity numbers (GB 11643): check digit, implied birth and sex, near misses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz.distance import Hamming

from hub.identity import check_character
from hub.matching.facts import Sex


def normalise(raw: str | None) -> str | None:
    """Upper-case, spaces removed; None when empty. Shape is not enforced here."""
    if raw is None:
        return None
    text = "".join(raw.split()).upper()
    return text or None


@dataclass(frozen=True)
class ParsedId:
    """What an 18-character number says about its holder."""

    number: str
    check_ok: bool
    birth: dt.date | None
    sex: Sex

    @property
    def area(self) -> str:
        return self.number[:6]


def parse(number: str) -> ParsedId | None:
    """Parse an 18-character number; None when it has not that shape at all."""
    # ASCII digits only, as the hub's own shape check (hub.identity): str.isdigit() would also
    # take other scripts' digits, which no identity number carries.
    if (
        len(number) != 18
        or not (number.isascii() and number[:17].isdigit())
        or number[17] not in "0123456789X"
    ):
        return None
    try:
        birth: dt.date | None = dt.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        birth = None  # a mistyped date digit; the rest of the number still counts
    sex = Sex.MALE if int(number[16]) % 2 == 1 else Sex.FEMALE
    return ParsedId(number, check_character(number[:17]) == number[17], birth, sex)


class IdLevel(StrEnum):
    """How two identity numbers compare."""

    EXACT = "exact"
    ONE_TYPO = "one_typo"
    TRANSPOSED = "transposed"
    DIFFERENT = "different"


def compare(a: str, b: str) -> IdLevel:
    """Exact, one character mistyped, two adjacent characters swapped, or different."""
    if a == b:
        return IdLevel.EXACT
    # Most compared numbers differ in many places: rapidfuzz counts them in C.
    if len(a) != len(b) or Hamming.distance(a, b) > 2:
        return IdLevel.DIFFERENT
    diffs = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
    if len(diffs) == 1:
        return IdLevel.ONE_TYPO
    if len(diffs) == 2 and diffs[1] == diffs[0] + 1:
        i = diffs[0]
        if a[i] == b[i + 1] and a[i + 1] == b[i]:
            return IdLevel.TRANSPOSED
    return IdLevel.DIFFERENT
