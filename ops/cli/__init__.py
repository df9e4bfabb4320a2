"""hubctl: the hub operator's command."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from hub import commandline

# Each module registers its own sub-commands with `register(subparsers)`.
COMMAND_MODULES: tuple[str, ...] = (
    "services",
    "topics",
    "db",
    "schemas",
    "registry",
    "pipeline",
    "match",
    "dna",
    "matches",
    "report",
    "demo",
    "drill",
    "bench",
    "console",
    "audit",
    "atrest",
)


def build_parser() -> argparse.ArgumentParser:
    """The hubctl parser with every sub-command of COMMAND_MODULES registered."""
    return commandline.build_parser(
        "hubctl",
        "Run and watch the exchange hub: services, topics, registry, pipeline.",
        "ops.cli",
        COMMAND_MODULES,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run hubctl with `argv` (default: the command line); returns the exit status."""
    return commandline.run(build_parser(), argv)
