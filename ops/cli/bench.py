"""hubctl bench: runs `python -m bench`, the benchmarks of bench/ and their one table.

bench/ sits above every layer (it drives connectors, workers and services), so hubctl starts
it as a program instead of importing it; its own --help lists the benchmarks.
"""

from __future__ import annotations

import argparse
import subprocess
import sys


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `bench` to the hubctl parser."""
    parser = subparsers.add_parser(
        "bench",
        help="run the benchmarks and print one table: figure, same-run limit or peer, ratio",
        description="Runs the benchmarks of bench/ one after the other (each one's own output "
                    "goes to <data dir>/bench/<name>.log) and prints one table, by running "
                    "`python -m bench` with these arguments.",
    )
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes: a few minutes in all instead of a quarter hour; the "
                           "backfill is left out unless named with --only")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only this benchmark (repeatable): envelope, connector, "
                             "pipeline, stages, security, matching, match-workers, "
                             "match-latency, splink, splink-batch, febrl4, console, backfill "
                             "(not in --quick unless "
                             "named) "
                             "(`python -m bench --help` has the list the runner knows)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    passed = ["--quick"] if args.quick else []
    for name in args.only:
        passed += ["--only", name]
    return subprocess.run([sys.executable, "-m", "bench", *passed], check=False).returncode
