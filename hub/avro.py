"""Avro binary encoding of payloads, and field-by-field validation with plain-word reasons.

fastavro's own validation stops at the first error and names it in its own terms; a
connector needs every problem of a row, each with a dotted field path. The checks of a schema
are compiled once into nested functions, so a payload is checked without walking the schema.
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
from hub.schema_walk import PRIMITIVES

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
    problems: list[FieldProblem] = []
    _checker(sv, event_types)(payload, "", problems)
    return problems


# A compiled check: (value, its path, the list its problems are appended to).
_Check = Callable[[Any, str, list[FieldProblem]], None]
_CHECKERS: dict[tuple[int, tuple[str, ...]], tuple[Any, _Check]] = {}


def _checker(sv: SchemaVersion, event_types: list[str] | None) -> _Check:
    """The schema's check, compiled once: walking the schema for every payload cost more
    than the checks themselves (a connector validates every row of a file)."""
    key = (id(sv.parsed), tuple(event_types or ()))
    found = _CHECKERS.get(key)
    if found is None or found[0] is not sv.parsed:
        found = (sv.parsed, _Compiler(sv.named, set(event_types or ())).compile(sv.parsed))
        _CHECKERS[key] = found
    return found[1]


class _Compiler:
    """Turns a schema into nested closures, one per node; a named type is compiled once."""

    def __init__(self, named: Mapping[str, Any], event_types: set[str]) -> None:
        self.named = named
        self.event_types = event_types
        self._records: dict[int, _Check] = {}

    def compile(self, schema: Any) -> _Check:
        if isinstance(schema, str):
            if schema in PRIMITIVES:
                return _primitive(schema)
            return self.compile(self.named[schema])
        if isinstance(schema, list):
            return self._union(schema)
        logical = _LOGICAL.get(schema.get("logicalType", ""))
        if logical is not None:
            return _reasoned(logical, _LOGICAL_PLAIN.get(schema["logicalType"]))
        kind = schema["type"]
        if kind == "record":
            return self._record(schema)
        if kind == "enum":
            return _enum(schema["symbols"])
        if kind == "array":
            return _array(self.compile(schema["items"]))
        if kind == "map":
            return _map(self.compile(schema["values"]))
        if kind == "fixed":
            return _fixed(schema["size"])
        return self.compile(kind)  # {"type": "long"}, or a type nested as {"type": {...}}

    def _union(self, branches: list[Any]) -> _Check:
        nullable = "null" in branches
        if len(branches) == 2 and branches[0] == "null":
            # The common optional field: one branch, whose problems are kept whatever they are.
            only = self.compile(branches[1])

            def optional(value: Any, path: str, problems: list[FieldProblem]) -> None:
                if value is not None:
                    only(value, path, problems)

            return optional
        choices = [self.compile(b) for b in branches if b != "null"]

        def union(value: Any, path: str, problems: list[FieldProblem]) -> None:
            if value is None:
                if not nullable:
                    problems.append(FieldProblem(path, "is required"))
                return
            attempts = []
            for choice in choices:
                trial: list[FieldProblem] = []
                choice(value, path, trial)
                if all(not p.blocking for p in trial):
                    problems.extend(trial)
                    return
                attempts.append(trial)
            if len(attempts) == 1:
                problems.extend(attempts[0])
            else:
                problems.append(FieldProblem(path, "matches none of the allowed types"))

        return union

    def _record(self, schema: Mapping[str, Any]) -> _Check:
        found = self._records.get(id(schema))
        if found is not None:
            return found  # met again, or a recursive type
        fields: list[tuple[str, _Check, bool, bool]] = []
        known = frozenset(f["name"] for f in schema["fields"])
        rule = _RECORD_RULES.get(schema["name"].rsplit(".", 1)[-1])
        domain = self._domain_field

        def record(value: Any, path: str, problems: list[FieldProblem]) -> None:
            if type(value) is not dict and not isinstance(value, Mapping):
                problems.append(FieldProblem(
                    path, f"must be a record (mapping), got {type(value).__name__}"))
                return
            prefix = f"{path}." if path else ""
            for name, check, has_default, is_domain in fields:
                if name not in value:
                    if not has_default:
                        problems.append(FieldProblem(prefix + name, "is required"))
                    continue
                item = value[name]
                if is_domain:
                    before = len(problems)
                    check(item, prefix + name, problems)
                    if len(problems) == before:
                        domain(name, item, prefix + name, problems)
                else:
                    check(item, prefix + name, problems)
            if len(value) != len(known) or not known.issuperset(value):
                for extra in sorted(set(value) - known, key=str):
                    problems.append(FieldProblem(prefix + str(extra),
                                                 "is not a field of this schema"))
            if rule is not None and not any(
                p.field.startswith(prefix) for p in problems if p.blocking
            ):
                rule(problems, value, prefix)

        self._records[id(schema)] = record
        fields.extend((f["name"], self.compile(f["type"]), "default" in f,
                       f["name"] in _DOMAIN_FIELDS) for f in schema["fields"])
        return record

    def _domain_field(self, name: str, value: Any, path: str,
                      problems: list[FieldProblem]) -> None:
        if name in _PARTICIPANT_FIELDS:
            for i, pid in enumerate(value if isinstance(value, list) else [value]):
                problem = participant_problem(pid)
                if problem:
                    problems.append(FieldProblem(
                        f"{path}[{i}]" if isinstance(value, list) else path, problem))
        elif name in _JURISDICTION_FIELDS or name == "area_code":
            problem = area_code_problem(value, allow_national=name == "jurisdiction")
            if problem:
                problems.append(FieldProblem(path, problem))
        elif name == "event_type" and self.event_types and value not in self.event_types:
            problems.append(FieldProblem(path, f"unknown event type {value!r}"))
        elif name == "id_number" and value is not None:
            verdict = check_resident_id(value)
            if not verdict.valid:
                problems.append(FieldProblem(
                    path, f"identity number kept but flagged: {verdict.reason}", False))


def _reasoned(reason_of: Callable[[Any], str | None], plain: type | None) -> _Check:
    """A check by a reason function; values of the exact type `plain` need no call."""

    def check(value: Any, path: str, problems: list[FieldProblem]) -> None:
        if type(value) is plain:
            return
        reason = reason_of(value)
        if reason:
            problems.append(FieldProblem(path, reason))

    return check


def _primitive(name: str) -> _Check:
    if name in ("int", "long"):
        low, high = _INT32 if name == "int" else _INT64

        def whole(value: Any, path: str, problems: list[FieldProblem]) -> None:
            if type(value) is int and low <= value <= high:
                return
            reason = _is_int(value, (low, high))
            if reason:
                problems.append(FieldProblem(path, reason))

        return whole
    return _reasoned(_PRIMITIVES[name], _PRIMITIVE_PLAIN.get(name))


def _enum(symbols: list[str]) -> _Check:
    def enum(value: Any, path: str, problems: list[FieldProblem]) -> None:
        if value not in symbols:
            problems.append(FieldProblem(path, f"{value!r} is not one of {', '.join(symbols)}"))

    return enum


def _array(items: _Check) -> _Check:
    def array(value: Any, path: str, problems: list[FieldProblem]) -> None:
        if not isinstance(value, list | tuple):
            problems.append(FieldProblem(path, f"must be a list, got {type(value).__name__}"))
            return
        for i, item in enumerate(value):
            items(item, f"{path}[{i}]", problems)

    return array


def _map(values: _Check) -> _Check:
    def mapping(value: Any, path: str, problems: list[FieldProblem]) -> None:
        if not isinstance(value, Mapping):
            problems.append(FieldProblem(path, f"must be a mapping, got {type(value).__name__}"))
            return
        for key, item in value.items():
            values(item, f"{path}.{key}", problems)

    return mapping


def _fixed(size: int) -> _Check:
    def fixed(value: Any, path: str, problems: list[FieldProblem]) -> None:
        if not isinstance(value, bytes) or len(value) != size:
            problems.append(FieldProblem(path, f"must be exactly {size} bytes"))

    return fixed


# Fields _domain_field looks at: for every other field it does nothing.
_DOMAIN_FIELDS = _PARTICIPANT_FIELDS | _JURISDICTION_FIELDS | {"area_code", "event_type",
                                                               "id_number"}


def _bad(out: list[FieldProblem], path: str, reason: str) -> None:
    out.append(FieldProblem(path, reason))


def _birth_rule(out: list[FieldProblem], value: Mapping[str, Any], prefix: str) -> None:
    precision, day = value.get("precision"), value.get("date")
    lo, hi = value.get("age_min"), value.get("age_max")
    if precision in ("DAY", "MONTH", "YEAR") and day is None:
        _bad(out, prefix + "date", f"is required when precision is {precision}")
    if precision == "MONTH" and day is not None and day.day != 1:
        _bad(out, prefix + "date", "must be the first day of the month for MONTH precision")
    if precision == "YEAR" and day is not None and (day.month, day.day) != (1, 1):
        _bad(out, prefix + "date", "must be 1 January for YEAR precision")
    if precision == "AGE_RANGE":
        if lo is None or hi is None:
            _bad(out, prefix + "age_min", "age_min and age_max are required for AGE_RANGE")
        elif not 0 <= lo <= hi <= 130:
            _bad(out, prefix + "age_min",
                 f"age range {lo}-{hi} must satisfy 0 <= min <= max <= 130")


def _locus_rule(out: list[FieldProblem], value: Mapping[str, Any], prefix: str) -> None:
    alleles = value.get("alleles") or []
    if len(alleles) != 2:
        _bad(out, prefix + "alleles", f"must hold exactly two alleles, got {len(alleles)}")
    for i, allele in enumerate(alleles):
        if not _ALLELE.match(allele):
            _bad(out, f"{prefix}alleles[{i}]", f"allele {allele!r} is not like '9' or '9.3' or X/Y")


def _key_rule(out: list[FieldProblem], value: Mapping[str, Any], prefix: str) -> None:
    if len(value.get("public_key", b"")) != 32:
        _bad(out, prefix + "public_key", "an Ed25519 public key is exactly 32 bytes")


_RECORD_RULES: dict[str, Callable[[list[FieldProblem], Mapping[str, Any], str], None]] = {
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
# Values of these exact types always pass their check, without calling it.
_PRIMITIVE_PLAIN: dict[str, type] = {"null": type(None), "boolean": bool, "float": float,
                                     "double": float, "bytes": bytes, "string": str}
_LOGICAL_PLAIN: dict[str, type] = {"date": date, "uuid": uuid.UUID}
