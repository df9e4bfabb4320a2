"""Turn one source row into a schema payload, driven by the event type's Avro schema.

The mapping says which column feeds which field; the schema says what the field needs (text,
whole number, enum symbol, date, timestamp, list, nested record). Every problem is reported with
the field's path and a reason in plain words; nothing is guessed silently.

Conventions (documented for departments in connectors/mappings/README.md):
- times without a zone are China Standard Time (UTC+8), as every department writes them;
- a birth field (record with precision/date/age_min/age_max) takes a date of any precision or an
  age such as 约12岁; an age is taken as assessed on the day of publishing;
- a place field takes "320102 南京市玄武区..." (six-digit code first) or its two sub-fields;
- list-of-text fields take several values separated by 、 ， , ; ；
"""

# ruff: noqa: RUF001, RUF002 -- full-width punctuation is what Chinese files contain

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.dates import DateFormatError, Precision, parse_age, parse_date
from hub.schema_walk import SchemaVisitor, join, named_types, non_null

MAX_CELL_CHARS = 64 * 1024
CHINA_TZ = dt.timezone(dt.timedelta(hours=8), "CST")
LIST_SEPARATORS = re.compile(r"[、，,;；\n]+")
_PLACE_TEXT = re.compile(r"^\s*(\d{6})\s*[:：\s]?\s*(.*)$", re.DOTALL)
_TRUE = {"1", "true", "yes", "y", "是", "有", "对", "√"}
_FALSE = {"0", "false", "no", "n", "否", "无", "不", "×"}

Schema = Any  # an Avro schema as parsed JSON: str, list (union) or dict


@dataclass(frozen=True)
class RowProblem:
    """One thing wrong with one row: the field (or column) and the reason in plain words."""

    field: str
    reason: str


class ConversionError(ValueError):
    """A cell does not fit its field; the message is the plain-words reason."""


