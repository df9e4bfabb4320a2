"""PostgreSQL implementation of the event store (projections: ``processors.pg_projections``).

Same contract as the in-memory stores in ``hub.store`` (one test suite runs against both). Each
store owns one connection, reconnects after the database comes back, and reports an unreachable
database as :class:`hub.errors.StoreUnavailable` so callers can wait and retry the same batch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from hub.atrest import case_of
from hub.config import load_settings
from hub.errors import StoreError, StoreUnavailable
from hub.reasons import AuditOutcome, RejectReason, SequenceIssue
from hub.store import (
    SUBJECT_FIELDS,
    CaseReadAudit,
    DisclosureAudit,
    EventRecord,
    PublisherSequence,
    QuarantineEntry,
    QuarantineStatus,
    SequenceAnomaly,
    StoredEvent,
)
from processors import pg_tracking
from processors.pg_keys import CaseKeyring, keyring_for
from processors.pg_sealed import (
    SEALED_COLUMNS,
    SHRED_EVENT,
    apply_shreds,
    open_quarantine_wire,
    open_record,
    seal_quarantine,
    sealed_params,
)

__all__ = ["QUARANTINE_COLUMNS", "PgConnection", "PgEventStore", "quarantine_of_row"]

_EVENT_COLUMNS = (
    "event_id, event_type, schema_version, schema_fingerprint, publisher_id, key_id, sequence, "
    "occurred_at, published_at, payload, signature, wire, body"
)
# Read with every event: the case sealing it (if any) and its sealed body (processors.pg_sealed).
_READ_COLUMNS = f"{_EVENT_COLUMNS}, sealed_case, sealed_body"


class PgConnection:
    """One lazily (re)opened connection; database errors become store errors."""

    def __init__(self, dsn: str, *, connect_timeout: int = 5) -> None:
        self._dsn = dsn
        self._timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self.lock = threading.RLock()

    def get(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._conn.closed:
            try:
                self._conn = psycopg.connect(
                    self._dsn,
                    autocommit=True,
                    connect_timeout=self._timeout,
                    options="-c timezone=UTC",
                )
            except psycopg.OperationalError as err:
                raise StoreUnavailable(f"cannot reach PostgreSQL: {err}") from err
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor inside one transaction, committed on clean exit."""
        with self.lock:
            conn = self.get()
            try:
                with conn.transaction(), conn.cursor() as cur:
                    yield cur
            except psycopg.OperationalError as err:
                # The connection is unusable after a server restart; open a fresh one next time.
                self.close()
                raise StoreUnavailable(f"PostgreSQL failed mid-transaction: {err}") from err
            except psycopg.Error as err:
                raise StoreError(f"PostgreSQL refused: {err}") from err

    @contextmanager
    def cursor(self) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor for reads outside any explicit transaction."""
        with self.transaction() as cur:
            yield cur


_SUBJECT_LOCK_CLASS = 7301  # first key of the per-subject advisory locks

_INSERT_EVENT = (
    f"INSERT INTO event_store ({_EVENT_COLUMNS}, {SEALED_COLUMNS}) VALUES "
    "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (event_id) DO NOTHING"
)


# One statement for a whole batch, whatever its size: the columns go as arrays (one round trip,
# no savepoint, unlike COPY, which has no ON CONFLICT and needed one to fall back on), taken
# back in array order so positions follow the batch's order. The arrays go in binary (%b):
# in text every element of every array is quoted and escaped by regular expressions, which
# cost a worker 80 ms of CPU per 500 events, the binary form 7 ms.
_EVENT_TYPES = (
    "text", "text", "int", "text", "text", "text", "bigint", "timestamptz", "timestamptz",
    "bytea", "bytea", "bytea", "jsonb", "text", "bytea", "bytea", "bytea", "bytea",
)
_INSERT_EVENTS = (
    f"INSERT INTO event_store ({_EVENT_COLUMNS}, {SEALED_COLUMNS}) "
    f"SELECT {', '.join(f'c{i}' for i in range(len(_EVENT_TYPES)))} FROM unnest("
    + ", ".join(f"%b::{t}[]" for t in _EVENT_TYPES)
    + ") WITH ORDINALITY AS u("
    + ", ".join(f"c{i}" for i in range(len(_EVENT_TYPES)))
    + ", n) ORDER BY n ON CONFLICT (event_id) DO NOTHING"
)


def _event_params(record: EventRecord, sealed: tuple[Any, ...] | None) -> tuple[Any, ...]:
    if sealed is not None:
        wire, payload, body, *columns = sealed
        return (
            record.event_id, record.event_type, record.schema_version,
            record.schema_fingerprint, record.publisher_id, record.key_id, record.sequence,
            record.occurred_at, record.published_at, payload, record.signature, wire,
            Jsonb(body), *columns,
        )
    return (
        record.event_id,
        record.event_type,
        record.schema_version,
        record.schema_fingerprint,
        record.publisher_id,
        record.key_id,
        record.sequence,
        record.occurred_at,
        record.published_at,
        record.payload,
        record.signature,
        record.wire,
        Jsonb(record.body),  # JSON-able already: record_of converted the decoded payload
        None, None, None, None, None,
    )


class _PgEventTxn:
    def __init__(self, cur: psycopg.Cursor[Any], keyring: Callable[[], CaseKeyring]) -> None:
        self._cur = cur
        self._keyring = keyring

    def claim(self, consumer: str, topic: str, partition: int) -> int:
        return pg_tracking.claim(self._cur, consumer, topic, partition)

    def advance(self, consumer: str, topic: str, partition: int, offset: int) -> None:
        pg_tracking.advance(self._cur, consumer, topic, partition, offset)

    def claim_many(
        self, consumer: str, parts: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], int]:
        return pg_tracking.claim_many(self._cur, consumer, parts)

    def advance_many(self, consumer: str, offsets: dict[tuple[str, int], int]) -> None:
        pg_tracking.advance_many(self._cur, consumer, offsets)

    def known(self, event_ids: Iterable[str]) -> dict[str, bytes]:
        ids = list(event_ids)
        if not ids:
            return {}
        self._cur.execute(
            f"SELECT position, {_READ_COLUMNS} FROM event_store WHERE event_id = ANY(%s)", (ids,)
        )
        opened = _open_rows(self._cur, self._keyring, self._cur.fetchall())
        # A shredded event has no wire left: a resend of it is never the same bytes.
        return {s.record.event_id: s.record.wire for s in opened}

    def _params(self, records: Sequence[EventRecord]) -> list[tuple[Any, ...]]:
        sealed: list[tuple[Any, ...] | None] = [None] * len(records)
        if any(case_of(r.event_type, r.body) is not None for r in records):
            sealed = sealed_params(self._cur, self._keyring(), records)
        if any(r.event_type == SHRED_EVENT for r in records):
            apply_shreds(self._cur, self._keyring(), records)
        return [_event_params(r, s) for r, s in zip(records, sealed, strict=True)]

    def append(self, record: EventRecord) -> bool:
        self._cur.execute(_INSERT_EVENT, self._params([record])[0])
        return self._cur.rowcount == 1

    def append_many(self, records: Sequence[EventRecord]) -> None:
        if not records:
            return
        # An id another worker stored since this batch read the store (the same event sent
        # twice under two keys) is absorbed by ON CONFLICT, as one insert would.
        columns = [list(column) for column in zip(*self._params(records), strict=True)]
        self._cur.execute(_INSERT_EVENTS, columns)

    def sequences(self, publishers: Iterable[str]) -> dict[str, PublisherSequence]:
        ids = list(publishers)
        if not ids:
            return {}
        self._cur.execute(
            "SELECT publisher_id, last_sequence, last_seen_at, events, gaps, replays, duplicates "
            "FROM publisher_sequences WHERE publisher_id = ANY(%s)",
            (ids,),
        )
        return {row[0]: PublisherSequence(*row) for row in self._cur.fetchall()}

    def save_sequence(self, state: PublisherSequence) -> None:
        self.save_sequences([state])

    def save_sequences(self, states: Sequence[PublisherSequence]) -> None:
        """Every publisher's state of a batch in one statement."""
        if not states:
            return
        self._cur.execute(
            "INSERT INTO publisher_sequences (publisher_id, last_sequence, last_seen_at, events, "
            "gaps, replays, duplicates) SELECT * FROM unnest(%s::text[], %s::bigint[], "
            "%s::timestamptz[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[]) "
            "ON CONFLICT (publisher_id) DO UPDATE SET last_sequence = EXCLUDED.last_sequence, "
            "last_seen_at = EXCLUDED.last_seen_at, events = EXCLUDED.events, "
            "gaps = EXCLUDED.gaps, replays = EXCLUDED.replays, duplicates = EXCLUDED.duplicates",
            (
                [s.publisher_id for s in states],
                [s.last_sequence for s in states],
                [s.last_seen_at for s in states],
                [s.events for s in states],
                [s.gaps for s in states],
                [s.replays for s in states],
                [s.duplicates for s in states],
            ),
        )

    def record_anomaly(self, anomaly: SequenceAnomaly) -> None:
        self._cur.execute(
            "INSERT INTO sequence_anomalies (publisher_id, kind, expected, got, event_id, "
            "detected_at) VALUES (%s, %s, %s, %s, %s, %s)",
            (
                anomaly.publisher_id,
                str(anomaly.kind),
                anomaly.expected,
                anomaly.got,
                anomaly.event_id,
                anomaly.detected_at,
            ),
        )

    def audit_disclosure(self, entry: DisclosureAudit) -> None:
        self._cur.execute(
            "INSERT INTO disclosure_audit (match_id, requester, request_event_id, reason, "
            "outcome, detail, at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (entry.match_id, entry.requester, entry.request_event_id, entry.reason,
             str(entry.outcome), entry.detail, entry.at),
        )

    def audit_case_read(self, entry: CaseReadAudit) -> None:
        self._cur.execute(
            "INSERT INTO case_audit (case_id, requester, request_event_id, reason, step, "
            "outcome, detail, at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (entry.case_id, entry.requester, entry.request_event_id, entry.reason, entry.step,
             str(entry.outcome), entry.detail, entry.at),
        )

    def quarantine(self, entry: QuarantineEntry) -> int:
        wire, sealed_case = seal_quarantine(self._cur, self._keyring(), entry)
        self._cur.execute(
            "INSERT INTO quarantine (reason, detail, wire, received_at, source_topic, "
            "source_partition, source_offset, event_id, publisher_id, event_type, status, "
            "sealed_case) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
            (
                str(entry.reason),
                entry.detail,
                wire,
                entry.received_at,
                entry.source_topic,
                entry.source_partition,
                entry.source_offset,
                entry.event_id,
                entry.publisher_id,
                entry.event_type,
                entry.status.value,
                sealed_case,
            ),
        )
        row = self._cur.fetchone()
        assert row is not None  # RETURNING always yields the new row
        return int(row[0])

    def mark_quarantine(self, entry_id: int, status: QuarantineStatus, at: datetime) -> None:
        if status is QuarantineStatus.RETRIED:
            self._cur.execute(
                "UPDATE quarantine SET status = %s, retried_at = %s, retries = retries + 1 "
                "WHERE id = %s",
                (status.value, at, entry_id),
            )
        else:
            self._cur.execute(
                "UPDATE quarantine SET status = %s WHERE id = %s", (status.value, entry_id)
            )
        if self._cur.rowcount != 1:
            raise StoreError(f"quarantine entry {entry_id} does not exist")

    def open_quarantine(
        self, publisher_id: str, reasons: Iterable[RejectReason]
    ) -> list[QuarantineEntry]:
        self._cur.execute(
            f"SELECT {QUARANTINE_COLUMNS} FROM quarantine "
            "WHERE publisher_id = %s AND status = %s AND reason = ANY(%s) ORDER BY id FOR UPDATE",
            (publisher_id, QuarantineStatus.OPEN.value, [str(r) for r in reasons]),
        )
        return [quarantine_of_row(self._cur, self._keyring, r) for r in self._cur.fetchall()]

    def lock_subject(self, event_type: str, subject_id: str) -> None:
        # Held to commit. Two workers may verify an alert and a change naming it at once; one
        # waits for the other, then sees what it stored (the alert, or the change quarantined
        # as UNKNOWN_SUBJECT, which the alert's batch then re-drives). Two-key advisory locks
        # never meet the one-key locks used elsewhere.
        self._cur.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
            (_SUBJECT_LOCK_CLASS, f"{event_type}/{subject_id}"),
        )

    def subject_events(self, event_type: str, subject_id: str) -> list[tuple[str, dict[str, Any]]]:
        self.lock_subject(event_type, subject_id)
        # Literals, not parameters, so that the partial indexes of migration 0025 apply.
        query = sql.SQL(
            "SELECT publisher_id, body FROM event_store WHERE event_type = {} "
            "AND body ->> {} = %s ORDER BY position"
        ).format(sql.Literal(event_type), sql.Literal(SUBJECT_FIELDS[event_type]))
        self._cur.execute(query, (subject_id,))
        return [(row[0], row[1]) for row in self._cur.fetchall()]

    def quarantine_wire(self, entry_id: int) -> bytes | None:
        self._cur.execute(
            "SELECT wire, sealed_case, event_id FROM quarantine WHERE id = %s", (entry_id,)
        )
        row = self._cur.fetchone()
        if row is None:
            return None
        return open_quarantine_wire(self._cur, self._keyring(), bytes(row[0]), row[1], row[2])


