"""Resident identity numbers (GB 11643): structure and ISO 7064 MOD 11-2 check character.

A number that fails the check is still kept by the hub: the status travels with the
payload (`id_number_status`) so matching can weigh it, and nobody silently trusts it.
"""

from __future__ import annotations

import enum
import re
from collections.abc import MutableMapping
from dataclasses import dataclass
from datetime import date, datetime
from operator import mul
from typing import Any

# Weights are 2**(17 - i) mod 11 for positions i = 0..16 (ISO 7064 MOD 11-2).
_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_ZERO_OFFSET = 48 * sum(_WEIGHTS)
_CHECK_CHARS = "10X98765432"
_SHAPE_18 = re.compile(r"^[0-9]{17}[0-9X]$")
_SHAPE_15 = re.compile(r"^[0-9]{15}$")


class IdNumberStatus(enum.StrEnum):
    """Outcome of checking an identity number; the names match the Avro enum."""

    NOT_GIVEN = "NOT_GIVEN"
    VALID = "VALID"
    LEGACY_15_DIGIT = "LEGACY_15_DIGIT"
    INVALID_FORMAT = "INVALID_FORMAT"
    INVALID_DATE = "INVALID_DATE"
    INVALID_CHECK_DIGIT = "INVALID_CHECK_DIGIT"


@dataclass(frozen=True)
class IdCheck:
    """What an identity number says about its holder, and whether it can be trusted."""

    number: str | None
    status: IdNumberStatus
    reason: str
    area_code: str | None = None
    birth_date: date | None = None
    sex: str | None = None  # "MALE" / "FEMALE", from the parity of the order code

    @property
    def valid(self) -> bool:
        """True for a well-formed number with a correct check character (or a legacy one)."""
        return self.status in (IdNumberStatus.VALID, IdNumberStatus.LEGACY_15_DIGIT)


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError("the check character is computed over exactly 17 digits 0-9")
    # Summing the ASCII codes and removing 48 * sum(weights) avoids 17 int() calls: the
    # hub re-checks every identity number of every event it verifies.
    total = sum(map(mul, first17.encode("ascii"), _WEIGHTS)) - _ZERO_OFFSET
    return _CHECK_CHARS[total % 11]


def _birth(text: str) -> date | None:
    try:
        return date(int(text[0:4]), int(text[4:6]), int(text[6:8]))
    except ValueError:
        return None


def check_resident_id(number: str | None, *, today: date | None = None) -> IdCheck:
    """Check an identity number; never raises, the verdict is in the result."""
    if number is None or number.strip() == "":
        return IdCheck(None, IdNumberStatus.NOT_GIVEN, "no identity number given")
    text = number.strip().upper()
    today = today or date.today()
    if _SHAPE_15.match(text):
        # First-generation numbers: YYMMDD birth date in the 1900s, no check character.
        born = _birth("19" + text[6:12])
        if born is None:
            return IdCheck(number, IdNumberStatus.INVALID_DATE,
                           f"birth date 19{text[6:12]} in a 15-digit number is not a date")
        sex = "MALE" if int(text[14]) % 2 else "FEMALE"
        return IdCheck(number, IdNumberStatus.LEGACY_15_DIGIT,
                       "first-generation 15-digit number (no check character)",
                       text[:6], born, sex)
    if not _SHAPE_18.match(text):
        return IdCheck(number, IdNumberStatus.INVALID_FORMAT,
                       "must be 17 digits followed by a digit or X (18 characters)")
    area = text[:6]
    if area[0] == "0":
        return IdCheck(number, IdNumberStatus.INVALID_FORMAT,
                       f"area code {area} cannot start with 0")
    born = _birth(text[6:14])
    if born is None:
        return IdCheck(number, IdNumberStatus.INVALID_DATE,
                       f"birth date {text[6:14]} is not a calendar date", area)
    if born > today or born.year < 1880:
        return IdCheck(number, IdNumberStatus.INVALID_DATE,
                       f"birth date {born.isoformat()} is out of range", area, born)
    sex = "MALE" if int(text[16]) % 2 else "FEMALE"
    expected = check_character(text[:17])
    if text[17] != expected:
        return IdCheck(number, IdNumberStatus.INVALID_CHECK_DIGIT,
                       f"check character is {text[17]}, expected {expected}", area, born, sex)
    return IdCheck(number, IdNumberStatus.VALID, "valid", area, born, sex)


def annotate_identity_numbers(payload: MutableMapping[str, Any]) -> None:
    """Set `id_number_status` beside every `id_number` in a payload (nested, in place).

    The publisher's tooling calls this so the flag is part of what is signed.
    """
    if "id_number" in payload:
        raw = payload.get("id_number")
        payload["id_number_status"] = check_resident_id(
            raw if isinstance(raw, str) else None
        ).status.value
    for value in payload.values():
        if _is_record(value):
            annotate_identity_numbers(value)
        elif isinstance(value, list):
            for item in value:
                if _is_record(item):
                    annotate_identity_numbers(item)


def _is_record(value: object) -> bool:
    # Exact types first: most values are text, numbers or dates, and the abstract
    # MutableMapping check is slow for them.
    kind = type(value)
    return kind is dict or (kind not in _PLAIN and isinstance(value, MutableMapping))


_PLAIN = frozenset({str, int, bool, float, list, type(None), date, datetime})


# Participant ids: `<6-digit GB/T 2260 area code>-<department>`.
DEPARTMENTS: tuple[str, ...] = (
    "police",
    "civil-affairs",
    "migrant-registry",
    "womens-federation",
    "hub-operator",
)
HUB_OPERATOR_ID = "000000-hub-operator"
_PARTICIPANT = re.compile(r"^(?P<area>[0-9]{6})-(?P<dept>[a-z-]+)$")
_AREA_CODE = re.compile(r"^[0-9]{6}$")


def participant_problem(participant_id: object) -> str | None:
    """Why a participant id is malformed, or None when it is well formed."""
    if not isinstance(participant_id, str):
        return "participant id must be a string"
    match = _PARTICIPANT.match(participant_id)
    if match is None:
        return (f"participant id {participant_id!r} must look like 320000-police: a 6-digit "
                "area code, '-', and a department")
    if match["dept"] not in DEPARTMENTS:
        return (f"participant id {participant_id!r} names an unknown department "
                f"{match['dept']!r}; one of {', '.join(DEPARTMENTS)}")
    if (match["dept"] == "hub-operator") != (match["area"] == "000000"):
        return (f"participant id {participant_id!r}: only the hub operator uses area code "
                "000000, and only as 000000-hub-operator")
    return None


def split_participant_id(participant_id: str) -> tuple[str, str]:
    """(area code, department) of a well-formed participant id; ValueError otherwise."""
    problem = participant_problem(participant_id)
    if problem is not None:
        raise ValueError(problem)
    area, _, dept = participant_id.partition("-")
    return area, dept


def area_code_problem(code: object, *, allow_national: bool = False) -> str | None:
    """Why an area code is malformed (None if fine); retired codes are deliberately accepted."""
    if not isinstance(code, str) or not _AREA_CODE.match(code):
        return f"area code {code!r} must be six digits"
    if code == "000000" and allow_national:
        return None
    if code.startswith("0"):
        return f"area code {code} cannot start with 0"
    return None
