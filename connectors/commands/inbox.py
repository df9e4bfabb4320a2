"""hub-connector inbox: this participant's notifications (match hits), each shown once."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from connectors.casefile import open_case_file
from connectors.inbox import DeliveredStore, Notification, open_details, receive
from connectors.runtime import add_config_argument, config_from, say
from hub.case_file import CASE_FILE_KIND
from hub.disclosure import DETAILS_KIND
from hub.errors import KeyFileError
from hub.sealing import EncryptionKey, SealError
from hub.secrets import open_private_append


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `inbox [--follow] [--jsonl OUT]` to the hub-connector parser."""
    parser = subparsers.add_parser(
        "inbox", help="receive the notifications addressed to you",
        description="Show new notifications, or append them to a JSON Lines file. Only "
                    "notifications signed by the hub and addressed to you are shown, each once; "
                    "anything else is refused and kept with its reason in refused.jsonl. "
                    "Personal details and case files you asked for are decrypted with your "
                    "encryption key and shown (or written) with their notification.",
    )
    parser.add_argument("--follow", action="store_true",
                        help="keep waiting for new notifications (Ctrl-C to stop)")
    parser.add_argument("--jsonl", type=Path, metavar="OUT",
                        help="append notifications to this JSON Lines file instead of showing")
    parser.add_argument("--idle", type=float, default=3.0,
                        help="without --follow: stop after this many quiet seconds (default 3)")
    add_config_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print or append each new notification once, opening sealed details with this unit's key."""
    config = config_from(args)
    store = DeliveredStore(config.inbox_path)
    # Hits name alerts and places: the file is readable by this participant only.
    out = open_private_append(args.jsonl) if args.jsonl else None

    keys: list[EncryptionKey] = []

    def opened(note: Notification) -> dict[str, Any]:
        kind = note.body.get("event_type")
        if kind not in (DETAILS_KIND, CASE_FILE_KIND):
            return note.body
        opener = open_details if kind == DETAILS_KIND else open_case_file
        try:
            if not keys:
                keys.append(EncryptionKey.load(config.encryption_key_file))
            details: Any = opener(note, keys[0], config.participant_id)
        except (KeyFileError, SealError) as err:
            details = {"error": f"cannot decrypt this: {err}"}
        return {**note.body, "details": details}

    def deliver(note: Notification) -> None:
        shown = opened(note)
        if out is None:
            print(note.line(), flush=True)
            if "details" in shown:
                print(json.dumps(shown["details"], ensure_ascii=False, indent=2), flush=True)
            return
        out.write(json.dumps(shown, ensure_ascii=False) + "\n")
        out.flush()
        # On disk before the id is remembered as delivered: a crash may repeat, never lose.
        os.fsync(out.fileno())

    try:
        summary = receive(config, store, deliver, follow=args.follow, idle_s=args.idle)
    finally:
        if out is not None:
            out.close()
        store.close()
    line = f"{summary.delivered} new notifications" + (
        f" written to {args.jsonl}" if args.jsonl else "")
    if summary.refused_total:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(summary.refused.items()))
        line += (f"; {summary.refused_total} refused, not shown ({reasons}); see "
                 f"{config.refused_path}")
    say(line)
    return 0
