"""The connector's durable local outbox: SQLite in WAL mode under the connector's state folder.

An event is stored, with its event id, its per-publisher sequence number and its exact signed
bytes, before anything is sent; it is marked sent only after the broker acknowledged it. The
sequence counter lives in its own row and is advanced in the same transaction as the insert, so a
number is never handed out twice, even after deleting rows. Each stored event also carries the
identity of the input row it came from, so publishing the same rows again adds nothing.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from hub.errors import OutboxError
from hub.secrets import create_private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    sequence    INTEGER PRIMARY KEY,
    event_id    TEXT NOT NULL UNIQUE,
    event_type  TEXT NOT NULL,
    row_key     TEXT UNIQUE,
    source      TEXT,
    envelope    BLOB NOT NULL,
    created_at  REAL NOT NULL,
    sent_at     REAL,
    partition   INTEGER,
    offset      INTEGER
);
CREATE INDEX IF NOT EXISTS events_pending ON events (sequence) WHERE sent_at IS NULL;
"""


_INSERT = ("INSERT INTO events (sequence, event_id, event_type, row_key, source, envelope,"
           " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")


@dataclass(frozen=True)
class Sealed:
    """What a sealing function returns: the event id and the exact bytes to send."""

    event_id: str
    envelope: bytes


@dataclass(frozen=True)
class PendingEvent:
    """A stored event not yet acknowledged by the broker."""

    sequence: int
    event_id: str
    event_type: str
    envelope: bytes


@dataclass(frozen=True)
class OutboxStats:
    """Counts for `hub-connector status` and publish summaries."""

    total: int
    pending: int
    last_sent_sequence: int | None
    last_sequence: int | None


# (row identity, source description, event type, sealer given the allocated sequence number)
NewEvent = tuple[str | None, str, str, Callable[[int], Sealed]]


