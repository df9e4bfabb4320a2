"""The vocabulary of projections: tables, columns with merge rules, and row changes.

A projection is pure: an event goes in, a list of :class:`Upsert` comes out. Each column says
how a new value merges with the one already in the row, so that events touching the same row
from different publishers (which Kafka may deliver in any order across partitions) give the
same row whatever the order: the live projection and a rebuild from the store then agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any

from hub.errors import ProjectionError
from hub.store import EventRecord

__all__ = ["Column", "Projection", "ProjectionCatalog", "TableSpec", "Upsert"]

SQL_TYPES = frozenset(
    {"text", "bigint", "integer", "boolean", "double precision", "date", "timestamptz", "jsonb"}
)
MERGES = frozenset({"set", "keep", "add", "rank", "max", "latest"})


@dataclass(frozen=True)
class Column:
    """A projection column: SQL type and merge rule.

    merge is one of ``set`` (the newest write wins; for columns only one event type writes),
    ``keep`` (the first non-null value stays), ``add`` (numbers are summed), ``max`` (the
    greatest value stays), ``rank`` (the value latest in ``ranks`` wins, e.g. an alert once
    closed stays closed) or ``latest`` (the value written with the greatest ``by`` column wins;
    ``by`` must be written in the same upsert and use the ``max`` rule).
    """

    name: str
    sql_type: str = "text"
    merge: str = "set"
    ranks: tuple[str, ...] = ()
    by: str = ""

    def __post_init__(self) -> None:
        if self.sql_type not in SQL_TYPES:
            raise ProjectionError(f"column {self.name}: unknown SQL type {self.sql_type!r}")
        if self.merge not in MERGES:
            raise ProjectionError(f"column {self.name}: unknown merge rule {self.merge!r}")
        if (self.merge == "rank") != bool(self.ranks):
            raise ProjectionError(f"column {self.name}: ranks go with the rank merge rule only")
        if (self.merge == "latest") != bool(self.by):
            raise ProjectionError(f"column {self.name}: by goes with the latest merge rule only")

    def normalize(self, value: Any) -> Any:
        """The value as this column's type holds it (ISO text becomes a date or an aware time)."""
        if value is None:
            return None
        try:
            if self.sql_type == "timestamptz":
                moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
                if moment.tzinfo is None:
                    raise ProjectionError(f"column {self.name}: time {value!r} has no zone")
                return moment.astimezone(UTC)
            if self.sql_type == "date":
                if isinstance(value, datetime):
                    return value.date()
                return value if isinstance(value, date) else date.fromisoformat(value)
            if self.sql_type in ("integer", "bigint"):
                return int(value)
            if self.sql_type == "double precision":
                return float(value)
            if self.sql_type == "boolean":
                return bool(value)
        except (TypeError, ValueError) as err:
            raise ProjectionError(
                f"column {self.name}: {value!r} is not a {self.sql_type}"
            ) from err
        return value

    def merged_in_row(self, row: Mapping[str, Any], values: Mapping[str, Any]) -> Any:
        """The value after merging values[name] into row (both before the update)."""
        new = values[self.name]
        if self.merge == "latest":
            old_by, new_by = row.get(self.by), values[self.by]
            if old_by is None or (new_by is not None and new_by >= old_by):
                return new
            return row.get(self.name)
        return self.merged(row.get(self.name), new)

    def merged(self, old: Any, new: Any) -> Any:
        """The value after merging new into old."""
        if self.merge in ("set", "latest"):
            return new
        if self.merge == "keep":
            return old if old is not None else new
        if self.merge == "add":
            return (old or 0) + (new or 0)
        if self.merge == "max":
            if old is None:
                return new
            return old if new is None or old >= new else new
        old_rank = self.ranks.index(old) if old in self.ranks else -1
        new_rank = self.ranks.index(new) if new in self.ranks else -1
        return new if new_rank > old_rank else old


@dataclass(frozen=True)
class TableSpec:
    """A projection table: its key columns (text) and its value columns."""

    name: str
    key: tuple[str, ...]
    value_columns: tuple[Column, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return self.key + tuple(c.name for c in self.value_columns)

    @cached_property
    def _by_name(self) -> dict[str, Column]:
        # Built once (cached_property writes the instance __dict__, which a frozen dataclass
        # allows); the first column of a name wins, as a scan from the front would find it.
        by_name: dict[str, Column] = {}
        for col in self.value_columns:
            by_name.setdefault(col.name, col)
        return by_name

    def column(self, name: str) -> Column:
        col = self._by_name.get(name)
        if col is not None:
            return col
        raise ProjectionError(f"table {self.name} has no value column {name!r}")

    def normalize(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Values converted to their columns' types."""
        return {n: self.column(n).normalize(v) for n, v in values.items()}

    def merge(self, row: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
        """The merged values of a row after an upsert (values already normalized)."""
        return {n: self.column(n).merged_in_row(row, values) for n in values}


@dataclass(frozen=True)
class Upsert:
    """Create the row with this key if missing, then merge these values into it."""

    table: str
    key: Mapping[str, str]
    values: Mapping[str, Any] = field(default_factory=dict)


Handler = Callable[[EventRecord], Sequence[Upsert]]


@dataclass(frozen=True)
class Projection:
    """A named projection: the tables it owns and one handler per event type it reads."""

    name: str
    tables: tuple[TableSpec, ...]
    handlers: Mapping[str, Handler]

    def project(self, event: EventRecord) -> list[Upsert]:
        """Row changes for one event (empty for event types this projection ignores)."""
        handler = self.handlers.get(event.event_type)
        if handler is None:
            return []
        changes = list(handler(event))
        owned = {t.name: t for t in self.tables}
        for change in changes:
            spec = owned.get(change.table)
            if spec is None:
                raise ProjectionError(
                    f"{self.name} wrote to a table it does not own: {change.table}"
                )
            if set(change.key) != set(spec.key):
                raise ProjectionError(f"{change.table}: key must be exactly {spec.key}")
            for name in change.values:
                col = spec.column(name)
                if col.by and col.by not in change.values:
                    raise ProjectionError(
                        f"{change.table}.{name} needs {col.by} in the same upsert"
                    )
        return changes


class ProjectionCatalog:
    """Every projection of the hub, looked up by name or by table."""

    def __init__(self, projections: Sequence[Projection]) -> None:
        self._projections = {p.name: p for p in projections}
        self._tables: dict[str, TableSpec] = {}
        for p in projections:
            for t in p.tables:
                if t.name in self._tables:
                    raise ProjectionError(f"table {t.name} is owned by two projections")
                self._tables[t.name] = t

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._projections)

    def projection(self, name: str) -> Projection:
        try:
            return self._projections[name]
        except KeyError:
            known = ", ".join(self._projections)
            raise ProjectionError(f"unknown projection {name!r} (known: {known})") from None

    def table(self, name: str) -> TableSpec:
        try:
            return self._tables[name]
        except KeyError:
            raise ProjectionError(f"unknown projection table {name!r}") from None

    def tables(self) -> tuple[TableSpec, ...]:
        return tuple(self._tables.values())