class PayloadBuilder:
    """Builds payloads for one schema; one instance per file."""

    def __init__(self, schema: Schema, *, today: dt.date | None = None) -> None:
        self.schema = schema
        self.names = named_types(schema)
        self.today = today or dt.date.today()
        self._plans: dict[int, list[_FieldPlan]] = {}
        self._converters: dict[int, _Converter] = {}
        self._names: dict[int, frozenset[str]] = {}

    def resolve(self, schema: Schema) -> Schema:
        if isinstance(schema, str) and schema in self.names:
            return self.names[schema]
        if isinstance(schema, dict) and isinstance(schema.get("type"), str | dict | list):
            inner = schema["type"]
            if isinstance(inner, str) and inner in self.names:
                return self.names[inner]
        return schema

    def field_paths(self) -> set[str]:
        """Dotted paths of all fields, for accepting English headers as they are."""
        walk = _FieldPaths(self.names)
        walk.visit(self.schema, 0, "")
        return walk.paths

    def required_paths(self) -> list[str]:
        """Leaf-level paths a row must supply: no default and not nullable, top two levels."""
        walk = _RequiredPaths(self)
        walk.visit(self.schema, 0, "")
        return walk.required

    # -- conversion -------------------------------------------------------------------------

    def build(self, tree: Mapping[str, Any], problems: list[RowProblem]) -> dict[str, Any]:
        """The payload for a tree of raw values keyed by field name (nested dicts, lists)."""
        return self._record(self.resolve(self.schema), tree, "", problems)

    def _non_null(self, schema: Schema) -> Schema:
        if isinstance(schema, list):
            branches = non_null(schema)
            return self.resolve(branches[0]) if len(branches) == 1 else branches
        return schema

    def _plan(self, schema: dict[str, Any]) -> list[_FieldPlan]:
        """Per field, what fills it; made once per record type, then used for every row."""
        key = id(schema)
        plan = self._plans.get(key)
        if plan is None:
            plan = []
            for field in schema["fields"]:
                ftype = self._non_null(self.resolve(field["type"]))
                if _is_birth(ftype):
                    # No birth date or age in the row: the schema's way to say so is UNKNOWN.
                    has_empty, empty = True, _UNKNOWN_BIRTH
                elif "default" in field:
                    has_empty, empty = True, field["default"]
                else:
                    has_empty, empty = _nullable(field["type"]), None
                plan.append(_FieldPlan(field["name"], self.resolve(field["type"]) == "string",
                                       has_empty, empty, isinstance(empty, dict | list),
                                       self._converter(field["type"])))
            self._plans[key] = plan
        return plan

    def _record(
        self, schema: dict[str, Any], tree: Mapping[str, Any], prefix: str,
        problems: list[RowProblem],
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for field in self._plan(schema):
            name = field.name
            raw = tree.get(name)
            if raw is not None and raw == "" and field.is_string:
                # Only the converter itself puts "" in a tree (a place's empty text);
                # empty cells never reach it.
                out[name] = ""
                continue
            if raw is None or _is_empty(raw):  # most fields of a row are not given at all
                if field.has_empty:
                    out[name] = _copy_default(field.empty) if field.copy else field.empty
                else:
                    problems.append(RowProblem(f"{prefix}{name}", "required but empty or missing"))
                continue
            try:
                out[name] = field.convert(raw, f"{prefix}{name}", problems)
            except ConversionError as err:
                problems.append(RowProblem(f"{prefix}{name}", str(err)))
        return out

    def _field_names(self, schema: dict[str, Any]) -> frozenset[str]:
        names = self._names.get(id(schema))
        if names is None:
            names = self._names[id(schema)] = frozenset(f["name"] for f in schema["fields"])
        return names

    def _converter(self, schema: Schema) -> _Converter:
        """The function that converts a raw value for this schema node, made once per node."""
        key = id(schema)
        found = self._converters.get(key)
        if found is None:
            found = self._converters[key] = self._make_converter(schema)
        return found

    def _make_converter(self, schema: Schema) -> _Converter:
        schema = self._non_null(self.resolve(schema))
        if isinstance(schema, list):
            return _failing("this field's schema has several types; it cannot be mapped")
        kind = schema.get("type") if isinstance(schema, dict) else schema
        logical = schema.get("logicalType") if isinstance(schema, dict) else None
        if kind == "record":
            return lambda raw, path, problems: self._record_value(schema, raw, path, problems)
        if kind == "array":
            items = schema["items"]
            return lambda raw, path, problems: self._array(items, raw, path, problems)
        if kind == "enum":
            return lambda raw, path, problems: _enum(schema, raw)
        simple = _LOGICAL_CONVERTERS.get(logical) if isinstance(logical, str) else None
        if simple is None and isinstance(kind, str):
            simple = _CONVERTERS.get(kind)
        if simple is None:
            return _failing(f"fields of Avro type {kind!r} cannot be filled from a file")
        return lambda raw, path, problems: simple(raw)

    def _record_value(
        self, schema: dict[str, Any], raw: Any, path: str, problems: list[RowProblem]
    ) -> dict[str, Any]:
        names = self._field_names(schema)
        if _is_mapping(raw) and "@value" in raw:
            whole = raw["@value"]
            if {"area_code", "text"} <= names:
                match = _PLACE_TEXT.match(_text(whole))
                code = match.group(1) if match else None
                text = match.group(2).strip() if match else _text(whole)
                raw = {"area_code": code, "text": text, **{k: v for k, v in raw.items()
                                                           if k != "@value" and not _is_empty(v)}}
            elif {"precision", "date"} <= names:
                return self._birth(whole)
            else:
                raw = {k: v for k, v in raw.items() if k != "@value"}
        if _is_mapping(raw):
            if {"area_code", "text"} <= names and _is_empty(raw.get("text")):
                # A place given only by its code is complete: the text may be empty.
                raw = {**raw, "text": ""}
            return self._record(schema, raw, path + ".", problems)
        if {"precision", "date", "age_min", "age_max"} <= names:
            return self._birth(raw)
        if {"area_code", "text"} <= names:
            return _place(raw)
        raise ConversionError("needs several values; map columns to its sub-fields")

    def _birth(self, raw: Any) -> dict[str, Any]:
        try:
            partial = parse_date(raw)
        except DateFormatError as date_err:
            try:
                age = parse_age(raw)
            except DateFormatError:
                raise ConversionError(str(date_err)) from None
            return {"precision": "AGE_RANGE", "date": None, "age_min": age.low,
                    "age_max": age.high, "age_assessed_on": self.today}
        if partial.first_day() > self.today:
            raise ConversionError(f"{partial.iso()} is in the future")
        precision = {Precision.DAY: "DAY", Precision.MONTH: "MONTH", Precision.YEAR: "YEAR"}
        return {"precision": precision[partial.precision], "date": partial.first_day(),
                "age_min": None, "age_max": None, "age_assessed_on": None}

    def _array(
        self, items: Schema, raw: Any, path: str, problems: list[RowProblem]
    ) -> list[Any]:
        values = raw if isinstance(raw, list) else [
            p.strip() for p in LIST_SEPARATORS.split(_text(raw)) if p.strip()
        ]
        out = []
        convert = self._converter(items)
        for index, value in enumerate(values, start=1):
            if _is_empty(value):
                continue
            try:
                out.append(convert(value, f"{path}[{index}]", problems))
            except ConversionError as err:
                problems.append(RowProblem(f"{path}[{index}]", str(err)))
        return out


_Converter = Callable[[Any, str, list[RowProblem]], Any]


@dataclass(frozen=True, slots=True)
class _FieldPlan:
    """How one field of a record is filled: its converter, and what an empty cell gives."""

    name: str
    is_string: bool
    has_empty: bool
    empty: Any
    copy: bool  # the empty value is a dict or list: each payload gets its own
    convert: _Converter


def _failing(reason: str) -> _Converter:
    def fail(raw: Any, path: str, problems: list[RowProblem]) -> Any:
        raise ConversionError(reason)

    return fail


class _FieldPaths(SchemaVisitor[int]):
    """Every field's dotted path, through optional fields and lists, six records deep; the
    argument of a visit is the depth."""

    def __init__(self, names: dict[str, Any]) -> None:
        super().__init__(names)
        self.paths: set[str] = set()

    def union(self, branches: list[Schema], depth: int, path: str) -> None:
        rest = non_null(branches)
        if len(rest) == 1:  # an optional field; a choice of types is not mapped from files
            self.visit(rest[0], depth, path)

    def array(self, schema: Mapping[str, Any], depth: int, path: str) -> None:
        self.visit(schema["items"], depth, path)  # a list's items have their list's path

    def map(self, schema: Mapping[str, Any], depth: int, path: str) -> None:
        pass  # no file column fills a map

    def record(self, schema: Mapping[str, Any], depth: int, path: str) -> None:
        if depth > 6:
            return
        for field in schema["fields"]:
            sub = join(path, field["name"])
            self.paths.add(sub)
            self.visit(field["type"], depth + 1, sub)


class _RequiredPaths(SchemaVisitor[int]):
    """Paths a row must fill, in the top two levels of records; the argument is the depth."""

    def __init__(self, builder: PayloadBuilder) -> None:
        super().__init__(builder.names)
        self.builder = builder
        self.required: list[str] = []

    def record(self, schema: Mapping[str, Any], depth: int, path: str) -> None:
        names = {f["name"] for f in schema["fields"]}
        for field in schema["fields"]:
            ftype = self.builder.resolve(field["type"])
            if "default" in field or _nullable(field["type"]):
                continue
            if field["name"] == "text" and "area_code" in names:
                continue  # a place's text may be empty; its code is what is required
            if _is_birth(ftype):
                continue  # an unknown birth date is recorded as precision UNKNOWN
            sub = join(path, field["name"])
            if isinstance(ftype, dict) and ftype.get("type") == "record" and depth < 2:
                self.visit(ftype, depth + 1, sub)
            else:
                self.required.append(sub)


def _nullable(schema: Schema) -> bool:
    return isinstance(schema, list) and "null" in schema


def _is_birth(schema: Schema) -> bool:
    if not (isinstance(schema, dict) and schema.get("type") == "record"):
        return False
    return {"precision", "date", "age_min", "age_max"} <= {f["name"] for f in schema["fields"]}


_UNKNOWN_BIRTH = {"precision": "UNKNOWN", "date": None, "age_min": None, "age_max": None,
                  "age_assessed_on": None}


def _copy_default(value: Any) -> Any:
    if isinstance(value, dict):
        return dict(value)
    return list(value) if isinstance(value, list) else value


def _is_empty(raw: Any) -> bool:
    if raw is None:
        return True
    if isinstance(raw, str):
        return raw.strip() == ""
    if isinstance(raw, Mapping):
        return all(_is_empty(v) for v in raw.values())
    if isinstance(raw, list):
        return False
    return False


def _is_mapping(raw: Any) -> bool:
    # Exact types first: the abstract Mapping check is slow, and most cells are text.
    kind = type(raw)
    return kind is dict or (kind is not str and isinstance(raw, Mapping))


def _text(raw: Any) -> str:
    if raw.__class__ is str:
        text: str = raw
        return text.strip()
    if isinstance(raw, dt.datetime | dt.date):
        return raw.isoformat()
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, Mapping | list):
        raise ConversionError("expected a single value, got a structure")
    return str(raw).strip()