QUARANTINE_COLUMNS = (
    "id, reason, detail, wire, received_at, source_topic, source_partition, source_offset, "
    "event_id, publisher_id, event_type, status, retried_at, retries, sealed_case"
)


def quarantine_of_row(cur: psycopg.Cursor[Any], keyring: Callable[[], CaseKeyring],
                      row: Sequence[Any]) -> QuarantineEntry:
    """A quarantine entry from a row of QUARANTINE_COLUMNS, its sealed bytes opened."""
    wire = bytes(row[3])
    if row[14] is not None:
        wire = open_quarantine_wire(cur, keyring(), wire, row[14], row[8])
    return QuarantineEntry(
        id=row[0],
        reason=RejectReason(row[1]),
        detail=row[2],
        wire=wire,
        received_at=row[4],
        source_topic=row[5],
        source_partition=row[6],
        source_offset=row[7],
        event_id=row[8],
        publisher_id=row[9],
        event_type=row[10],
        status=QuarantineStatus(row[11]),
        retried_at=row[12],
        retries=row[13],
        case_id=row[14],
    )


def _open_rows(cur: psycopg.Cursor[Any], keyring: Callable[[], CaseKeyring],
               rows: Sequence[Sequence[Any]]) -> list[StoredEvent]:
    """Stored events from rows of `position, _READ_COLUMNS`, sealed ones opened."""
    cases = {row[14] for row in rows if row[14] is not None}
    keys = keyring().keys(cur, cases, create=False) if cases else {}
    return [
        StoredEvent(s.position, open_record(s.record, row[14],
                                            None if row[15] is None else bytes(row[15]), keys))
        for row in rows
        for s in (_stored(row),)
    ]


