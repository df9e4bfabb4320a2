"""hub-connector send: send every event still pending in the outbox."""

from __future__ import annotations

import argparse

from connectors.runtime import (
    add_config_argument,
    config_from,
    finish_sending,
    open_publisher,
    say,
    start_sending,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `send` to the hub-connector parser."""
    parser = subparsers.add_parser(
        "send",
        help="send the events waiting in the outbox",
        description="Send every stored event not yet acknowledged by the hub, oldest first.",
    )
    add_config_argument(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Send what waits in the outbox; 2 while some is still pending."""
    config = config_from(args)
    with open_publisher(config) as publisher:
        queued = start_sending(publisher)
        sent, pending = finish_sending(publisher)
    say(f"summary: sent {sent} of {queued} pending, pending {pending}")
    return 0 if pending == 0 else 2