def _whole(raw: Any) -> int:
    if isinstance(raw, bool):
        raise ConversionError(f"{raw!r} is not a whole number")
    if isinstance(raw, int):
        return raw
    text = unicodedata.normalize("NFKC", _text(raw)).replace(",", "")
    text = re.sub(r"(厘米|公分|cm|岁)$", "", text, flags=re.IGNORECASE).strip()
    try:
        number = float(text)
    except ValueError:
        raise ConversionError(f"{_text(raw)!r} is not a whole number") from None
    if not number.is_integer():
        raise ConversionError(f"{_text(raw)!r} is not a whole number")
    return int(number)


def _decimal(raw: Any) -> float:
    try:
        return float(unicodedata.normalize("NFKC", _text(raw)))
    except ValueError:
        raise ConversionError(f"{_text(raw)!r} is not a number") from None


def _boolean(raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    text = unicodedata.normalize("NFKC", _text(raw)).lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConversionError(f"{_text(raw)!r} is not yes/no (write 是 or 否)")


def _enum(schema: dict[str, Any], raw: Any) -> str:
    text = unicodedata.normalize("NFKC", _text(raw)).strip()
    wanted = text.upper().replace("-", "_").replace(" ", "_")
    if wanted in schema["symbols"]:
        return str(wanted)
    allowed = ", ".join(schema["symbols"])
    raise ConversionError(f"{text!r} is not one of {allowed} (add it to the mapping's [values])")


def _full_date(raw: Any) -> dt.date:
    try:
        partial = parse_date(raw)
    except DateFormatError as err:
        raise ConversionError(str(err)) from None
    if partial.precision is not Precision.DAY:
        raise ConversionError(f"{_text(raw)!r} needs the day as well (e.g. 2009-05-31)")
    return partial.first_day()


_TIME = re.compile(r"(\d{1,2})[:时点](\d{1,2})?(?:[:分](\d{1,2}))?秒?")


def _timestamp(raw: Any) -> dt.datetime:
    if isinstance(raw, dt.datetime):
        return raw if raw.tzinfo else raw.replace(tzinfo=CHINA_TZ)
    if isinstance(raw, dt.date):
        return dt.datetime(raw.year, raw.month, raw.day, tzinfo=CHINA_TZ)
    text = unicodedata.normalize("NFKC", _text(raw))
    try:
        parsed = dt.datetime.fromisoformat(text)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA_TZ)
    except ValueError:
        pass
    date_part, _, time_part = text.partition(" ")
    if not time_part:
        match = re.match(r"^(.*?日)(.+)$", text)
        if match:
            date_part, time_part = match.group(1), match.group(2)
    try:
        partial = parse_date(date_part)
    except DateFormatError as err:
        raise ConversionError(f"{text!r} is not a date and time: {err}") from None
    if partial.precision is not Precision.DAY:
        raise ConversionError(f"{text!r} needs at least the day (e.g. 2024-05-01 14:30)")
    hour = minute = second = 0
    if time_part.strip():
        match = _TIME.search(time_part)
        if not match:
            raise ConversionError(f"{time_part.strip()!r} is not a time of day (e.g. 14:30)")
        hour, minute, second = (int(g) if g else 0 for g in match.groups())
    try:
        return dt.datetime(partial.year, partial.month or 1, partial.day or 1, hour, minute,
                           second, tzinfo=CHINA_TZ)
    except ValueError as err:
        raise ConversionError(f"{text!r} is not a valid time: {err}") from None


def _place(raw: Any) -> dict[str, str]:
    text = _text(raw)
    match = _PLACE_TEXT.match(text)
    if not match:
        raise ConversionError(
            f"{text[:40]!r} has no six-digit area code; start it with the code "
            "(e.g. '320102 玄武区...') or map a column to the area_code sub-field"
        )
    return {"area_code": match.group(1), "text": match.group(2).strip()}


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "int": _whole, "long": _whole, "float": _decimal, "double": _decimal, "boolean": _boolean,
    "string": _text,
}
_LOGICAL_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "date": _full_date, "timestamp-micros": _timestamp, "timestamp-millis": _timestamp,
}
