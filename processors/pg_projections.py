"""PostgreSQL implementation of the projection store: upserts with per-column merge rules.

Same contract as ``hub.projection_store.InMemoryProjectionStore``; each column's merge rule
(``hub.projections.model.Column``) becomes an ``ON CONFLICT DO UPDATE`` expression, so the
database merges exactly as the in-memory store does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from itertools import groupby
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from hub.projections import CATALOG
from hub.projections.model import Column, ProjectionCatalog, TableSpec
from hub.store import to_jsonable
from processors import pg_tracking
from processors.pg_store import PgConnection

__all__ = ["PgProjectionStore"]


def _merge_sql(col: Column) -> sql.Composable:
    c = sql.Identifier(col.name)
    old = sql.SQL("t.{}").format(c)
    new = sql.SQL("EXCLUDED.{}").format(c)
    if col.merge == "set":
        return new
    if col.merge == "keep":
        return sql.SQL("COALESCE({}, {})").format(old, new)
    if col.merge == "add":
        return sql.SQL("COALESCE({}, 0) + COALESCE({}, 0)").format(old, new)
    if col.merge == "max":
        return sql.SQL("GREATEST({}, {})").format(old, new)
    if col.merge == "rank":
        ranks = sql.SQL("ARRAY[{}]::text[]").format(
            sql.SQL(", ").join(sql.Literal(r) for r in col.ranks)
        )
        return sql.SQL(
            "CASE WHEN COALESCE(array_position({r}, {new}), 0) > "
            "COALESCE(array_position({r}, {old}), 0) THEN {new} ELSE {old} END"
        ).format(r=ranks, new=new, old=old)
    by = sql.Identifier(col.by)
    return sql.SQL(
        "CASE WHEN t.{by} IS NULL OR (EXCLUDED.{by} IS NOT NULL AND EXCLUDED.{by} >= t.{by}) "
        "THEN {new} ELSE {old} END"
    ).format(by=by, new=new, old=old)


def _upsert_sql(spec: TableSpec, names: tuple[str, ...]) -> sql.Composed:
    columns = spec.key + names
    insert = sql.SQL("INSERT INTO {} AS t ({}) VALUES ({}) ON CONFLICT ({}) ").format(
        sql.Identifier(spec.name),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)),
        sql.SQL(", ").join(map(sql.Identifier, spec.key)),
    )
    if not names:
        return insert + sql.SQL("DO NOTHING")
    sets = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.Identifier(n), _merge_sql(spec.column(n))) for n in names
    )
    return insert + sql.SQL("DO UPDATE SET ") + sets


# Every applied mark of a batch in one statement (binary arrays: nothing to quote or escape).
_MARK_APPLIED = (
    "INSERT INTO proj_applied (projection, event_id) "
    "SELECT * FROM unnest(%b::text[], %b::text[])"
)


class _PgProjectionTxn:
    """Writes are buffered and sent in one pipeline before the next read and before commit."""

    def __init__(self, cur: psycopg.Cursor[Any], store: PgProjectionStore) -> None:
        self._cur = cur
        self._store = store
        self._pending: list[tuple[Any, Sequence[Any]]] = []
        self._marks: list[tuple[str, str]] = []

    def flush(self) -> None:
        if not self._pending and not self._marks:
            return
        pending, self._pending = self._pending, []
        marks, self._marks = self._marks, []
        with self._cur.connection.pipeline():
            if marks:
                self._cur.execute(_MARK_APPLIED, ([p for p, _ in marks], [e for _, e in marks]))
            # A run of rows under the same statement goes through one executemany (one call
            # instead of one per row); runs stay in order, so merges see the rows in order.
            for statement, run in groupby(pending, key=itemgetter(0)):
                self._cur.executemany(statement, [params for _, params in run])

    def claim(self, consumer: str, topic: str, partition: int) -> int:
        self.flush()
        return pg_tracking.claim(self._cur, consumer, topic, partition)

    def advance(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        self.flush()
        pg_tracking.advance(self._cur, consumer, topic, partition, offset)

    def claim_many(
        self, consumer: str, parts: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        self.flush()
        return pg_tracking.claim_many(self._cur, consumer, parts)

    def advance_many(self, consumer: str, offsets: dict[tuple[str, int], int]) -> None:
        self.flush()
        pg_tracking.advance_many(self._cur, consumer, offsets)

    def applied(self, projection: str, event_ids: Iterable[str]) -> set[str]:
        self.flush()
        ids = list(event_ids)
        if not ids:
            return set()
        self._cur.execute(
            "SELECT event_id FROM proj_applied WHERE projection = %s AND event_id = ANY(%s)",
            (projection, ids),
        )
        return {r[0] for r in self._cur.fetchall()}

    def apply(self, projection: str, event_id: str, changes: Sequence[Any]) -> None:
        # No ON CONFLICT: callers check applied() first under the partition lock, so a second
        # application can only be a bug, and it must abort the batch rather than double a count.
        self._marks.append((projection, event_id))
        for change in changes:
            spec = self._store.catalog.table(change.table)
            values = spec.normalize(change.values)
            names = tuple(values)
            params: list[Any] = [change.key[k] for k in spec.key]
            for n in names:
                v = values[n]
                params.append(Jsonb(to_jsonable(v)) if spec.column(n).sql_type == "jsonb" else v)
            self._pending.append((self._store.upsert(spec, names), params))

    def fail(self, projection: str, event_id: str, detail: str) -> None:
        self._pending.append(
            (
                "INSERT INTO proj_applied (projection, event_id, failure) VALUES (%s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                (projection, event_id, detail),
            )
        )

    def reset(self, projection: str) -> None:
        self.flush()
        tables = [t.name for t in self._store.catalog.projection(projection).tables]
        idents = sql.SQL(", ").join(map(sql.Identifier, tables))
        # Live projection writers wait until the rebuild commits, then find their events applied.
        self._cur.execute(sql.SQL("LOCK TABLE proj_applied, {} IN EXCLUSIVE MODE").format(idents))
        self._cur.execute(sql.SQL("TRUNCATE {}").format(idents))
        self._cur.execute("DELETE FROM proj_applied WHERE projection = %s", (projection,))


class PgProjectionStore:
    """The :class:`hub.projection_store.ProjectionStore` in PostgreSQL (migration 0011 tables)."""

    def __init__(self, dsn: str, catalog: ProjectionCatalog = CATALOG) -> None:
        self.db = PgConnection(dsn)
        self.catalog = catalog
        self._upserts: dict[tuple[str, tuple[str, ...]], str] = {}

    def close(self) -> None:
        self.db.close()

    def upsert(self, spec: TableSpec, names: tuple[str, ...]) -> str:
        key = (spec.name, names)
        statement = self._upserts.get(key)
        if statement is None:
            # Rendered once: composing the SQL again for every row cost more than the insert.
            statement = _upsert_sql(spec, names).as_string(self.db.get())
            self._upserts[key] = statement
        return statement

    @contextmanager
    def transaction(self) -> Iterator[_PgProjectionTxn]:
        with self.db.transaction() as cur:
            txn = _PgProjectionTxn(cur, self)
            yield txn
            txn.flush()

    def rows(self, table: str) -> list[dict[str, Any]]:
        spec = self.catalog.table(table)
        query = sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
            sql.SQL(", ").join(map(sql.Identifier, spec.columns)),
            sql.Identifier(spec.name),
            sql.SQL(", ").join(map(sql.Identifier, spec.key)),
        )
        with self.db.transaction() as cur:
            cur.row_factory = dict_row  # per-query row shape
            cur.execute(query)
            return [to_jsonable(r) for r in cur.fetchall()]

    def count(self, table: str) -> int:
        spec = self.catalog.table(table)
        with self.db.cursor() as cur:
            cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(spec.name)))
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def failures(self) -> list[tuple[str, str, str]]:
        with self.db.cursor() as cur:
            cur.execute(
                "SELECT projection, event_id, failure FROM proj_applied "
                "WHERE failure IS NOT NULL ORDER BY projection, event_id"
            )
            return [(r[0], r[1], r[2]) for r in cur.fetchall()]
