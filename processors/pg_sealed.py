"""The event store's codec for personal data at rest (hub.atrest), applied by processors.pg_store.

Writing, an event of a sealed type (rescue notice, case follow-up, a hit on a rescued person)
keeps in clear only its header columns, the wire header, the payload's SHA-256, the signature and
the clear view of its body; its wire bytes, payload and full body are stored encrypted under the
case's data key. Reading opens them again, so every reader of the store (rebuilds, the
matcher's rebuild, case files, console) decrypts in this one place. A shredded case reads back as
its clear view alone, marked shredded.
A `case-shredded` event destroys the case's key in the transaction that stores it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import psycopg

from hub.atrest import DataKey, case_of, clear_view, new_data_key, open_bytes, seal_bytes
from hub.keys import SIGNATURE_SIZE
from hub.store import EventRecord, QuarantineEntry
from processors.pg_keys import CaseKeyring

__all__ = [
    "SEALED_COLUMNS",
    "SHRED_EVENT",
    "apply_shreds",
    "open_quarantine_wire",
    "open_record",
    "seal_quarantine",
    "sealed_params",
]

SHRED_EVENT = "case-shredded"
# Appended to the event store's columns, in this order, on every write and read.
SEALED_COLUMNS = "sealed_case, wire_head, payload_digest, wire_digest, sealed_body"
_WIRE, _PAYLOAD, _BODY, _QUARANTINE = "wire", "payload", "body", "quarantine"


def _case_keys(cur: psycopg.Cursor[Any], keyring: CaseKeyring, records: Sequence[EventRecord]
               ) -> dict[str, DataKey]:
    cases = {c for r in records if (c := case_of(r.event_type, r.body)) is not None}
    keys = keyring.keys(cur, cases, create=True)
    # A case shredded already: what arrives for it now is sealed under a key nobody keeps.
    return {c: k if k is not None else new_data_key(c) for c, k in keys.items()}


def sealed_params(cur: psycopg.Cursor[Any], keyring: CaseKeyring,
                  records: Sequence[EventRecord]) -> list[tuple[Any, ...] | None]:
    """Per record, the values of SEALED_COLUMNS and the replacement wire, payload and body
    (None for a record stored as it is)."""
    keys = _case_keys(cur, keyring, records)
    out: list[tuple[Any, ...] | None] = []
    for r in records:
        case = case_of(r.event_type, r.body)
        if case is None:
            out.append(None)
            continue
        key = keys[case]
        head_end = max(len(r.wire) - SIGNATURE_SIZE - len(r.payload), 0)
        body = json.dumps(r.body, ensure_ascii=False, sort_keys=True).encode("utf-8")
        out.append((
            seal_bytes(key, r.event_id, _WIRE, r.wire),
            seal_bytes(key, r.event_id, _PAYLOAD, r.payload),
            clear_view(r.event_type, r.body),
            case,
            r.wire[:head_end],
            hashlib.sha256(r.payload).digest(),
            hashlib.sha256(r.wire).digest(),
            seal_bytes(key, r.event_id, _BODY, body),
        ))
    return out


def open_record(record: EventRecord, sealed_case: str | None, sealed_body: bytes | None,
                keys: dict[str, DataKey | None]) -> EventRecord:
    """The record as it was before sealing, or its clear view marked shredded."""
    if sealed_case is None:
        return record
    key = keys.get(sealed_case)
    if key is None or sealed_body is None:
        return replace(record, wire=b"", payload=b"", shredded=True)
    return replace(
        record,
        wire=open_bytes(key, record.event_id, _WIRE, record.wire),
        payload=open_bytes(key, record.event_id, _PAYLOAD, record.payload),
        body=json.loads(open_bytes(key, record.event_id, _BODY, sealed_body)),
    )


def apply_shreds(cur: psycopg.Cursor[Any], keyring: CaseKeyring,
                 records: Sequence[EventRecord]) -> None:
    """Destroy the data key of every case a stored `case-shredded` event names."""
    for r in records:
        if r.event_type == SHRED_EVENT:
            reason = f"{r.body.get('kind')}: {r.body.get('reason')} (event {r.event_id})"
            keyring.shred(cur, str(r.body["case_id"]), reason, r.occurred_at)


def seal_quarantine(cur: psycopg.Cursor[Any], keyring: CaseKeyring,
                    entry: QuarantineEntry) -> tuple[bytes, str | None]:
    """The wire bytes to keep for a quarantine entry and the case sealing them (if any)."""
    if entry.case_id is None:
        return entry.wire, None
    key = _case_keys_for(cur, keyring, entry.case_id)
    return seal_bytes(key, entry.event_id or "", _QUARANTINE, entry.wire), entry.case_id


def _case_keys_for(cur: psycopg.Cursor[Any], keyring: CaseKeyring, case_id: str) -> DataKey:
    key = keyring.keys(cur, [case_id], create=True).get(case_id)
    return key if key is not None else new_data_key(case_id)


def open_quarantine_wire(cur: psycopg.Cursor[Any], keyring: CaseKeyring, wire: bytes,
                         sealed_case: str | None, event_id: str | None) -> bytes:
    """A quarantine entry's original bytes; empty when its case was shredded."""
    if sealed_case is None:
        return wire
    key = keyring.keys(cur, [sealed_case], create=False).get(sealed_case)
    return b"" if key is None else open_bytes(key, event_id or "", _QUARANTINE, wire)
