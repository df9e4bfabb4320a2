"""hubctl report: the joint office's evaluation report as HTML, PDF or CSV."""

from __future__ import annotations

import argparse
from pathlib import Path

from hub.config import load_settings
from hub.reports.suppression import DEFAULT_THRESHOLD
from ops.errors import ReportError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `report` to the hubctl parser."""
    parser = subparsers.add_parser(
        "report",
        help="stage evaluation report for the joint office (HTML, PDF or CSV)",
        description="Figures per province and in total, split by case type and woman / child, "
        "against a baseline period and the targets, with charts; computed from the "
        "projections, so a rebuild from the event store gives the same numbers. Small counts "
        "are hidden (with secondary suppression) for a report that leaves the hub.",
    )
    parser.add_argument("--from", dest="first", required=True, metavar="DATE",
                        help="first day of the period, e.g. 2025-01-01")
    parser.add_argument("--to", dest="last", required=True, metavar="DATE",
                        help="last day of the period (included)")
    parser.add_argument("--province", metavar="CODE", help="one province, e.g. 510000")
    parser.add_argument("--baseline-from", metavar="DATE", help="first day of the baseline")
    parser.add_argument("--baseline-to", metavar="DATE", help="last day of the baseline")
    parser.add_argument("--out", required=True, type=Path,
                        help="report.html, report.pdf or report.csv")
    parser.add_argument("--format", choices=("html", "pdf", "csv"),
                        help="overrides the format the --out name says (e.g. csv)")
    parser.add_argument("--suppress-below", type=int, default=DEFAULT_THRESHOLD, metavar="N",
                        help=f"hide counts from 1 to N-1 (default {DEFAULT_THRESHOLD}; "
                        "1 hides nothing, for use inside the hub only)")
    parser.set_defaults(handler=_report)


def _report(args: argparse.Namespace) -> int:
    # Imported here: matplotlib costs every other hubctl command a second at start-up.
    from ops.report.write import ReportRequest, format_of, period_of, report_from_database

    if (args.baseline_from is None) != (args.baseline_to is None):
        raise ReportError("give both --baseline-from and --baseline-to, or neither")
    if args.suppress_below < 1:
        raise ReportError(f"--suppress-below must be at least 1, not {args.suppress_below}")
    request = ReportRequest(
        period=period_of(args.first, args.last, "--from --to"),
        out=args.out,
        fmt=format_of(args.out, args.format),
        baseline=period_of(args.baseline_from, args.baseline_to, "--baseline-from --baseline-to")
        if args.baseline_from
        else None,
        province=args.province,
        threshold=args.suppress_below,
    )
    settings = load_settings()
    path = report_from_database(
        settings.pg_reader_dsn, request, f"database {settings.pg_database}"
    )
    print(f"report written to {path}")
    return 0