class Outbox:
    """A participant's outbox. One instance per thread; several processes may share the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            # The events hold personal data: owner only, and SQLite gives its -wal and -shm
            # files the database file's mode.
            create_private_file(path)
        except OSError as err:
            raise OutboxError(f"cannot create the outbox {path}: {err.strerror or err}") from err
        try:
            self._db = sqlite3.connect(path, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            # FULL: a committed outbox row must survive power loss, or a re-run would give the
            # same row a second event id.
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as err:
            raise OutboxError(f"cannot open the outbox {path}: {err}") from err

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def known_row_keys(self, keys: Iterable[str]) -> set[str]:
        """Those of `keys` already stored (sent or pending)."""
        wanted = list(keys)
        found: set[str] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT row_key FROM events WHERE row_key IN ({marks})", chunk
            )
            found.update(r[0] for r in rows)
        return found

    def append(self, items: Sequence[NewEvent]) -> list[tuple[int, Sealed]]:
        """Store new events in one transaction, allocating their sequence numbers.

        Items whose row identity is already stored are skipped. Returns (sequence, sealed) of
        those stored, in sequence order.
        """
        stored: list[tuple[int, Sealed]] = []
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    "SELECT value FROM counters WHERE name = 'sequence'"
                ).fetchone()
                next_sequence = (row[0] if row else 0) + 1
                at_once = self._insert_all(items, next_sequence)
                stored = at_once if at_once is not None else self._insert_each(
                    items, next_sequence)
                next_sequence = stored[-1][0] + 1 if stored else next_sequence
                self._db.execute(
                    "INSERT INTO counters (name, value) VALUES ('sequence', ?)"
                    " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                    (next_sequence - 1,),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as err:
            raise OutboxError(f"cannot store events in the outbox {self.path}: {err}") from err
        return stored

    def _insert_all(
        self, items: Sequence[NewEvent], first: int
    ) -> list[tuple[int, Sealed]] | None:
        """Seal and insert every item in one statement; None (nothing kept) when one of them
        is already stored, so that the caller numbers them one by one instead."""
        keys = [item[0] for item in items if item[0] is not None]
        if len(set(keys)) != len(keys):
            return None  # a row repeated within the batch: the first one wins, row by row
        stored = [(first + n, seal(first + n)) for n, (_, _, _, seal) in enumerate(items)]
        now = time.time()
        self._db.execute("SAVEPOINT batch")
        try:
            self._db.executemany(_INSERT, [
                (sequence, sealed.event_id, event_type, row_key, source, sealed.envelope, now)
                for (sequence, sealed), (row_key, source, event_type, _) in zip(
                    stored, items, strict=True)
            ])
        except sqlite3.IntegrityError:
            self._db.execute("ROLLBACK TO batch")
            self._db.execute("RELEASE batch")
            return None
        self._db.execute("RELEASE batch")
        return stored

    def _insert_each(self, items: Sequence[NewEvent], first: int) -> list[tuple[int, Sealed]]:
        stored: list[tuple[int, Sealed]] = []
        next_sequence = first
        now = time.time()
        for row_key, source, event_type, seal in items:
            sealed = seal(next_sequence)
            try:
                self._db.execute(_INSERT, (next_sequence, sealed.event_id, event_type, row_key,
                                           source, sealed.envelope, now))
            except sqlite3.IntegrityError:
                # The row is already stored (row_key is unique): its number stays free.
                continue
            stored.append((next_sequence, sealed))
            next_sequence += 1
        return stored

    def pending(self, after_sequence: int = 0, limit: int = 1000) -> list[PendingEvent]:
        """Unsent events after a sequence number, oldest first."""
        rows = self._db.execute(
            "SELECT sequence, event_id, event_type, envelope FROM events"
            " WHERE sent_at IS NULL AND sequence > ? ORDER BY sequence LIMIT ?",
            (after_sequence, limit),
        )
        return [PendingEvent(r[0], r[1], r[2], bytes(r[3])) for r in rows]

    def iter_pending(self, batch: int = 1000) -> Iterator[PendingEvent]:
        """All unsent events, oldest first, read in batches."""
        last = 0
        while True:
            chunk = self.pending(last, batch)
            if not chunk:
                return
            yield from chunk
            last = chunk[-1].sequence

    def mark_sent(self, acks: Iterable[tuple[int, int, int]]) -> int:
        """Record broker acknowledgements given as (sequence, partition, offset)."""
        batch = list(acks)
        if not batch:
            return 0
        now = time.time()
        try:
            # No fsync of its own: a mark lost with power is a re-send of the same bytes and
            # event id, which the hub absorbs. The next stored batch's FULL commit makes it
            # durable; otherwise a publish waits for two fsyncs per batch instead of one.
            self._db.execute("PRAGMA synchronous=NORMAL")
            try:
                with self._db:
                    self._db.execute("BEGIN IMMEDIATE")
                    self._db.executemany(
                        "UPDATE events SET sent_at = ?, partition = ?, offset = ?"
                        " WHERE sequence = ? AND sent_at IS NULL",
                        [(now, partition, offset, seq) for seq, partition, offset in batch],
                    )
            finally:
                self._db.execute("PRAGMA synchronous=FULL")
        except sqlite3.DatabaseError as err:
            raise OutboxError(f"cannot record acknowledgements in {self.path}: {err}") from err
        return len(batch)

    def stats(self) -> OutboxStats:
        total, pending, last_sent = self._db.execute(
            "SELECT COUNT(*), COUNT(*) - COUNT(sent_at), MAX(CASE WHEN sent_at IS NOT NULL"
            " THEN sequence END) FROM events"
        ).fetchone()
        row = self._db.execute("SELECT value FROM counters WHERE name = 'sequence'").fetchone()
        return OutboxStats(total, pending, last_sent, row[0] if row else None)

    def event_ids(self) -> dict[str, str | None]:
        """Every stored event id with the row identity it came from (for checks and audits)."""
        return {r[0]: r[1] for r in self._db.execute("SELECT event_id, row_key FROM events")}
