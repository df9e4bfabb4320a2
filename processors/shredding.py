"""Crypto-shredding requests: a signed `case-shredded` event through the matcher's outbox.

The event goes to the ingest topic like every event of the hub operator, so it is verified,
stored and projected, and the event store destroys the case's data key in the transaction that
stores it (processors.pg_sealed.apply_shreds): the log says when and why each case was shredded,
and a rebuild replays it. The retention sweep asks for it when a case's key has sealed nothing
for the retention period.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from hub.atrest import QUARANTINE_CASE_PREFIX, retention_event_id, shred_payload
from hub.envelope import encode_envelope, seal
from hub.identity import HUB_OPERATOR_ID
from hub.keys import SigningKey
from hub.schema_catalog import SchemaCatalog
from processors.pg_keys import CaseKeyring
from processors.pg_matching import PgMatchStore
from processors.pg_operator import draw_operator_sequences

log = logging.getLogger(__name__)

__all__ = ["RetentionSweep", "request_shred", "shred_state"]


def _queue(cur: psycopg.Cursor[Any], catalog: SchemaCatalog, operator: SigningKey,
           ingest_topic: str, payload: dict[str, Any], at: datetime,
           event_id: uuid.UUID | None) -> uuid.UUID:
    [sequence] = draw_operator_sequences(cur, 1)
    envelope = seal(catalog, "case-shredded", payload, publisher_id=HUB_OPERATOR_ID,
                    key=operator, sequence=sequence, occurred_at=at, published_at=at,
                    event_id=event_id)
    cur.execute("INSERT INTO match_outbox (topic, msg_key, msg_value) VALUES (%s, %s, %s)",
                (ingest_topic, HUB_OPERATOR_ID.encode(), encode_envelope(envelope)))
    return envelope.event_id


def request_shred(store: PgMatchStore, catalog: SchemaCatalog, operator: SigningKey,
                  ingest_topic: str, case_id: str, reason: str, requested_by: str) -> uuid.UUID:
    """Queue an operator's signed request to shred one case; its event id."""
    payload = shred_payload(case_id, "OPERATOR", reason, requested_by)
    with store.transaction() as txn:
        return _queue(txn.cursor, catalog, operator, ingest_topic, payload,
                      datetime.now(UTC), None)


def shred_state(store: PgMatchStore, case_id: str) -> tuple[bool, datetime | None, str | None]:
    """(has a data key row, shredded at, why) of one case."""
    with store.transaction() as txn:
        txn.cursor.execute("SELECT shredded_at, shred_reason FROM case_keys WHERE case_id = %s",
                           (case_id,))
        row = txn.cursor.fetchone()
    return (False, None, None) if row is None else (True, row[0], row[1])


class RetentionSweep:
    """Queue a signed RETENTION shredding for every case whose key sealed nothing for
    `retention`; each case once, whatever the number of workers sweeping."""

    def __init__(self, store: PgMatchStore, catalog: SchemaCatalog, operator: SigningKey,
                 ingest_topic: str, retention: timedelta, keyring: CaseKeyring) -> None:
        self.store = store
        self.keyring = keyring
        self.catalog = catalog
        self.operator = operator
        self.ingest_topic = ingest_topic
        self.retention = retention

    def run_once(self, now: datetime | None = None) -> int:
        """How many cases this run asked to shred."""
        when = now or datetime.now(UTC)
        with self.store.transaction() as txn:
            cur = txn.cursor
            cur.execute(
                "UPDATE case_keys SET shred_requested_at = %s WHERE case_id IN ("
                "SELECT case_id FROM case_keys WHERE wrapped IS NOT NULL "
                "AND shred_requested_at IS NULL AND last_sealed_at < %s "
                "ORDER BY case_id LIMIT 500 FOR UPDATE SKIP LOCKED) RETURNING case_id",
                (when, when - self.retention),
            )
            claimed = sorted(str(r[0]) for r in cur.fetchall())
            # Keys of quarantined bytes are no case of the log: destroyed here, no event.
            for case_id in (c for c in claimed if c.startswith(QUARANTINE_CASE_PREFIX)):
                self.keyring.shred(cur, case_id, "retention of a quarantined copy", when)
            due = [c for c in claimed if not c.startswith(QUARANTINE_CASE_PREFIX)]
            days = self.retention / timedelta(days=1)
            for case_id in due:
                payload = shred_payload(case_id, "RETENTION",
                                        f"no new information for {days:g} days (retention)",
                                        HUB_OPERATOR_ID)
                _queue(cur, self.catalog, self.operator, self.ingest_topic, payload, when,
                       retention_event_id(case_id))
        if due:
            log.warning("retention: %d cases to shred: %s", len(due), ", ".join(due[:10]))
        return len(due)
