"""What hubctl and hub-connector share: sub-commands found by module, errors said in one line."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from hub.errors import HubError


def build_parser(
    prog: str, description: str, package: str, modules: Sequence[str]
) -> argparse.ArgumentParser:
    """A parser whose sub-commands each module `<package>.<name>` adds with `register()`."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules:
        importlib.import_module(f"{package}.{name}").register(subparsers)
    return parser


def run(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> int:
    """Run the chosen sub-command; the project's own errors become one plain line and exit 1."""
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except HubError as err:
        print(f"{parser.prog}: {err}", file=sys.stderr)
        return 1
    except OSError as err:
        if err.filename is None:
            raise
        # A file the command was told to use (or create) is not usable: say which and why,
        # without a traceback; the commands check the files they read first (hub.paths).
        print(f"{parser.prog}: {err.filename}: {err.strerror or err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
