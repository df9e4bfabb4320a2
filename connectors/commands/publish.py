"""hub-connector publish: rows of CSV, JSON Lines or Excel files become signed events."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from connectors.publisher import Publisher, PublishReport
from connectors.runtime import (
    add_config_argument,
    config_from,
    finish_sending,
    open_publisher,
    say,
    start_sending,
)

_PROGRESS_MIN_BYTES = 256 * 1024


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `publish FILE... --type EVENT_TYPE` to the hub-connector parser."""
    parser = subparsers.add_parser(
        "publish",
        help="publish the rows of CSV / JSON Lines / Excel files as events",
        description=(
            "Each row is mapped to the event type's fields, checked, signed and stored in the "
            "local outbox, then sent. Rows that cannot be published go to <file>.rejects.csv "
            "with their row number, field and reason. Rows already published are skipped."
        ),
    )
    parser.add_argument("--type", required=True, dest="event_type",
                        help="event type of the rows, e.g. migrant-record")
    parser.add_argument("--mapping", type=Path,
                        help="your own column mapping (TOML); default: the built-in one")
    parser.add_argument("--no-send", action="store_true",
                        help="only store the events in the outbox; send them later")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument(
        "--workers", type=_workers, default=0, metavar="N",
        help="convert rows in N extra processes while this one signs and sends (default 0; "
             "helps only when cores are idle)",
    )
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE")
    add_config_argument(parser)
    parser.set_defaults(handler=run)


def _workers(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = -1
    if not 0 <= count <= 64:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes from 0 to 64")
    return count


def _line_estimate(path: Path) -> int | None:
    if path.suffix.lower() not in (".csv", ".tsv", ".txt", ".jsonl", ".ndjson"):
        return None
    count = 0
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            count += chunk.count(b"\n")
    return count


def publish_with_progress(
    publisher: Publisher, path: Path, event_type: str, mapping: Path | None, quiet: bool,
    workers: int = 0,
) -> PublishReport:
    """Publish one file, with a progress bar for large files on a terminal."""
    show = (not quiet and sys.stderr.isatty() and path.is_file()
            and path.stat().st_size >= _PROGRESS_MIN_BYTES)
    if not show:
        return publisher.publish_file(path, event_type, mapping_path=mapping, workers=workers)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), transient=True) as progress:
        task = progress.add_task(path.name, total=_line_estimate(path))
        return publisher.publish_file(
            path, event_type, mapping_path=mapping, workers=workers,
            on_row=lambda number: progress.update(task, completed=number),
        )


def describe(report: PublishReport) -> None:
    """Print what happened to one file, in plain words."""
    if report.file_error:
        say(f"{report.path}: NOT PUBLISHED: {report.file_error}")
        return
    for note in report.header_notes:
        say(f"{report.path}: {note}")
    if report.unused_columns:
        say(f"{report.path}: columns not used: {', '.join(report.unused_columns)}")
    say(f"{report.path}: {report.rows} rows: {report.stored} new events, "
        f"{report.already} already published, {report.rejected} rejected")
    if report.rejects_path:
        say(f"{report.path}: rejected rows and reasons are in {report.rejects_path}")


def run(args: argparse.Namespace) -> int:
    """Convert, sign and send every row of the files; 1 when any row or file was rejected."""
    config = config_from(args)
    reports = []
    with open_publisher(config, send=not args.no_send) as publisher:
        start_sending(publisher)
        for path in args.files:
            report = publish_with_progress(publisher, path, args.event_type, args.mapping,
                                           args.quiet, args.workers)
            describe(report)
            reports.append(report)
        sent, pending = finish_sending(publisher)
    rejected = sum(r.rejected for r in reports)
    failed_files = sum(1 for r in reports if r.file_error)
    say(f"summary: sent {sent}, rejected {rejected}, pending {pending}"
        + (f", files not readable {failed_files}" if failed_files else ""))
    if pending:
        say("pending events are kept in the outbox; `hub-connector send` sends them")
    return 1 if (rejected or failed_files) else 0
