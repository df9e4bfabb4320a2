"""hubctl audit: who asked for a case file or the details behind a hit, when, why, answer."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import UTC, datetime

import psycopg
from rich.console import Console
from rich.table import Table

from hub.config import load_settings
from hub.errors import HubError
from processors.pg_cases import AuditRow, audit_rows

_FIELDS = ("at", "kind", "subject", "requester", "outcome", "reason", "detail",
           "request_event_id")


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a date or time (ISO 8601, e.g. 2026-12-03 or 2026-12-03T14:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `audit [filters] [--format]` to the hubctl parser."""
    parser = subparsers.add_parser(
        "audit", help="case-file reads and details requests, granted or refused",
        description="List the append-only audit of requests for personal data: case files "
                    "(`hub-connector case`) and the details behind hits (`hub-connector "
                    "details`), each with who asked, when, about which case or match, the "
                    "reason given, the outcome and why. Oldest first; filters combine. Times "
                    "without a zone are UTC.",
    )
    parser.add_argument("--unit", metavar="U", help="requests of this participant only")
    parser.add_argument("--case", metavar="C", help="case-file requests for this case only")
    parser.add_argument("--match", metavar="M", help="details requests for this match only")
    parser.add_argument("--since", metavar="T", type=_moment, help="at or after this time")
    parser.add_argument("--until", metavar="T", type=_moment, help="before this time")
    parser.add_argument("--outcome", choices=("granted", "refused"), help="one outcome only")
    parser.add_argument("--limit", type=int, metavar="N", help="at most N rows")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table",
                        help="table (default), csv, or json (one object per line)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the audit rows that pass the filters."""
    if args.case and args.match:
        raise HubError("--case lists case-file reads and --match details requests; give one")
    settings = load_settings()
    try:
        with psycopg.connect(settings.pg_reader_dsn) as conn, conn.cursor() as cur:
            rows = audit_rows(
                cur, unit=args.unit, case=args.case, match=args.match, since=args.since,
                until=args.until, outcome=args.outcome.upper() if args.outcome else None,
                limit=args.limit,
            )
    except psycopg.OperationalError as err:
        raise HubError(f"PostgreSQL at {settings.pg_host}:{settings.pg_port} is not "
                       f"reachable: {err}") from err
    if args.format == "json":
        for row in rows:
            print(json.dumps(_record(row), ensure_ascii=False))
    elif args.format == "csv":
        out = csv.DictWriter(sys.stdout, fieldnames=_FIELDS)
        out.writeheader()
        out.writerows(_record(row) for row in rows)
    else:
        _table(rows)
    return 0


def _record(row: AuditRow) -> dict[str, str]:
    return {"at": row.at.isoformat(), "kind": row.kind, "subject": row.subject,
            "requester": row.requester, "outcome": row.outcome, "reason": row.reason,
            "detail": row.detail, "request_event_id": row.request_event_id}


def _table(rows: list[AuditRow]) -> None:
    # Pipes and files get a fixed width: rich would fold the columns to 80.
    console = Console(width=None if sys.stdout.isatty() else 180)
    if not rows:
        console.print("no audit rows match")
        return
    table = Table(title=f"audit: {len(rows)} requests")
    for name in ("at (UTC)", "kind", "case / match", "unit", "outcome", "reason", "why"):
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(f"{row.at.astimezone(UTC):%Y-%m-%d %H:%M:%S}", row.kind, row.subject,
                      row.requester, row.outcome, row.reason, row.detail)
    console.print(table)
