"""Avro binary encoding of payloads, and field-by-field validation with plain-word reasons.

fastavro's own validation stops at the first error and names it in its own terms; a
connector needs every problem of a row, each with a dotted field path, so we walk the schema.
"""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import fastavro

from hub.identity import area_code_problem, check_resident_id, participant_problem
from hub.schema_walk import SchemaVisitor

if TYPE_CHECKING:
    from hub.schema_catalog import SchemaCatalog, SchemaVersion

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_ALLELE = re.compile(r"^([0-9]{1,3}(\.[0-9])?|X|Y)$")
# Field names whose string value is a participant id or an area code, in every schema.
_PARTICIPANT_FIELDS = frozenset(
    {"issuing_unit", "deciding_unit", "participant_id", "recipients"}
)
_JURISDICTION_FIELDS = frozenset({"jurisdiction"})


@dataclass(frozen=True)
class FieldProblem:
    """One problem with one field. `blocking=False` means: keep the value, but flag it."""

    field: str
    reason: str
    blocking: bool = True

    def __str__(self) -> str:
        return f"{self.field or '(payload)'}: {self.reason}"


def encode_datum(parsed: Any, datum: Mapping[str, Any]) -> bytes:
    """Avro binary (schemaless) encoding of a datum that has been validated."""
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, dict(datum))
    return buf.getvalue()


def decode_datum(writer: Any, reader: Any | None, data: bytes) -> dict[str, Any]:
    """Decode Avro binary written with `writer`, resolved to `reader` (None: same schema).

    Raises ValueError when the bytes do not decode or are not consumed exactly.
    """
    buf = io.BytesIO(data)
    try:
        datum = fastavro.schemaless_reader(buf, writer, reader)
    except Exception as err:  # fastavro raises EOFError, IndexError, UnicodeError ...
        raise ValueError(f"payload does not decode: {type(err).__name__}: {err}") from err
    if buf.tell() != len(data):
        raise ValueError(f"payload has {len(data) - buf.tell()} trailing bytes")
    if not isinstance(datum, dict):
        raise ValueError("payload is not a record")
    return datum


def validate_payload(catalog: SchemaCatalog, event_type: str,
                     payload: Mapping[str, Any]) -> list[FieldProblem]:
    """Every problem of a payload against the latest schema of its event type.

    Blocking problems stop publication; non-blocking ones (a bad identity number) are kept
    and flagged in the payload's `id_number_status`.
    """
    if event_type not in catalog:
        return [FieldProblem("", f"unknown event type {event_type!r}")]
    return validate_against(catalog.latest(event_type), payload, catalog.event_types())


def validate_against(sv: SchemaVersion, payload: Mapping[str, Any],
                     event_types: list[str] | None = None) -> list[FieldProblem]:
    """Problems of a payload against one given schema version."""
    walker = _Walker(sv.named, set(event_types or ()))
    walker.visit(sv.parsed, payload, "")
    return walker.problems


