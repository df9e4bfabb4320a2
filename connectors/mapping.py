"""Editable column mappings: which header in a department's file feeds which schema field.

A mapping is a TOML file, one per event type, shipped in connectors/mappings/<event-type>.toml;
a department can copy one, edit it and pass it with `--mapping`. Format:

    event_type = "migrant-record"
    [columns]                     # header as written in the file -> schema field (dotted path)
    "姓名" = "name"
    "户籍地址" = "household_address"
    [values.sex]                  # cell text -> schema value, for the field named after `values.`
    "男" = "MALE"
    [repeated.children]           # a list field filled from numbered columns: {n} = 1, 2, 3 ...
    "随迁子女{n}姓名" = "child.name"
    [defaults]                    # values for fields no column supplies; {participant_id} and
    issuing_unit = "{participant_id}"   # {area_code} stand for the connector's own

Headers are compared after Unicode NFKC normalisation, with spaces removed and case ignored, so
"姓 名", "姓名 " and full-width forms match. A header that is already a schema field name (or a
dotted path to one) is accepted as is, so English-headed files need no mapping at all.
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connectors.convert import LIST_SEPARATORS
from hub.errors import MappingError, PathError
from hub.paths import read_user_bytes

MAPPINGS_DIR = Path(__file__).resolve().parent / "mappings"


def normalise_header(header: str) -> str:
    """The form headers are compared in: NFKC, no whitespace, lower case."""
    text = unicodedata.normalize("NFKC", header)
    return re.sub(r"\s+", "", text).lower()


@dataclass(frozen=True)
class RepeatedGroup:
    """A list-of-records field fed by numbered columns ({n} in the header pattern)."""

    target: str
    patterns: tuple[tuple[re.Pattern[str], str], ...]


@dataclass(frozen=True)
class ColumnMapping:
    """Header-to-field mapping for one event type, plus value translations."""

    event_type: str
    columns: dict[str, str]
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    repeated: tuple[RepeatedGroup, ...] = ()
    defaults: dict[str, str] = field(default_factory=dict)
    source: str = "<built-in>"

    def translates(self, target: str) -> bool:
        """Whether cells for `target` have a [values] table (value_for changes nothing else)."""
        return bool(self.values.get(target) or self.values.get(target.rsplit(".", 1)[-1]))

    def value_for(self, target: str, text: str) -> str | list[str]:
        """The schema value a cell's text stands for, after the mapping's translations.

        A cell listing several values (医疗、心理) is translated item by item into a list.
        """
        table = self.values.get(target) or self.values.get(target.rsplit(".", 1)[-1])
        if not table:
            return text
        whole = table.get(normalise_header(text))
        if whole is not None:
            return whole
        parts = [p.strip() for p in LIST_SEPARATORS.split(text) if p.strip()]
        if len(parts) > 1:
            return [table.get(normalise_header(p), p) for p in parts]
        return text

    def resolve(self, header: str, field_paths: set[str]) -> tuple[str, int | None] | None:
        """(target path, repetition number or None) for a header, or None if unmapped."""
        key = normalise_header(header)
        if key in self.columns:
            return self.columns[key], None
        for group in self.repeated:
            for pattern, sub in group.patterns:
                match = pattern.match(key)
                if match:
                    return f"{group.target}[].{sub}", int(match.group(1))
        plain = header.strip()
        if plain in field_paths:
            return plain, None
        return None


def _pattern(header_pattern: str) -> re.Pattern[str]:
    normalised = normalise_header(header_pattern)
    if "{n}" not in normalised:
        raise MappingError(f"repeated column pattern {header_pattern!r} has no {{n}}")
    before, after = normalised.split("{n}", 1)
    return re.compile(f"^{re.escape(before)}(\\d+){re.escape(after)}$")


def _str_table(raw: object, where: str) -> dict[str, str]:
    if not isinstance(raw, AbcMapping):
        raise MappingError(f"{where} must be a table of \"text\" = \"value\" lines")
    table: dict[str, str] = {}
    for key, value in raw.items():
        if not isinstance(value, str):
            raise MappingError(f"{where}: the value for {key!r} must be text, got {value!r}")
        table[str(key)] = value
    return table


def parse_mapping(data: dict[str, Any], source: str) -> ColumnMapping:
    """A ColumnMapping from the parsed TOML of a mapping file."""
    event_type = data.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise MappingError(f"{source}: 'event_type' must be set to the event type it maps")
    columns = {
        normalise_header(k): v
        for k, v in _str_table(data.get("columns", {}), f"{source} [columns]").items()
    }
    raw_values = data.get("values", {})
    if not isinstance(raw_values, AbcMapping):
        raise MappingError(f"{source}: [values] must hold one table per field")
    values = {
        target: {
            normalise_header(k): v
            for k, v in _str_table(table, f"{source} [values.{target}]").items()
        }
        for target, table in raw_values.items()
    }
    raw_repeated = data.get("repeated", {})
    if not isinstance(raw_repeated, AbcMapping):
        raise MappingError(f"{source}: [repeated] must hold one table per list field")
    groups = []
    for target, table in raw_repeated.items():
        patterns = tuple(
            (_pattern(k), v)
            for k, v in _str_table(table, f"{source} [repeated.{target}]").items()
        )
        groups.append(RepeatedGroup(target, patterns))
    defaults = _str_table(data.get("defaults", {}), f"{source} [defaults]")
    return ColumnMapping(event_type, columns, values, tuple(groups), defaults, source)


def load_mapping(event_type: str, path: Path | None = None) -> ColumnMapping:
    """The mapping in `path`, or the built-in one for `event_type` (empty if there is none)."""
    if path is None:
        path = MAPPINGS_DIR / f"{event_type}.toml"
        if not path.exists():
            return ColumnMapping(event_type, {})
    try:
        raw = read_user_bytes(path, "mapping file")
    except PathError as err:
        raise MappingError(str(err)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise MappingError(f"mapping file {path} is not UTF-8 text: {err}") from err
    except tomllib.TOMLDecodeError as err:
        raise MappingError(f"mapping file {path} is not valid TOML: {err}") from err
    mapping = parse_mapping(data, str(path))
    if mapping.event_type != event_type:
        raise MappingError(
            f"mapping file {path} is for {mapping.event_type!r}, not for {event_type!r}"
        )
    return mapping
