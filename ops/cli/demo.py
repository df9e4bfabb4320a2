"""hubctl demo: services, processors, demo participants, data, and hits flowing, in one go."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from hub.config import load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `demo` to the hubctl parser."""
    parser = subparsers.add_parser(
        "demo",
        help="bring the whole exchange up with demo participants and show hits flowing",
        description=(
            "Starts Kafka, PostgreSQL and a pipeline worker, registers police, migrant-registry "
            "and civil-affairs participants of seven provinces, publishes generated data through "
            "real hub-connector processes (with a few bad rows and one tampered event on "
            "purpose) and shows a live summary. Each run uses a fresh topic prefix and database "
            "and retires the previous run's; the services keep running afterwards."
        ),
    )
    parser.add_argument("--size", default="medium",
                        help="small (150 persons), medium (600, default), large (3000) or a number")
    parser.add_argument("--seed", type=int, default=2026, help="generator seed (default 2026)")
    parser.add_argument("--keep-going", action="store_true",
                        help="report a failed step and carry on with the others instead of "
                             "stopping at the first one")
    parser.add_argument("--root", type=Path,
                        help="folder for the demo's participants (default: <data dir>/demo)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from ops.demo import Demo, default_root, where_next
    from ops.demo.dataset import parse_size

    try:
        size = parse_size(args.size)
    except ValueError as err:
        raise SystemExit(f"hubctl demo: {err}") from None
    settings = load_settings()
    # Log files and pipes get a fixed width: rich would fold the tables to 80 columns.
    console = Console() if sys.stdout.isatty() else Console(width=120)
    outcome = Demo(settings, args.root or default_root(settings), size, args.seed,
                   keep_going=args.keep_going, console=console).run()
    for line in where_next(outcome.run, console_login=outcome.console_login):
        console.print(line, markup=False, highlight=False)
    if outcome.failed_jobs:
        console.print(f"{len(outcome.failed_jobs)} step(s) failed, see above", style="red")
        return 1
    return 0
