"""hubctl services up|down|status: the hub's own Kafka broker and PostgreSQL."""

from __future__ import annotations

import argparse
import time

from hub.config import load_settings
from ops import services
from processors.supervisor import stop_all_workers


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `services up|down|status` to the hubctl parser."""
    parser = subparsers.add_parser(
        "services", help="start, stop or check the Kafka broker and PostgreSQL"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser(
        "up", help="start both (no-op when running), wait until they answer, migrate",
        description="Start the Kafka broker(s) and PostgreSQL unless they run, wait until each "
        "answers, and migrate the default database.",
    )
    up.add_argument(
        "--brokers", type=int, choices=(1, 3), default=None,
        help="Kafka brokers: 1, or a KRaft cluster of 3 on loopback (replication factor 3, "
        "min.insync.replicas 2) on HUB_KAFKA_PORT and the four ports after it; fixed when the "
        "log is first made (default: what the data dir holds, else 1)",
    )
    up.set_defaults(handler=_up)
    actions.add_parser(
        "down", help="stop the pipeline workers, then both services, cleanly"
    ).set_defaults(handler=_down)
    actions.add_parser(
        "status", help="report health of each broker and PostgreSQL; exit code 1 when any "
        "is unhealthy"
    ).set_defaults(handler=_status)


def _up(args: argparse.Namespace) -> int:
    settings = load_settings()
    began = time.monotonic()
    report = services.up(settings, brokers=args.brokers)
    for entry in report:
        print(entry.line())
    print(f"data in {settings.data_dir}; ready in {time.monotonic() - began:.1f}s")
    brokers = [entry for entry in report if entry.name.startswith("kafka")]
    if len(brokers) > 1:
        # Settings loaded from this data dir find the other brokers on their own (cluster.json).
        print(f"clients bootstrap from {', '.join(entry.address for entry in brokers)}")
    return 0


def _down(args: argparse.Namespace) -> int:
    settings = load_settings()
    for sentence in stop_all_workers(settings.data_dir):
        print(sentence)
    for sentence in services.down(settings):
        print(sentence)
    return 0


def _status(args: argparse.Namespace) -> int:
    report = services.status(load_settings())
    for entry in report:
        print(entry.line())
    return 0 if all(entry.healthy for entry in report) else 1
