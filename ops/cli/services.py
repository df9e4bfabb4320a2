"""hubctl services up|down|status: the hub's own Kafka broker and PostgreSQL."""

from __future__ import annotations

import argparse
import time

from hub.config import load_settings
from ops import services
from processors.supervisor import stop_all_workers


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "services", help="start, stop or check the Kafka broker and PostgreSQL"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser(
        "up", help="start both (no-op when running), wait until they answer, migrate"
    ).set_defaults(handler=_up)
    actions.add_parser(
        "down", help="stop the pipeline workers, then both services, cleanly"
    ).set_defaults(handler=_down)
    actions.add_parser(
        "status", help="report health; exit code 1 when either is unhealthy"
    ).set_defaults(handler=_status)


def _up(args: argparse.Namespace) -> int:
    settings = load_settings()
    began = time.monotonic()
    report = services.up(settings)
    for entry in report:
        print(entry.line())
    print(f"data in {settings.data_dir}; ready in {time.monotonic() - began:.1f}s")
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
