"""hub-connector: the partner's command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hub import commandline

# Each module registers its own sub-commands with `register(subparsers)`.
COMMAND_MODULES: tuple[str, ...] = (
    "init",
    "join",
    "publish",
    "send",
    "watch",
    "inbox",
    "decide",
    "ack",
    "details",
    "case",
    "status",
    "keygen",
)


def build_parser() -> argparse.ArgumentParser:
    """The hub-connector parser with every sub-command of COMMAND_MODULES registered."""
    return commandline.build_parser(
        "hub-connector",
        "Publish your events to the exchange hub and receive your notifications.",
        "connectors.commands",
        COMMAND_MODULES,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run hub-connector with `argv` (default: the command line); returns the exit status."""
    return commandline.run(build_parser(), argv)
