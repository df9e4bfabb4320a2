"""hub-connector ack: acknowledge a hit, as a signed event (stops its escalation)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from connectors.runtime import add_config_argument, config_from, match_id_of, publish_now, say


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `ack MATCH_ID [--note]` to the hub-connector parser."""
    parser = subparsers.add_parser(
        "ack", help="acknowledge a match notification before its reply deadline",
        description="Publish a signed match-ack event through the outbox. Only a unit the hub "
                    "notified of the match may acknowledge it; a hit not acknowledged by its "
                    "reply deadline is escalated to the provincial police headquarters.",
    )
    parser.add_argument("match_id", metavar="MATCH_ID", help="match id from the notification")
    parser.add_argument("--note", default="", help="a note for the hub")
    add_config_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Publish a signed match-ack for the match; 0 once it is sent or kept pending in the outbox."""
    match_id = match_id_of(args.match_id)
    config = config_from(args)
    payload = {
        "match_id": match_id,
        "acknowledging_unit": config.participant_id,
        "acknowledged_at": datetime.now(UTC),
        "note": args.note,
    }
    sequence, state = publish_now(config, "match-ack", payload, f"ack {match_id}")
    say(f"acknowledged match {match_id}: sequence {sequence}, {state}")
    return 0
