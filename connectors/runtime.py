"""What the hub-connector sub-commands share: the --config option and opening the publisher."""

from __future__ import annotations

import argparse
import sys
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from connectors.config import DEFAULT_CONFIG, ConnectorConfig, load_config
from connectors.outbox import Outbox
from connectors.publisher import Publisher
from connectors.transport import HubUnreachableError, KafkaSender
from hub.errors import ConfigError, ConnectorError
from hub.keys import SigningKey
from hub.schema_catalog import SchemaCatalog


def add_config_argument(parser: argparse.ArgumentParser) -> None:
    """Give a sub-command the --config option shared by all of them."""
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG,
        help=f"connector configuration file (default: ./{DEFAULT_CONFIG})",
    )


def config_from(args: argparse.Namespace) -> ConnectorConfig:
    """Load the connector configuration named by --config (ConfigError says what is wrong)."""
    return load_config(Path(args.config))


def say(message: str) -> None:
    """A progress or summary line for the person running the command (on stderr)."""
    print(message, file=sys.stderr, flush=True)


def connect(config: ConnectorConfig) -> KafkaSender | None:
    """A sender, or None (with a plain message) when the hub cannot be reached now."""
    try:
        return KafkaSender(
            config.kafka, config.ingest_topic, config.participant_id,
            connect_timeout_s=config.connect_timeout_s,
            delivery_timeout_s=config.delivery_timeout_s,
        )
    except (HubUnreachableError, ConfigError) as err:
        # Not reachable or not joined yet: events stay in the outbox for a later send.
        say(f"hub-connector: {err}")
        return None


@contextmanager
def open_publisher(config: ConnectorConfig, *, send: bool = True) -> Iterator[Publisher]:
    """A Publisher with its key, outbox and (if reachable and wanted) a connected sender."""
    key = SigningKey.load(config.key_file)
    catalog = SchemaCatalog.load()
    outbox = Outbox(config.outbox_path)
    sender = connect(config) if send else None
    try:
        yield Publisher(config, catalog, key, outbox, sender)
    finally:
        if sender is not None:
            sender.close()
        outbox.close()


def start_sending(publisher: Publisher) -> int:
    """Queue every event already pending in the outbox (earlier runs); returns how many."""
    if publisher.sender is None:
        return 0
    # send() stops at the first refusal (sender.blocked); the rest stays pending.
    return publisher.sender.send(publisher.outbox.iter_pending())


def finish_sending(publisher: Publisher) -> tuple[int, int]:
    """Wait for acknowledgements of everything queued: (acknowledged this run, still pending)."""
    sender = publisher.sender
    if sender is None:
        return 0, publisher.outbox.stats().pending
    sender.flush(publisher.config.delivery_timeout_s)
    _, failed = sender.collect(publisher.outbox)
    if sender.blocked:
        say(f"hub-connector: {sender.blocked}; events stay pending in the outbox")
    if failed:
        say(f"hub-connector: {len(failed)} sends failed, last: {failed[-1][1]}; "
            "those events stay pending and are sent by the next publish, send or watch")
    return sender.total_acked, publisher.outbox.stats().pending


def match_id_of(text: str) -> str:
    """A match id as given on the command line, checked to be a UUID."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise ConnectorError(f"{text!r} is not a match id (a UUID)") from None


def publish_now(
    config: ConnectorConfig, event_type: str, payload: Mapping[str, object], what: str
) -> tuple[int, str]:
    """Sign one event, keep it in the outbox and send it: (its sequence, sent or pending)."""
    with open_publisher(config) as publisher:
        sequence = publisher.publish_one(event_type, dict(payload), what)
        _, pending = finish_sending(publisher)
    return sequence, "sent" if pending == 0 else "stored, pending (the hub is not reachable now)"
