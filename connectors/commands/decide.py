"""hub-connector decide: a police unit's decision on a match, as a signed event."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from connectors.inbox import DeliveredStore
from connectors.runtime import add_config_argument, config_from, match_id_of, publish_now, say
from hub.errors import ConnectorError

DECISIONS = {"confirm": "CONFIRMED", "reject": "REJECTED", "need-info": "NEED_INFO"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `decide MATCH_ID confirm|reject|need-info` to the hub-connector parser."""
    parser = subparsers.add_parser(
        "decide", help="confirm or reject a match notification, or ask for more information",
        description="Publish a signed match-decision event through the outbox.",
    )
    parser.add_argument("match_id", metavar="MATCH_ID", help="match id from the notification")
    parser.add_argument("decision", choices=sorted(DECISIONS), help="your decision")
    parser.add_argument("--alert-id",
                        help="the alert the match is about (default: from the notification "
                             "in your inbox)")
    parser.add_argument("--note", default="", help="a note for the hub and the other side")
    add_config_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Publish a signed match-decision; its alert is read from the inbox unless given."""
    match_id = match_id_of(args.match_id)
    config = config_from(args)
    alert_id = args.alert_id
    if alert_id is None:
        store = DeliveredStore(config.inbox_path)
        try:
            alert_id = store.alert_for_match(match_id)
        finally:
            store.close()
        if alert_id is None:
            raise ConnectorError(
                f"match {match_id} is not in your inbox; run `hub-connector inbox` first "
                "or give the alert with --alert-id"
            )
    payload = {
        "match_id": match_id,
        "alert_id": alert_id,
        "decision": DECISIONS[args.decision],
        "note": args.note,
        "deciding_unit": config.participant_id,
        "decided_at": datetime.now(UTC),
    }
    sequence, state = publish_now(config, "match-decision", payload, f"decide {match_id}")
    say(f"decision {DECISIONS[args.decision]} on match {match_id}: sequence {sequence}, {state}")
    return 0