def _stored(row: Sequence[Any]) -> StoredEvent:
    record = EventRecord(
        event_id=row[1],
        event_type=row[2],
        schema_version=row[3],
        schema_fingerprint=row[4],
        publisher_id=row[5],
        key_id=row[6],
        sequence=row[7],
        occurred_at=row[8],
        published_at=row[9],
        payload=bytes(row[10]),
        signature=bytes(row[11]),
        wire=bytes(row[12]),
        body=row[13],
    )
    return StoredEvent(row[0], record)


class PgEventStore:
    """The :class:`hub.store.EventStore` in PostgreSQL (tables from migration 0010)."""

    def __init__(self, dsn: str, keyring: CaseKeyring | None = None) -> None:
        self.db = PgConnection(dsn)
        self._dsn = dsn
        self._keys = keyring

    def keyring(self) -> CaseKeyring:
        """The data keys of this database's cases (hub keys from the hub's secrets folder)."""
        if self._keys is None:
            self._keys = keyring_for(self._dsn, load_settings().secrets_dir)
        return self._keys

    def close(self) -> None:
        self.db.close()

    @contextmanager
    def transaction(self) -> Iterator[_PgEventTxn]:
        with self.db.transaction() as cur:
            yield _PgEventTxn(cur, self.keyring)

    def get(self, event_id: str) -> StoredEvent | None:
        with self.db.cursor() as cur:
            cur.execute(
                f"SELECT position, {_READ_COLUMNS} FROM event_store WHERE event_id = %s",
                (event_id,),
            )
            found = _open_rows(cur, self.keyring, cur.fetchall())
        return found[0] if found else None

    def get_many(self, event_ids: Sequence[str]) -> dict[str, StoredEvent]:
        """Stored events by id (absent ids are left out)."""
        with self.db.cursor() as cur:
            cur.execute(
                f"SELECT position, {_READ_COLUMNS} FROM event_store WHERE event_id = ANY(%s)",
                (list(event_ids),),
            )
            return {s.record.event_id: s for s in _open_rows(cur, self.keyring, cur.fetchall())}

    def wire_digests(self, event_ids: Sequence[str]) -> dict[str, bytes]:
        """SHA-256 of the stored wire bytes by event id (absent ids are left out): 32 bytes an
        event instead of the whole row, for stages that decode the message they received."""
        with self.db.cursor() as cur:
            cur.execute(
                "SELECT event_id, COALESCE(wire_digest, sha256(wire)) FROM event_store "
                "WHERE event_id = ANY(%s)",
                (list(event_ids),),
            )
            return {row[0]: bytes(row[1]) for row in cur.fetchall()}

    def read(
        self, *, after: int = 0, limit: int = 1000, event_types: Sequence[str] | None = None
    ) -> list[StoredEvent]:
        query = f"SELECT position, {_READ_COLUMNS} FROM event_store WHERE position > %s"
        params: list[Any] = [after]
        if event_types is not None:
            query += " AND event_type = ANY(%s)"
            params.append(list(event_types))
        query += " ORDER BY position LIMIT %s"
        params.append(limit)
        with self.db.cursor() as cur:
            cur.execute(query, params)
            return _open_rows(cur, self.keyring, cur.fetchall())

    def case_events(self, case_id: str) -> list[StoredEvent]:
        """Every stored event sealed under a rescue case's key (its notice, follow-ups and hits
        on it), in store order, opened: the one read of a case file's personal data. After
        shredding each comes back as its clear view, marked shredded."""
        with self.db.cursor() as cur:
            cur.execute(
                f"SELECT position, {_READ_COLUMNS} FROM event_store WHERE sealed_case = %s "
                "ORDER BY position",
                (case_id,),
            )
            return _open_rows(cur, self.keyring, cur.fetchall())

    def count(self) -> int:
        with self.db.cursor() as cur:
            cur.execute("SELECT count(*) FROM event_store")
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def quarantined(
        self, *, reason: RejectReason | None = None, status: QuarantineStatus | None = None
    ) -> list[QuarantineEntry]:
        with self.db.cursor() as cur:
            cur.execute(
                f"SELECT {QUARANTINE_COLUMNS} FROM quarantine "
                "WHERE (%s::text IS NULL OR reason = %s) AND (%s::text IS NULL OR status = %s) "
                "ORDER BY id",
                (reason and str(reason), reason and str(reason), status and status.value,
                 status and status.value),
            )
            return [quarantine_of_row(cur, self.keyring, r) for r in cur.fetchall()]

    def quarantine_entry(self, entry_id: int) -> QuarantineEntry | None:
        with self.db.cursor() as cur:
            cur.execute(f"SELECT {QUARANTINE_COLUMNS} FROM quarantine WHERE id = %s", (entry_id,))
            row = cur.fetchone()
            return None if row is None else quarantine_of_row(cur, self.keyring, row)

    def anomalies(self, publisher_id: str | None = None) -> list[SequenceAnomaly]:
        with self.db.cursor() as cur:
            cur.execute(
                "SELECT publisher_id, kind, expected, got, event_id, detected_at "
                "FROM sequence_anomalies WHERE %s::text IS NULL OR publisher_id = %s ORDER BY id",
                (publisher_id, publisher_id),
            )
            return [SequenceAnomaly(r[0], SequenceIssue(r[1]), *r[2:]) for r in cur.fetchall()]

    def disclosure_audits(self, match_id: str | None = None) -> list[DisclosureAudit]:
        with self.db.cursor() as cur:
            cur.execute(
                "SELECT match_id, requester, request_event_id, reason, outcome, detail, at "
                "FROM disclosure_audit WHERE %s::text IS NULL OR match_id = %s ORDER BY id",
                (match_id, match_id),
            )
            return [DisclosureAudit(match_id=r[0], requester=r[1], request_event_id=r[2],
                                    reason=r[3], outcome=AuditOutcome(r[4]), detail=r[5], at=r[6])
                    for r in cur.fetchall()]

    def publishers(self) -> list[PublisherSequence]:
        with self.db.cursor() as cur:
            cur.execute(
                "SELECT publisher_id, last_sequence, last_seen_at, events, gaps, replays, "
                "duplicates FROM publisher_sequences ORDER BY publisher_id"
            )
            return [PublisherSequence(*r) for r in cur.fetchall()]
