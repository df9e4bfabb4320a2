"""Projection storage: the interface every projection writes through, and an in-memory one.

Each event's row changes and the record that the projection applied it happen in one unit of
work with the input position, like the event store's (see :mod:`hub.store`). The PostgreSQL
implementation is ``processors/pg_projections.py``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from hub.store import to_jsonable

__all__ = [
    "InMemoryProjectionStore",
    "ProjectionStore",
    "ProjectionTxn",
    "checksum_rows",
]


class ProjectionTxn(Protocol):
    """One unit of work on the projections; all or nothing."""

    def claim(self, consumer: str, topic: str, partition: int) -> int:
        """Lock this input partition for the consumer; the last processed offset or -1."""

    def advance(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        """Record that the consumer processed this partition up to and including offset."""

    def applied(self, projection: str, event_ids: Iterable[str]) -> set[str]:
        """Of the given ids, those the projection has already applied."""

    def apply(self, projection: str, event_id: str, changes: Sequence[Any]) -> None:
        """Apply one event's row changes and record the event as applied, together."""

    def fail(self, projection: str, event_id: str, detail: str) -> None:
        """Record that the projection could not apply the event, and count it as applied."""

    def reset(self, projection: str) -> None:
        """Empty the projection's tables and forget what it applied (for a rebuild)."""


class ProjectionStore(Protocol):
    """Where projections keep their rows."""

    def transaction(self) -> Any:
        """A context manager yielding a :class:`ProjectionTxn`, committed on clean exit."""

    def rows(self, table: str) -> list[dict[str, Any]]:
        """Every row of a projection table, in key order, as plain JSON-able values."""

    def count(self, table: str) -> int:
        """How many rows a projection table holds."""

    def failures(self) -> list[tuple[str, str, str]]:
        """(projection, event id, detail) of every event a projection could not apply."""


def checksum_rows(rows: Iterable[Mapping[str, Any]]) -> str:
    """A content checksum of rows that ignores their order (sha256 over sorted canonical JSON)."""
    lines = sorted(
        json.dumps(to_jsonable(r), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        for r in rows
    )
    digest = hashlib.sha256()
    for line in lines:
        digest.update(line.encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


@dataclass
class _ProjectionState:
    tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = field(default_factory=dict)
    applied: dict[str, set[str]] = field(default_factory=dict)
    failures: dict[tuple[str, str], str] = field(default_factory=dict)
    tracking: dict[tuple[str, str, int], int] = field(default_factory=dict)


class _InMemoryProjectionTxn:
    def __init__(self, state: _ProjectionState, catalog: Any) -> None:
        self._s = state
        self._catalog = catalog

    def claim(self, consumer: str, topic: str, partition: int) -> int:
        return self._s.tracking.get((consumer, topic, partition), -1)

    def advance(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        key = (consumer, topic, partition)
        self._s.tracking[key] = max(offset, self._s.tracking.get(key, -1))

    def applied(self, projection: str, event_ids: Iterable[str]) -> set[str]:
        done = self._s.applied.get(projection, set())
        return {i for i in event_ids if i in done}

    def apply(self, projection: str, event_id: str, changes: Sequence[Any]) -> None:
        done = self._s.applied.setdefault(projection, set())
        if event_id in done:
            return
        for change in changes:
            spec = self._catalog.table(change.table)
            key = tuple(change.key[c] for c in spec.key)
            rows = self._s.tables.setdefault(change.table, {})
            row = rows.get(key)
            if row is None:
                row = {c: None for c in spec.columns}
                row.update(change.key)
                rows[key] = row
            row.update(spec.merge(row, spec.normalize(change.values)))
        done.add(event_id)

    def fail(self, projection: str, event_id: str, detail: str) -> None:
        self._s.failures[(projection, event_id)] = detail
        self._s.applied.setdefault(projection, set()).add(event_id)

    def reset(self, projection: str) -> None:
        for table in self._catalog.projection(projection).tables:
            self._s.tables.pop(table.name, None)
        self._s.applied.pop(projection, None)
        for key in [k for k in self._s.failures if k[0] == projection]:
            del self._s.failures[key]


class InMemoryProjectionStore:
    """A :class:`ProjectionStore` in process memory, for unit tests."""

    def __init__(self) -> None:
        # Imported here: hub.projections imports this module, so a top-level import would loop.
        from hub.projections import CATALOG

        self._catalog = CATALOG
        self._state = _ProjectionState()
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[_InMemoryProjectionTxn]:
        with self._lock:
            draft = copy.deepcopy(self._state)
            yield _InMemoryProjectionTxn(draft, self._catalog)
            self._state = draft

    def rows(self, table: str) -> list[dict[str, Any]]:
        self._catalog.table(table)  # raises on an unknown table, like the database would
        rows = self._state.tables.get(table, {})
        return [to_jsonable(rows[k]) for k in sorted(rows, key=_sort_key)]

    def count(self, table: str) -> int:
        self._catalog.table(table)
        return len(self._state.tables.get(table, {}))

    def failures(self) -> list[tuple[str, str, str]]:
        return [(p, e, d) for (p, e), d in sorted(self._state.failures.items())]


def _sort_key(key: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple(str(k) for k in key)
