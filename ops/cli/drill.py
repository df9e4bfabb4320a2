"""hubctl drill: hostile and careless messages at ingest, and what became of each."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from hub.config import load_settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `drill` to the hubctl parser."""
    parser = subparsers.add_parser(
        "drill",
        help="send poison, forged and foreign messages at a namespace of the running hub",
        description=(
            "Runs the outside probes of the hub's robustness checks against the running "
            "services, in a namespace of its own (topic prefix, database, operator key and one "
            "worker, all removed afterwards): NUL bytes in keys and text, a 1,000,000-byte "
            "message, random and byte-flipped messages, a forged retry header, another unit "
            "closing an alert, a decision on a match never found, a keyless resend. Prints per "
            "kind how many were tried, stored, quarantined and lost; exits 1 if any was lost "
            "or ended otherwise than it must."
        ),
    )
    parser.add_argument("--count", type=int, default=20,
                        help="messages per kind (default 20, at most 500)")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds to wait for the hub to settle (default 120)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> int:
    from ops.drill import Drill

    if not 1 <= args.count <= 500:
        raise SystemExit("hubctl drill: --count must be between 1 and 500")
    console = Console(width=max(Console().width, 130))
    report = Drill(load_settings(), count=args.count, timeout=args.timeout,
                   say=lambda line: console.print(line, markup=False, highlight=False)).run()
    table = Table("kind", "must be", "tried", "stored", "quarantined", "lost", "reasons",
                  title=f"drill, {report.seconds:.1f} s")
    for probe in report.probes:
        style = None if probe.as_expected and probe.lost == 0 else "red"
        table.add_row(probe.kind, probe.expected, str(len(probe.sent)), str(probe.stored),
                      str(probe.quarantined), str(probe.lost), ", ".join(sorted(probe.reasons)),
                      style=style)
    console.print(table)
    if not report.settled:
        console.print("the verify stage did not move past every probe in time", style="red")
    if not report.open_entries_kept:
        console.print("a forged retry header resolved a quarantine entry", style="red")
    return 0 if report.ok else 1
