"""hubctl processors | rebuild | replay | quarantine | status: running and watching the pipeline."""

from __future__ import annotations

import argparse
import time
from datetime import datetime, timedelta
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from hub.config import load_settings
from hub.errors import HubError
from hub.projections import CATALOG
from hub.reasons import RejectReason

console = Console()
# Every rejection reason, for the --reason choices.
REJECT_REASONS = [str(r) for r in RejectReason]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `processors`, `rebuild`, `replay`, `quarantine` and `status` to the hubctl parser."""
    proc = subparsers.add_parser("processors", help="start, stop or list pipeline workers")
    actions = proc.add_subparsers(dest="action", metavar="ACTION", required=True)
    start = actions.add_parser("start", help="start detached Faust workers (no-op if running)")
    start.add_argument("--workers", type=int, default=1, help="how many workers (default 1)")
    start.add_argument("--batch", type=int, default=500, help="messages per transaction")
    start.set_defaults(handler=_start)
    actions.add_parser("stop", help="stop every worker").set_defaults(handler=_stop)
    listing = actions.add_parser("status", help="list workers, their logs and stuck stages")
    _stuck_after_option(listing)
    listing.set_defaults(handler=_list)

    rebuild = subparsers.add_parser(
        "rebuild", help="empty projections and rebuild them from the event store"
    )
    rebuild.add_argument(
        "projection",
        nargs="*",
        help=f"projections to rebuild: {', '.join(CATALOG.names)} (default: all)",
    )
    rebuild.add_argument(
        "--match-index",
        action="store_true",
        help="also empty the match index and feed every stored event through matching again "
        "(stop the workers first); decisions and hits already notified are kept",
    )
    rebuild.set_defaults(handler=_rebuild)

    replay = subparsers.add_parser(
        "replay", help="re-feed messages from the Kafka log into the pipeline"
    )
    start_at = replay.add_mutually_exclusive_group(required=True)
    start_at.add_argument("--from-offset", type=int, help="first offset, in every partition")
    start_at.add_argument("--from-time", type=_iso_time, help="ISO time with zone")
    replay.add_argument("--topic", choices=["ingest", "registry"], default="ingest")
    replay.add_argument("--partition", type=int, action="append", help="only these partitions")
    replay.set_defaults(handler=_replay)

    quarantine = subparsers.add_parser("quarantine", help="rejected events: list, show, retry")
    q = quarantine.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = q.add_parser("list", help="quarantine entries, oldest first")
    listing.add_argument("--reason", choices=REJECT_REASONS)
    listing.add_argument("--status", choices=["open", "retried", "resolved"])
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(handler=_q_list)
    show = q.add_parser("show", help="one entry with its envelope header")
    show.add_argument("id", type=int)
    show.set_defaults(handler=_q_show)
    retry = q.add_parser("retry", help="re-drive an entry, or every open entry of a reason")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("id", type=int, nargs="?")
    which.add_argument("--reason", choices=REJECT_REASONS)
    retry.set_defaults(handler=_q_retry)

    status = subparsers.add_parser("status", help="rates, lag, publishers, quarantine, rows")
    status.add_argument("--watch", action="store_true", help="refresh live until Ctrl-C")
    status.add_argument("--interval", type=float, default=2.0, help="seconds between refreshes")
    _stuck_after_option(status)
    status.set_defaults(handler=_status)


def _stuck_after_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stuck-after",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="a stage not moving this long while input waits is STUCK (default 60)",
    )


def _iso_time(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not an ISO time: {text!r}") from err
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone (add +08:00 or Z)")
    return value


def _start(args: argparse.Namespace) -> int:
    from hub.topics import topic_name
    from processors.app import load_anchor
    from processors.supervisor import start_workers, supervisor_pid, worker_dir
    from processors.topic_admin import list_topics

    settings = load_settings()
    load_anchor(settings)  # fail here, not in a detached process nobody watches
    present = {t.name for t in list_topics(settings)}
    needed = [topic_name(settings, s) for s in ("ingest", "registry", "verified", "quarantine")]
    missing = [n for n in needed if n not in present]
    if missing:
        raise HubError(f"topics missing: {', '.join(missing)}; run `hubctl topics apply` first")
    started = start_workers(settings, args.workers, batch=args.batch)
    console.print(
        f"supervisor: pid {supervisor_pid(settings)}, log {worker_dir(settings) / 'supervisor.log'}"
    )
    for info in started:
        state = f"pid {info.pid}" if info.running else "not running"
        console.print(f"worker {info.number}: {state}, log {info.log_file}")
    return 0


def _stop(args: argparse.Namespace) -> int:
    from processors.supervisor import stop_workers

    for line in stop_workers(load_settings()):
        console.print(line)
    return 0


def _list(args: argparse.Namespace) -> int:
    from processors.health import stuck_now
    from processors.supervisor import supervisor_pid, workers

    settings = load_settings()
    found = workers(settings)
    supervisor = supervisor_pid(settings)
    if found or supervisor is not None:
        state = "not running" if supervisor is None else f"running, pid {supervisor}"
        console.print(f"supervisor: {state}")
    for info in found:
        state = f"running, pid {info.pid}" if info.running else "not running"
        console.print(f"worker {info.number}: {state}, log {info.log_file}")
    if not found:
        console.print("no workers started")
    # A worker that runs may still be stuck (one batch retried for ever): say so.
    try:
        stuck = stuck_now(settings, timedelta(seconds=args.stuck_after))
    except HubError as err:
        console.print(f"[red]stuck stages not checked: {err}[/red]")
        return 1
    for s in stuck:
        console.print(f"[red]{s.describe()}[/red]")
    healthy = found and all(i.running for i in found) and supervisor is not None
    return 0 if healthy and not stuck else 1


def _rebuild(args: argparse.Namespace) -> int:
    from processors.operations import rebuild_projections

    began = time.monotonic()
    applied, checksums = rebuild_projections(load_settings(), args.projection or None)
    console.print(
        f"rebuilt from the event store: {applied} applications in {time.monotonic() - began:.1f}s"
    )
    for table, digest in checksums.items():
        console.print(f"  {table:32} sha256 {digest[:16]}")
    if args.match_index:
        from processors.operations import rebuild_match_index

        began = time.monotonic()
        fed = rebuild_match_index(
            load_settings(), progress=lambda n: console.print(f"  match index: {n} events fed")
        )
        console.print(f"match index rebuilt from {fed} events in {time.monotonic() - began:.1f}s")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from processors.operations import replay

    counts = replay(
        load_settings(),
        from_offset=args.from_offset,
        from_time=args.from_time,
        topic=args.topic,
        partitions=args.partition,
    )
    total = sum(counts.values())
    detail = ", ".join(f"p{p}: {n}" for p, n in sorted(counts.items()))
    console.print(f"re-published {total} messages of {args.topic} ({detail})")
    return 0


def _q_list(args: argparse.Namespace) -> int:
    from hub.store import QuarantineStatus
    from processors.pg_store import PgEventStore

    store = PgEventStore(load_settings().pg_dsn)
    status = QuarantineStatus(args.status) if args.status else None
    reason = RejectReason(args.reason) if args.reason else None
    entries = store.quarantined(reason=reason, status=status)
    store.close()
    table = Table("id", "received", "reason", "status", "publisher", "type", "detail")
    for e in entries[-args.limit :]:
        table.add_row(
            str(e.id),
            e.received_at.strftime("%Y-%m-%d %H:%M:%S"),
            e.reason,
            e.status.value,
            e.publisher_id or "-",
            e.event_type or "-",
            e.detail[:80],
        )
    console.print(table)
    console.print(
        f"{len(entries)} entries"
        + (f", last {args.limit} shown" if len(entries) > args.limit else "")
    )
    return 0


def _q_show(args: argparse.Namespace) -> int:
    from hub.envelope import decode_envelope
    from hub.errors import EnvelopeError
    from processors.pg_store import PgEventStore

    store = PgEventStore(load_settings().pg_dsn)
    entry = store.quarantine_entry(args.id)
    store.close()
    if entry is None:
        raise HubError(f"no quarantine entry {args.id}")
    lines = [
        f"id           {entry.id}",
        f"reason       {entry.reason}",
        f"detail       {entry.detail}",
        f"status       {entry.status.value} (retries {entry.retries}, last "
        f"{entry.retried_at.isoformat() if entry.retried_at else '-'})",
        f"received     {entry.received_at.isoformat()}",
        f"from         {entry.source_topic}[{entry.source_partition}]@{entry.source_offset}",
        f"bytes        {len(entry.wire)}",
    ]
    try:
        env = decode_envelope(entry.wire)
        lines += [
            f"event        {env.event_id} {env.event_type} v{env.schema_version}",
            f"publisher    {env.publisher_id} key {env.key_id} sequence {env.sequence}",
            f"published    {env.published_at.isoformat()}",
        ]
    except EnvelopeError as err:
        lines.append(f"envelope     not parseable: {err}")
    for line in lines:
        console.print(line, markup=False)
    return 0


def _q_retry(args: argparse.Namespace) -> int:
    from processors.operations import retry_quarantined

    reason = RejectReason(args.reason) if args.reason else None
    entries = retry_quarantined(load_settings(), entry_id=args.id, reason=reason)
    for e in entries:
        console.print(f"re-driven #{e.id} ({e.reason}) {e.event_type or ''} {e.event_id or ''}")
    console.print(
        f"{len(entries)} entries put back on the pipeline; watch `hubctl quarantine "
        "list --status resolved`"
    )
    return 0


def render(snap: Any) -> Group:
    """The status snapshot as rich tables."""
    topics = Table("topic", "messages", "msg/s", "lag", title="topics")
    for t in snap.topics:
        rate = "-" if t.rate is None else f"{t.rate:.1f}"
        topics.add_row(t.name, str(t.end_offset), rate, "-" if t.lag is None else str(t.lag))
    pubs = Table(
        "publisher",
        "last seq",
        "events",
        "gaps",
        "replays",
        "dups",
        "last seen",
        title=f"publishers ({snap.stored_events} events stored)",
    )
    for p in snap.publishers:
        pubs.add_row(
            p.publisher_id,
            str(p.last_sequence),
            str(p.events),
            str(p.gaps),
            str(p.replays),
            str(p.duplicates),
            p.last_seen_at.strftime("%H:%M:%S"),
        )
    quarantine = Table("reason", "status", "count", title="quarantine")
    for (reason, status), count in sorted(snap.quarantine.items()):
        quarantine.add_row(reason, status, str(count))
    rows = Table("projection table", "rows", title="projections")
    for name, count in snap.projections.items():
        rows.add_row(name, str(count))
    parts: list[Any] = [topics, pubs, quarantine, rows]
    if snap.dna_coverage:
        dna = Table("allele table", "DNA profiles", "not covered well", title="DNA profiles")
        for name, (profiles, unfit) in sorted(snap.dna_coverage.items()):
            dna.add_row(name, str(profiles), f"[yellow]{unfit}[/yellow]" if unfit else "0")
        parts.append(dna)
    if snap.projection_failures:
        parts.append(
            f"[yellow]{snap.projection_failures} events a projection could not apply "
            "(proj_applied.failure)[/yellow]"
        )
    parts += snap.workers or ["no pipeline workers started from this data directory"]
    parts += [f"[red]{s.describe()}[/red]" for s in snap.stuck]
    parts += [f"[red]{p}[/red]" for p in snap.problems]
    return Group(*parts)


def _status(args: argparse.Namespace) -> int:
    from processors.operations import snapshot

    settings = load_settings()
    stuck_after = timedelta(seconds=args.stuck_after)
    if not args.watch:
        first = snapshot(settings, stuck_after=None)
        time.sleep(min(args.interval, 1.0))
        snap = snapshot(settings, first, stuck_after=stuck_after)
        console.print(render(snap))
        return 1 if snap.problems or snap.stuck else 0
    previous = snapshot(settings, stuck_after=stuck_after)
    with Live(render(previous), console=console, refresh_per_second=4) as live:
        while True:
            time.sleep(args.interval)
            current = snapshot(settings, previous, stuck_after=stuck_after)
            live.update(render(current))
            previous = current
