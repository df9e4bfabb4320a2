"""`python -m bench` (also `hubctl bench`): every benchmark of bench/, one table of figures
against same-run limits."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from bench import runner
from hub.config import load_settings


def parser() -> argparse.ArgumentParser:
    made = argparse.ArgumentParser(
        prog="hubctl bench",
        description="Runs the benchmarks of bench/ one after the other (each one's own output "
                    "goes to <data dir>/bench/<name>.log) and prints one table: figure, "
                    "same-run limit or peer, ratio.",
    )
    made.add_argument("--quick", action="store_true",
                      help="smaller sizes: a few minutes in all instead of a quarter hour; the "
                           "backfill is left out unless named with --only")
    made.add_argument("--only", action="append", choices=list(runner.BENCHES), metavar="NAME",
                      help=f"run only this benchmark (repeatable): {', '.join(runner.BENCHES)}")
    return made


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    only = args.only or []
    names = [n for n in runner.BENCHES if n in only
             or (not only and not (args.quick and n in runner.FULL_ONLY))]
    settings = load_settings()
    console = Console() if sys.stdout.isatty() else Console(width=140)
    with console.status("running " + ", ".join(names)):
        figures = runner.run(names, args.quick, settings.data_dir / "bench")
    table = Table(title=f"hubctl bench{' --quick' if args.quick else ''}, {runner.stamp()}",
                  caption=runner.machine())
    for column in ("benchmark", "figure", "value", "limit or peer (same run)", "peer value",
                   "ratio", "verdict / note"):
        table.add_column(column, justify="right" if column in ("value", "peer value", "ratio")
                         else "left")
    for f in figures:
        ratio = "-" if f.ratio is None else f"{f.ratio:.3f}"
        verdict = f.verdict + (f" (limit {f.limit:g})" if f.limit is not None else "")
        table.add_row(f.bench, f.name, runner.format_value(f.value, f.unit), f.peer or "-",
                      runner.format_value(f.peer_value, f.unit) if f.peer else "-", ratio,
                      (verdict + " " + f.note).strip())
    console.print(table)
    failed = [f for f in figures if f.name == "did not run" or f.verdict == "OVER"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
