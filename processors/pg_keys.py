"""Per-case data keys in PostgreSQL, wrapped by hub keys kept in files (hub.atrest).

Table ``case_keys`` (migration 0034) holds each case's data key wrapped by the current hub
key; ``hub_keys`` names the hub keys (never their bytes). Sealing and shredding take the current
hub key's row FOR SHARE before any case row, so a rotation (which retires that row first, then
re-wraps the case rows) waits for them, they wait for it, and no data key is ever wrapped by a
key that is being retired.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from hub.atrest import (
    DataKey,
    HubKey,
    destroy_hub_key,
    ensure_hub_key,
    hub_keys_dir,
    load_hub_keys,
    new_data_key,
    new_hub_key,
    unwrap,
    wrap,
    write_hub_key,
)
from hub.errors import ConfigError
from hub.secrets import ensure_secret

log = logging.getLogger(__name__)

__all__ = ["CaseKeyring", "Rotation", "keyring_for"]

Cursor = psycopg.Cursor[Any]


def keyring_for(dsn: str, secrets_dir: Path) -> CaseKeyring:
    """The keyring of the database `dsn` names: each database has hub keys of its own (a
    folder per database name), so rotating one never touches another's keys."""
    name = conninfo_to_dict(dsn).get("dbname") or "hub"
    return CaseKeyring(hub_keys_dir(secrets_dir) / str(name))


