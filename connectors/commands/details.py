"""hub-connector details: ask the hub for the personal details behind a hit (audited)."""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime

from connectors.runtime import add_config_argument, config_from, match_id_of, publish_now, say
from hub.errors import ConnectorError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `details MATCH_ID --reason` to the hub-connector parser."""
    parser = subparsers.add_parser(
        "details", help="ask for the personal details behind a match (with a reason)",
        description="Publish a signed details-request event. The hub checks that you were "
                    "notified of the match, writes your request and reason to its audit log, "
                    "and sends the details encrypted to your encryption key alone; "
                    "`hub-connector inbox` decrypts and shows them.",
    )
    parser.add_argument("match_id", metavar="MATCH_ID", help="match id from the notification")
    parser.add_argument("--reason", required=True,
                        help="why you need the details (kept in the hub's audit log)")
    add_config_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Publish a signed details-request; refused without an encryption key to open the answer."""
    match_id = match_id_of(args.match_id)
    reason = str(args.reason).strip()
    if not reason:
        raise ConnectorError("--reason must say why you need the details; it is audited")
    config = config_from(args)
    if not config.encryption_key_file.exists():
        raise ConnectorError(
            f"no encryption key at {config.encryption_key_file}: the details could not be "
            "decrypted here; create one with `hub-connector keygen` and have the hub operator "
            "register it"
        )
    payload = {
        "request_id": uuid.uuid4(),
        "match_id": match_id,
        "reason": reason,
        "requesting_unit": config.participant_id,
        "requested_at": datetime.now(UTC),
    }
    sequence, state = publish_now(config, "details-request", payload, f"details {match_id}")
    say(f"details of match {match_id} requested: sequence {sequence}, {state}; "
        "run `hub-connector inbox` to receive them")
    return 0
