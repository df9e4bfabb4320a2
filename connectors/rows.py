"""From a SourceRow to a checked payload: mapping, conversion, identity flags, schema rules."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.convert import MAX_CELL_CHARS, PayloadBuilder, RowProblem, Schema
from connectors.mapping import ColumnMapping
from connectors.readers import SourceRow
from hub.errors import MappingError
from hub.identity import annotate_identity_numbers
from hub.limits import text_problem

# The contract's schema validation, called after conversion: (payload) -> [(field, reason)].
Validator = Callable[[dict[str, Any]], Sequence[tuple[str, str]]]


def _set_path(tree: dict[str, Any], parts: list[str], value: Any) -> bool:
    """Put `value` at a dotted path unless something is already there (first column wins).

    A whole-field cell and sub-field cells may meet (an address column beside an area-code
    column): the whole-field cell is then kept under "@value" for the converter to merge.
    """
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            child = node[part] = {"@value": child}
        node = child
    last = parts[-1]
    if isinstance(node.get(last), dict) and not isinstance(value, dict):
        if "@value" in node[last]:
            return False
        node[last]["@value"] = value
        return True
    if last in node:
        return False
    node[last] = value
    return True


def _lists_from_groups(tree: dict[str, Any], groups: set[str]) -> None:
    for group in groups:
        parts = group.split(".")
        node: Any = tree
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict) and isinstance(node.get(parts[-1]), dict):
            numbered = node[parts[-1]]
            node[parts[-1]] = [numbered[n] for n in sorted(numbered)]


@dataclass(frozen=True, slots=True)
class _Cell:
    """Where the cells of one column go in the payload tree."""

    parts: list[str]  # the dotted path, split; a repeated group's number is one of the parts
    group: str | None  # the list field a numbered column fills
    target: str  # the field whose [values] table translates the cell
    translated: bool  # whether the mapping has such a table


class RowConverter:
    """Converts rows of one file for one event type."""

    def __init__(
        self,
        mapping: ColumnMapping,
        schema: Schema,
        *,
        context: Mapping[str, str],
        validator: Validator | None = None,
        today: dt.date | None = None,
    ) -> None:
        self.mapping = mapping
        self.builder = PayloadBuilder(schema, today=today)
        self.paths = self.builder.field_paths()
        self.validator = validator
        self.defaults = {k: v.format_map(dict(context)) for k, v in mapping.defaults.items()}
        # Text from the mapping file reaches payloads without a cell check: checked once here.
        unstorable = text_problem({"defaults": self.defaults, "values": mapping.values})
        if unstorable:
            raise MappingError(f"{mapping.source}: {unstorable}, which the hub cannot store")
        self._resolved: dict[tuple[str, ...], dict[str, tuple[str, int | None] | None]] = {}
        self._cells: dict[tuple[str, ...], dict[str, _Cell | None]] = {}
        self.unused_headers: set[str] = set()
        self.missing_fields: dict[str, str] = {}

    def _resolve_headers(
        self, headers: tuple[str, ...]
    ) -> dict[str, tuple[str, int | None] | None]:
        known = self._resolved.get(headers)
        if known is not None:
            return known
        resolved = {h: self.mapping.resolve(h, self.paths) for h in headers}
        self._resolved[headers] = resolved
        self.unused_headers.update(h for h, t in resolved.items() if t is None and h)
        targets = {t[0] for t in resolved.values() if t is not None} | set(self.defaults)
        for required in self.builder.required_paths():
            if not any(
                t == required or t.startswith(required + ".") or required.startswith(t + ".")
                for t in targets
            ):
                self.missing_fields[required] = self.expected_headers(required)
        return resolved

    def _cells_of(self, headers: tuple[str, ...]) -> dict[str, _Cell | None]:
        """Where each header's cells go, worked out once per header row."""
        known = self._cells.get(headers)
        if known is None:
            known = {}
            for header, target in self._resolve_headers(headers).items():
                if target is None:
                    known[header] = None
                    continue
                path, number = target
                if number is None:
                    known[header] = _Cell(path.split("."), None, path.replace("[]", ""),
                                          self.mapping.translates(path.replace("[]", "")))
                else:
                    group, sub = path.split("[].", 1)
                    parts = [*group.split("."), str(number).zfill(6), *sub.split(".")]
                    known[header] = _Cell(parts, group, path.replace("[]", ""),
                                          self.mapping.translates(path.replace("[]", "")))
            self._cells[headers] = known
        return known

    def expected_headers(self, path: str) -> str:
        """Plain words naming the headers that would feed a field."""
        headers = [
            h for h, t in self.mapping.columns.items() if t == path or path.startswith(t + ".")
        ]
        named = " or ".join(repr(h) for h in headers[:3])
        return (f"the file has no column for {path} (use a header {named} or {path!r})"
                if named else f"the file has no column for {path} (use the header {path!r})")

    def header_problems(self, headers: Sequence[str]) -> list[str]:
        """Messages about required fields no column supplies (empty when the header is fine)."""
        self._resolve_headers(tuple(headers))
        return sorted(set(self.missing_fields.values()))

    def note_headers(self, headers: Iterable[str]) -> None:
        """Take note of a row's headers (unused columns, missing fields) without converting."""
        self._resolve_headers(tuple(headers))

    def convert(self, row: SourceRow) -> tuple[dict[str, Any] | None, list[RowProblem]]:
        """The checked payload of a row, or None and the reasons it cannot be published."""
        if row.problem is not None:
            return None, [RowProblem("(row)", row.problem)]
        problems: list[RowProblem] = []
        cells = self._cells_of(tuple(row.cells))
        tree: dict[str, Any] = {}
        groups: set[str] = set()
        for header, value in row.cells.items():
            is_text = value.__class__ is str or isinstance(value, str)
            if value is None or (is_text and not value.strip()):
                continue
            if is_text and len(value) > MAX_CELL_CHARS:
                problems.append(RowProblem(
                    header,
                    f"the cell holds {len(value)} characters; "
                    f"at most {MAX_CELL_CHARS} are accepted",
                ))
                continue
            cell = cells[header]
            if cell is None:
                continue
            unstorable = text_problem(value, header) if not is_text or "\x00" in value else None
            if unstorable:
                problems.append(RowProblem(header, f"{unstorable}, which the hub cannot store"))
                continue
            if is_text:
                value = value.strip()
                if cell.translated:
                    value = self.mapping.value_for(cell.target, value)
            if cell.group is not None:
                groups.add(cell.group)
            _set_path(tree, cell.parts, value)
        for path, value in self.defaults.items():
            _set_path(tree, path.split("."), value)
        _lists_from_groups(tree, groups)
        if problems:
            return None, problems
        payload = self.builder.build(tree, problems)
        for index, problem in enumerate(problems):
            if problem.field in self.missing_fields:
                problems[index] = RowProblem(problem.field, self.missing_fields[problem.field])
        if problems:
            return None, problems
        # Bad identity numbers are kept and flagged in the payload (contract rule), not rejected.
        annotate_identity_numbers(payload)
        if self.validator is not None:
            problems.extend(RowProblem(f, r) for f, r in self.validator(payload))
        if problems:
            return None, problems
        return payload, []
