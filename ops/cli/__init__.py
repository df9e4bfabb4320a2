"""hubctl: the hub operator's command."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hub.errors import HubError

# Each module registers its own sub-commands with `register(subparsers)`.
COMMAND_MODULES: tuple[str, ...] = (
    "services",
    "topics",
    "db",
    "schemas",
    "registry",
    "pipeline",
    "match",
    "matches",
    "demo",
    "bench",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hubctl",
        description="Run and watch the exchange hub: services, topics, registry, pipeline.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(f"ops.cli.{name}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except HubError as err:
        print(f"hubctl: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
