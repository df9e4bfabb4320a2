"""hub-connector case: read a rescued person's case file (entitled units only, audited)."""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import UTC, datetime

from connectors.casefile import await_answer, open_case_file
from connectors.runtime import add_config_argument, config_from, finish_sending, open_publisher, say
from hub.case_file import CASE_FILE_KIND, case_file_lines
from hub.errors import ConnectorError
from hub.limits import storable_text
from hub.sealing import EncryptionKey

_WAIT_S = 60.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `case CASE_ID [--reason] [--json] [--wait S]` to the hub-connector parser."""
    parser = subparsers.add_parser(
        "case", help="read a rescued person's case file (audited)",
        description="Publish a signed case-request for the case file of a rescue notice (its "
                    "rescue id): the notice, its follow-ups, the hits on it and their "
                    "decisions. The hub lets civil affairs and police of the province of rescue "
                    "read it, and those of the province of origin once a hit is confirmed; it "
                    "writes every request, granted or refused, with your reason to its audit "
                    "log, and seals the file to your encryption key alone. This command waits "
                    "for the answer and prints the opened file, or why it was refused.",
    )
    parser.add_argument("case_id", metavar="CASE_ID", help="the rescue notice's rescue id")
    parser.add_argument("--reason", default="",
                        help="why you need the case file (kept in the hub's audit log)")
    parser.add_argument("--json", action="store_true",
                        help="print the opened case file as JSON instead of text")
    parser.add_argument("--wait", type=float, default=_WAIT_S, metavar="SECONDS",
                        help=f"how long to wait for the hub's answer (default {_WAIT_S:.0f})")
    add_config_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Request, wait, print: 0 when the file was opened, 1 when refused, 2 when no answer came."""
    case_id = str(args.case_id).strip()
    if not case_id:
        raise ConnectorError("CASE_ID must name a case (the rescue notice's rescue id)")
    if storable_text(case_id) != case_id:
        raise ConnectorError(f"{args.case_id!r} is not a case id the hub can store")
    config = config_from(args)
    if not config.encryption_key_file.exists():
        raise ConnectorError(
            f"no encryption key at {config.encryption_key_file}: the case file could not be "
            "decrypted here; create one with `hub-connector keygen` and have the hub operator "
            "register it"
        )
    key = EncryptionKey.load(config.encryption_key_file)
    payload = {
        "request_id": uuid.uuid4(),
        "case_id": case_id,
        "reason": str(args.reason).strip(),
        "requesting_unit": config.participant_id,
        "requested_at": datetime.now(UTC),
    }
    with open_publisher(config) as publisher:
        sequence, event_id = publisher.publish_one_event("case-request", payload,
                                                         f"case {case_id}")
        _, pending = finish_sending(publisher)
    if pending:
        say(f"case file {case_id} requested (sequence {sequence}), but the hub is not reachable "
            "now: the request waits in the outbox; `hub-connector send`, then `hub-connector "
            "inbox` receives the answer")
        return 2
    say(f"case file {case_id} requested (sequence {sequence}); waiting for the hub's answer")
    note = await_answer(config, event_id, args.wait)
    if note is None:
        say(f"no answer within {args.wait:.0f} s; `hub-connector inbox` shows it when it comes")
        return 2
    payload_in = note.body["payload"]
    if note.body.get("event_type") != CASE_FILE_KIND:
        say(f"case file {case_id} refused: {payload_in.get('reason')}: "
            f"{payload_in.get('detail')}")
        return 1
    content = open_case_file(note, key, config.participant_id)
    if args.json:
        print(json.dumps(content, ensure_ascii=False, indent=2, sort_keys=True))
    else:
        print("\n".join(case_file_lines(content)))
    return 0
