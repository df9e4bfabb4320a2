"""hubctl case shred | key, hubctl keys rotate-hub-key | status: personal data at rest."""

from __future__ import annotations

import argparse
import getpass
import sys
import time

import psycopg

from hub.config import load_settings
from hub.errors import RegistryError
from hub.keys import SigningKey
from hub.registry import operator_key_paths
from hub.schema_catalog import SchemaCatalog
from hub.topics import topic_name
from processors.pg_keys import Rotation, keyring_for
from processors.pg_matching import PgMatchStore
from processors.shredding import request_shred, shred_state


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `case shred|key` and `keys rotate-hub-key|status` to the hubctl parser."""
    case = subparsers.add_parser("case", help="a rescue case's personal data: shred, key state")
    actions = case.add_subparsers(dest="action", metavar="ACTION", required=True)
    shred = actions.add_parser(
        "shred",
        help="destroy a case's data key: its personal data becomes unreadable everywhere",
        description="Publish a signed case-shredded event for the case (the hub operator's key) "
        "and wait until the pipeline has stored it and destroyed the case's data key. The "
        "names, identity numbers, addresses and the child's own account of the case can then "
        "not be read from the event store, the quarantine or the matcher's index; the signed "
        "envelopes still verify. This cannot be undone.",
    )
    shred.add_argument("case_id", metavar="CASE_ID",
                       help="the case (the rescue notice's rescue_id)")
    shred.add_argument("--reason", required=True, help="why, kept in the signed event")
    shred.add_argument("--wait", type=float, default=120.0,
                       help="seconds to wait for the pipeline to apply it (default 120; 0: "
                       "do not wait)")
    shred.set_defaults(handler=_shred)
    state = actions.add_parser("key", help="whether a case has a data key, and if shredded, when")
    state.add_argument("case_id", metavar="CASE_ID")
    state.set_defaults(handler=_key_state)

    keys = subparsers.add_parser("keys", help="the hub key that wraps the cases' data keys")
    key_actions = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    rotate = key_actions.add_parser(
        "rotate-hub-key",
        help="re-wrap every case data key under a new hub key and destroy the old one",
        description="Make a new hub key (a 0600 file in the hub's secrets folder), re-wrap "
        "every data key under it in one transaction, then overwrite and delete the old key's "
        "file. Database backups made before the rotation can no longer open any data key, "
        "also not those of cases shredded since. Workers keep running: sealing waits for the "
        "rotation's transaction.",
    )
    rotate.set_defaults(handler=_rotate)
    status = key_actions.add_parser("status", help="hub keys and how many data keys each wraps")
    status.set_defaults(handler=_status)


def _shred(args: argparse.Namespace) -> int:
    settings = load_settings()
    private, _ = operator_key_paths(settings.data_dir)
    if not private.exists():
        raise RegistryError(f"no operator key at {private}; run `hubctl registry init` first")
    store = PgMatchStore(settings.pg_dsn)
    try:
        _, shredded_at, why = shred_state(store, args.case_id)
        if shredded_at is not None:
            print(f"case {args.case_id} was shredded at {shredded_at:%Y-%m-%d %H:%M:%S} ({why})")
            return 0
        event_id = request_shred(
            store, SchemaCatalog.load(), SigningKey.load(private), topic_name(settings, "ingest"),
            args.case_id, args.reason, f"operator {getpass.getuser()}",
        )
        print(f"case {args.case_id}: case-shredded event {event_id} queued for the pipeline")
        deadline = time.monotonic() + args.wait
        while time.monotonic() < deadline:
            _, shredded_at, why = shred_state(store, args.case_id)
            if shredded_at is not None:
                print(f"case {args.case_id} shredded at {shredded_at:%Y-%m-%d %H:%M:%S}: its "
                      "personal data can no longer be read")
                _vacuum(settings.pg_owner_dsn)
                return 0
            print("  waiting for a pipeline worker to store the event ...", file=sys.stderr)
            time.sleep(2.0)
    finally:
        store.close()
    if args.wait > 0:
        print(f"case {args.case_id}: not applied within {args.wait:g} s; is a pipeline worker "
              "running (`hubctl processors status`)? The event stays queued and is applied "
              "when one runs.", file=sys.stderr)
        return 1
    return 0


def _vacuum(owner_dsn: str) -> None:
    # The old row version holding the wrapped key stays in the table file until vacuumed.
    with psycopg.connect(owner_dsn, autocommit=True) as conn:
        conn.execute("VACUUM case_keys")


def _key_state(args: argparse.Namespace) -> int:
    store = PgMatchStore(load_settings().pg_dsn)
    try:
        known, shredded_at, why = shred_state(store, args.case_id)
    finally:
        store.close()
    if not known:
        print(f"case {args.case_id} has no data key (nothing of it was stored)")
    elif shredded_at is None:
        print(f"case {args.case_id} has a data key: its personal data is readable by the hub")
    else:
        print(f"case {args.case_id} was shredded at {shredded_at:%Y-%m-%d %H:%M:%S} ({why})")
    return 0


def _rotate(args: argparse.Namespace) -> int:
    settings = load_settings()
    keyring = keyring_for(settings.pg_dsn, settings.secrets_dir)

    def progress(done: int, total: int) -> None:
        print(f"  re-wrapped {done}/{total} data keys", file=sys.stderr)

    with psycopg.connect(settings.pg_dsn) as conn:
        retired, fresh, count = Rotation(keyring).run(conn, progress)
    print(f"hub key {fresh} now wraps {count} data keys; retired and destroyed: "
          f"{', '.join(retired) or 'none'} (key files in {keyring.folder})")
    return 0


def _status(args: argparse.Namespace) -> int:
    settings = load_settings()
    keyring = keyring_for(settings.pg_dsn, settings.secrets_dir)
    with psycopg.connect(settings.pg_dsn) as conn:
        keys = conn.execute(
            "SELECT h.key_id, h.created_at, h.retired_at, count(c.case_id) FROM hub_keys h "
            "LEFT JOIN case_keys c ON c.hub_key_id = h.key_id GROUP BY h.key_id "
            "ORDER BY h.created_at"
        ).fetchall()
        shredded = conn.execute(
            "SELECT count(*) FROM case_keys WHERE wrapped IS NULL"
        ).fetchone()
    for key_id, created, retired, count in keys:
        where = "file present" if (keyring.folder / f"{key_id}.key").exists() else "NO FILE"
        state = "current" if retired is None else f"retired {retired:%Y-%m-%d %H:%M}"
        print(f"{key_id}  created {created:%Y-%m-%d %H:%M}  {state}  wraps {count} data keys  "
              f"({where})")
    print(f"shredded cases: {shredded[0] if shredded else 0}; key files in {keyring.folder}")
    return 0
