"""hub-connector status: outbox size, pending events, last sent sequence, hub, key."""

from __future__ import annotations

import argparse
import hashlib
import socket

from connectors.outbox import Outbox
from connectors.runtime import add_config_argument, config_from
from hub.keys import SigningKey


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `status [--timeout S]` to the hub-connector parser."""
    parser = subparsers.add_parser(
        "status", help="show the outbox, the connection to the hub and the key in use",
        description="Outbox size, pending events, last sent sequence number, whether the hub "
                    "answers (short timeout) and the fingerprint of this participant's key.",
    )
    parser.add_argument("--timeout", type=float, default=2.0,
                        help="seconds to wait for the hub (default 2)")
    add_config_argument(parser)
    parser.set_defaults(handler=run)


def hub_answers(bootstrap: str, timeout: float) -> tuple[bool, str]:
    """Whether any bootstrap address accepts a TCP connection within `timeout` seconds."""
    last = "no address given"
    for address in bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout):
                return True, f"{address.strip()} answers"
        except (OSError, ValueError) as err:
            last = f"{address.strip()}: {err}"
    return False, last


def run(args: argparse.Namespace) -> int:
    """Print the outbox figures, the key in use and whether the hub answers; 2 when it does not."""
    config = config_from(args)
    key = SigningKey.load(config.key_file)
    fingerprint = hashlib.sha256(key.public_key_bytes).hexdigest()
    with Outbox(config.outbox_path) as outbox:
        stats = outbox.stats()
    reachable, detail = hub_answers(config.hub_bootstrap, args.timeout)
    print(f"participant:        {config.participant_id} ({config.display_name})")
    print(f"key id:             {key.key_id}")
    print(f"key fingerprint:    SHA256:{fingerprint}")
    print(f"outbox:             {config.outbox_path}")
    print(f"events stored:      {stats.total}")
    print(f"pending:            {stats.pending}")
    last_sent = stats.last_sent_sequence if stats.last_sent_sequence is not None else "none"
    print(f"last sent sequence: {last_sent}")
    print(f"last sequence:      {stats.last_sequence or 'none'}")
    print(f"hub:                {'reachable' if reachable else 'NOT reachable'} ({detail})")
    return 0 if reachable else 2