class _Walker(SchemaVisitor[Any]):
    """Checks a value against a schema; the argument of every visit is the value there."""

    def __init__(self, named: Mapping[str, Any], event_types: set[str]) -> None:
        super().__init__(named)
        self.event_types = event_types
        self.problems: list[FieldProblem] = []

    def bad(self, path: str, reason: str, blocking: bool = True) -> None:
        self.problems.append(FieldProblem(path, reason, blocking))

    def primitive(self, name: str, value: Any, path: str) -> None:
        reason = _PRIMITIVES[name](value)
        if reason:
            self.bad(path, reason)

    def logical(self, schema: Mapping[str, Any], logical: str, value: Any, path: str) -> bool:
        check = _LOGICAL.get(logical)
        if check is None:
            return False  # a logical type the hub does not know: checked as its base type
        reason = check(value)
        if reason:
            self.bad(path, reason)
        return True

    def enum(self, schema: Mapping[str, Any], value: Any, path: str) -> None:
        if value not in schema["symbols"]:
            self.bad(path, f"{value!r} is not one of {', '.join(schema['symbols'])}")

    def array(self, schema: Mapping[str, Any], value: Any, path: str) -> None:
        if not isinstance(value, list | tuple):
            self.bad(path, f"must be a list, got {type(value).__name__}")
            return
        for i, item in enumerate(value):
            self.visit(schema["items"], item, f"{path}[{i}]")

    def map(self, schema: Mapping[str, Any], value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            self.bad(path, f"must be a mapping, got {type(value).__name__}")
            return
        for key, item in value.items():
            self.visit(schema["values"], item, f"{path}.{key}")

    def fixed(self, schema: Mapping[str, Any], value: Any, path: str) -> None:
        if not isinstance(value, bytes) or len(value) != schema["size"]:
            self.bad(path, f"must be exactly {schema['size']} bytes")

    def union(self, branches: list[Any], value: Any, path: str) -> None:
        if value is None:
            if "null" not in branches:
                self.bad(path, "is required")
            return
        if len(branches) == 2 and branches[0] == "null":
            # The common optional field: one branch to try, whose problems are kept whatever
            # they are, so it is checked in place without a trial walker.
            self.visit(branches[1], value, path)
            return
        attempts = []
        for branch in branches:
            if branch == "null":
                continue
            trial = _Walker(self.named, self.event_types)
            trial.visit(branch, value, path)
            if not trial.problems or all(not p.blocking for p in trial.problems):
                self.problems.extend(trial.problems)
                return
            attempts.append(trial.problems)
        if len(attempts) == 1:
            self.problems.extend(attempts[0])
        else:
            self.bad(path, "matches none of the allowed types")

    def record(self, schema: Mapping[str, Any], value: Any, path: str) -> None:
        if not isinstance(value, Mapping):
            self.bad(path, f"must be a record (mapping), got {type(value).__name__}")
            return
        prefix = f"{path}." if path else ""
        known = _field_names(schema)
        for fld in schema["fields"]:
            name = fld["name"]
            if name not in value:
                if "default" not in fld:
                    self.bad(prefix + name, "is required")
                continue
            before = len(self.problems)
            self.visit(fld["type"], value[name], prefix + name)
            if name in _DOMAIN_FIELDS and len(self.problems) == before:
                self.domain_field(name, value[name], prefix + name)
        if len(value) != len(known) or not known.issuperset(value):
            for extra in sorted(set(value) - known, key=str):
                self.bad(prefix + str(extra), "is not a field of this schema")
        rule = _RECORD_RULES.get(schema["name"].rsplit(".", 1)[-1])
        if rule is not None and not any(
            p.field.startswith(prefix) for p in self.problems if p.blocking
        ):
            rule(self, value, prefix)

    def domain_field(self, name: str, value: Any, path: str) -> None:
        if name in _PARTICIPANT_FIELDS:
            for i, pid in enumerate(value if isinstance(value, list) else [value]):
                problem = participant_problem(pid)
                if problem:
                    self.bad(f"{path}[{i}]" if isinstance(value, list) else path, problem)
        elif name in _JURISDICTION_FIELDS or name == "area_code":
            problem = area_code_problem(value, allow_national=name == "jurisdiction")
            if problem:
                self.bad(path, problem)
        elif name == "event_type" and self.event_types and value not in self.event_types:
            self.bad(path, f"unknown event type {value!r}")
        elif name == "id_number" and value is not None:
            verdict = check_resident_id(value)
            if not verdict.valid:
                self.bad(path, f"identity number kept but flagged: {verdict.reason}",
                         blocking=False)


# Fields domain_field looks at: for every other field it does nothing.
_DOMAIN_FIELDS = _PARTICIPANT_FIELDS | _JURISDICTION_FIELDS | {"area_code", "event_type",
                                                               "id_number"}
_NAMES_OF: dict[int, tuple[Any, frozenset[str]]] = {}


def _field_names(schema: Mapping[str, Any]) -> frozenset[str]:
    """A record schema's field names, computed once per schema object (they never change)."""
    found = _NAMES_OF.get(id(schema))
    if found is None or found[0] is not schema:
        found = (schema, frozenset(f["name"] for f in schema["fields"]))
        _NAMES_OF[id(schema)] = found
    return found[1]


def _birth_rule(w: _Walker, value: Mapping[str, Any], prefix: str) -> None:
    precision, day = value.get("precision"), value.get("date")
    lo, hi = value.get("age_min"), value.get("age_max")
    if precision in ("DAY", "MONTH", "YEAR") and day is None:
        w.bad(prefix + "date", f"is required when precision is {precision}")
    if precision == "MONTH" and day is not None and day.day != 1:
        w.bad(prefix + "date", "must be the first day of the month for MONTH precision")
    if precision == "YEAR" and day is not None and (day.month, day.day) != (1, 1):
        w.bad(prefix + "date", "must be 1 January for YEAR precision")
    if precision == "AGE_RANGE":
        if lo is None or hi is None:
            w.bad(prefix + "age_min", "age_min and age_max are required for AGE_RANGE")
        elif not 0 <= lo <= hi <= 130:
            w.bad(prefix + "age_min", f"age range {lo}-{hi} must satisfy 0 <= min <= max <= 130")


def _locus_rule(w: _Walker, value: Mapping[str, Any], prefix: str) -> None:
    alleles = value.get("alleles") or []
    if len(alleles) != 2:
        w.bad(prefix + "alleles", f"must hold exactly two alleles, got {len(alleles)}")
    for i, allele in enumerate(alleles):
        if not _ALLELE.match(allele):
            w.bad(f"{prefix}alleles[{i}]", f"allele {allele!r} is not like '9' or '9.3' or X/Y")


def _key_rule(w: _Walker, value: Mapping[str, Any], prefix: str) -> None:
    if len(value.get("public_key", b"")) != 32:
        w.bad(prefix + "public_key", "an Ed25519 public key is exactly 32 bytes")


_RECORD_RULES: dict[str, Callable[[_Walker, Mapping[str, Any], str], None]] = {
    "BirthDate": _birth_rule,
    "StrLocus": _locus_rule,
    "KeyAdded": _key_rule,
}


def _is_int(value: Any, bounds: tuple[int, int]) -> str | None:
    if not isinstance(value, int) or isinstance(value, bool):
        return f"must be a whole number, got {type(value).__name__}"
    if not bounds[0] <= value <= bounds[1]:
        return f"{value} is out of range"
    return None


def _is_float(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"must be a number, got {type(value).__name__}"
    return None


def _kind(expected: type, word: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) and expected is not bool:
            return f"must be {word}, got bool"
        if isinstance(value, expected):
            return None
        return f"must be {word}, got {type(value).__name__}"

    return check


def _is_date(value: Any) -> str | None:
    if isinstance(value, datetime) or not isinstance(value, date):
        return f"must be a date, got {type(value).__name__}"
    return None


def _is_timestamp(value: Any) -> str | None:
    if not isinstance(value, datetime):
        return f"must be a date-time, got {type(value).__name__}"
    if value.tzinfo is None or value.utcoffset() is None:
        return "must carry a time zone (naive date-times are ambiguous)"
    return None


def _is_uuid(value: Any) -> str | None:
    if isinstance(value, uuid.UUID):
        return None
    if isinstance(value, str):
        try:
            uuid.UUID(value)
        except ValueError:
            return f"{value!r} is not a UUID"
        return None
    return f"must be a UUID, got {type(value).__name__}"


_PRIMITIVES: dict[str, Callable[[Any], str | None]] = {
    "null": lambda v: None if v is None else "must be empty (null)",
    "boolean": lambda v: None if isinstance(v, bool) else "must be true or false",
    "int": lambda v: _is_int(v, _INT32),
    "long": lambda v: _is_int(v, _INT64),
    "float": _is_float,
    "double": _is_float,
    "bytes": _kind(bytes, "bytes"),
    "string": _kind(str, "text"),
}
_LOGICAL: dict[str, Callable[[Any], str | None]] = {
    "date": _is_date,
    "timestamp-micros": _is_timestamp,
    "timestamp-millis": _is_timestamp,
    "uuid": _is_uuid,
}