class CaseKeyring:
    """Data keys by case: created on first use, unwrapped on read, destroyed on shredding."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._hub: dict[str, HubKey] = {}
        self._blocking: bytes | None = None

    def hub_key(self, key_id: str) -> HubKey:
        """The hub key with this id, from its file (read again when it is new here)."""
        if key_id not in self._hub:
            self._hub = load_hub_keys(self.folder)
        if key_id not in self._hub:
            raise ConfigError(
                f"hub key {key_id} is not in {self.folder}: the data keys it wraps cannot be "
                "opened (restore the key file from where the hub keys are backed up)"
            )
        return self._hub[key_id]

    def blocking_secret(self) -> bytes:
        """The secret keying the matcher's blocking-key hashes (a 0600 file beside the hub
        keys; made on first use). Rotating the hub key leaves it: the index would be rebuilt."""
        if self._blocking is None:
            self._blocking = ensure_secret(self.folder / "blocking.secret").encode("ascii")
        return self._blocking

    def current(self, cur: Cursor) -> HubKey:
        """The hub key that wraps new data keys, its row held FOR SHARE until commit."""
        cur.execute("SELECT key_id FROM hub_keys WHERE retired_at IS NULL FOR SHARE")
        row = cur.fetchone()
        if row is None:
            # First use of this database: adopt the newest key file (made by services up).
            key = ensure_hub_key(self.folder)
            cur.execute("INSERT INTO hub_keys (key_id) VALUES (%s) ON CONFLICT DO NOTHING",
                        (key.key_id,))
            cur.execute("SELECT key_id FROM hub_keys WHERE retired_at IS NULL FOR SHARE")
            row = cur.fetchone()
            assert row is not None  # inserted above, or by a concurrent first use
        return self.hub_key(str(row[0]))

    def keys(self, cur: Cursor, case_ids: Iterable[str], *, create: bool) -> dict[str, DataKey |
                                                                                 None]:
        """The data key of each case, None for a shredded one. `create` makes the missing ones
        (for sealing) and notes the use; without it a case never sealed is left out."""
        wanted = sorted(set(case_ids))
        if not wanted:
            return {}
        # One lock order for everyone (sealing, shredding, rotation): the current hub key's
        # row, then the case rows in case order; no two of them can wait for each other.
        hub = self.current(cur) if create else None
        found = self._read(cur, wanted, lock=create)
        missing = [c for c in wanted if c not in found]
        if hub is not None and missing:
            for case_id in missing:
                cur.execute(
                    "INSERT INTO case_keys (case_id, hub_key_id, wrapped) VALUES (%s, %s, %s) "
                    "ON CONFLICT (case_id) DO NOTHING",
                    (case_id, hub.key_id, wrap(hub, new_data_key(case_id))),
                )
            found.update(self._read(cur, missing, lock=True))
        if create:
            cur.execute("UPDATE case_keys SET last_sealed_at = clock_timestamp() "
                        "WHERE case_id = ANY(%s) AND wrapped IS NOT NULL", (wanted,))
        return found

    def _read(self, cur: Cursor, case_ids: list[str], *, lock: bool) -> dict[str, DataKey | None]:
        # Locked when sealing: a shredding of the same case waits, then finds the new copy;
        # two sealing transactions of one case take turns.
        cur.execute(
            "SELECT case_id, hub_key_id, wrapped FROM case_keys WHERE case_id = ANY(%s)"
            + (" ORDER BY case_id FOR UPDATE" if lock else ""),
            (case_ids,),
        )
        out: dict[str, DataKey | None] = {}
        for case_id, hub_key_id, wrapped in cur.fetchall():
            out[case_id] = (None if wrapped is None
                            else unwrap(self.hub_key(hub_key_id), case_id, bytes(wrapped)))
        return out

    def shred(self, cur: Cursor, case_id: str, reason: str, at: datetime) -> bool:
        """Destroy the case's data key for good; False when it was destroyed already. A case
        never sealed gets a destroyed key, so that anything arriving later is born unreadable."""
        self.current(cur)  # the lock order of `keys`
        cur.execute(
            "INSERT INTO case_keys (case_id, hub_key_id, wrapped, shredded_at, shred_reason) "
            "VALUES (%s, NULL, NULL, %s, %s) ON CONFLICT (case_id) DO UPDATE "
            "SET wrapped = NULL, hub_key_id = NULL, shredded_at = EXCLUDED.shredded_at, "
            "shred_reason = EXCLUDED.shred_reason WHERE case_keys.wrapped IS NOT NULL",
            (case_id, at, reason),
        )
        done = cur.rowcount == 1
        if done:
            log.warning("case %s shredded: %s", case_id, reason)
        return done


class Rotation:
    """Re-wrap every data key under a new hub key, then destroy the old hub keys' files."""

    def __init__(self, keyring: CaseKeyring) -> None:
        self.keyring = keyring

    def run(self, conn: psycopg.Connection[Any],
            progress: Callable[[int, int], None] | None = None) -> tuple[list[str], str, int]:
        """(retired hub key ids, the new one, data keys re-wrapped). The new key's file is
        written before the transaction and the old files destroyed only after it committed,
        so a crash at any point leaves every data key wrapped by a key that exists."""
        fresh = new_hub_key()
        write_hub_key(self.keyring.folder, fresh)
        with conn.transaction(), conn.cursor() as cur:
            self.keyring.current(cur)  # adopts the first key on a database that has none yet
            cur.execute(
                "UPDATE hub_keys SET retired_at = clock_timestamp() WHERE retired_at IS NULL "
                "RETURNING key_id"
            )
            retired = [str(r[0]) for r in cur.fetchall()]
            cur.execute("INSERT INTO hub_keys (key_id) VALUES (%s)", (fresh.key_id,))
            cur.execute("SELECT case_id, hub_key_id, wrapped FROM case_keys "
                        "WHERE wrapped IS NOT NULL ORDER BY case_id FOR UPDATE")
            rows = cur.fetchall()
            for done, (case_id, hub_key_id, wrapped) in enumerate(rows, start=1):
                key = unwrap(self.keyring.hub_key(hub_key_id), case_id, bytes(wrapped))
                cur.execute("UPDATE case_keys SET hub_key_id = %s, wrapped = %s "
                            "WHERE case_id = %s", (fresh.key_id, wrap(fresh, key), case_id))
                if progress is not None and (done % 1000 == 0 or done == len(rows)):
                    progress(done, len(rows))
        for key_id in retired:
            destroy_hub_key(self.keyring.folder, key_id)
        return retired, fresh.key_id, len(rows)
